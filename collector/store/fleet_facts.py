"""The fleet facts table: what every bundle says about devices, firmware and causes, indexed at ingest.

Portable SQL only (plain TEXT columns, ``CASE``, ``COUNT(DISTINCT …)``, ``INSERT … ON CONFLICT DO NOTHING``, no
SQLite-only functions) with ``?`` placeholders, so both backends run the same statements (migration 4 creates the
table on each). The functions take the store's connection (``Store._conn``, or the one ``Store._tx()`` yields).

Times are ISO 8601 in UTC with microseconds (``timespec="microseconds"``): text that sorts as time does, so the
weekly windows are plain comparisons that use the ``received_at`` index on both databases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from .backends import Connection

WEEK = timedelta(days=7)

SCHEMA = """
CREATE TABLE IF NOT EXISTS fleet_facts (
    bundle_id TEXT NOT NULL, household TEXT NOT NULL, received_at TEXT NOT NULL, signature TEXT NOT NULL,
    device_family TEXT NOT NULL, device_model TEXT NOT NULL, firmware TEXT NOT NULL,
    cause TEXT NOT NULL, known_issue TEXT NOT NULL,
    PRIMARY KEY (bundle_id, cause, known_issue));
CREATE INDEX IF NOT EXISTS fleet_facts_received ON fleet_facts(received_at);
"""


@dataclass(frozen=True)
class DeviceCause:
    """What a bundle's files say about one cause: the cause, and the device it concerns ("" = not named)."""

    cause: str = ""  # a RootCause value
    known_issue: str = ""  # a firmware profile's known issue id, for firmware_known_issue findings
    device_family: str = ""
    device_model: str = ""
    firmware: str = ""


@dataclass(frozen=True)
class FleetFact:
    """One row: a bundle's cause with the record's own facts. ``received_at`` is the collector's clock (a hub's
    clock may be wrong, e.g. after a power loss without a real-time clock)."""

    bundle_id: str
    household: str
    received_at: datetime
    signature: str  # the fault signature without its device part ("device_offline"), or the trigger kind
    found: DeviceCause


class FleetGrouping(StrEnum):
    """What the fleet counts households by."""

    SIGNATURE = "signature"
    FIRMWARE = "firmware"  # device family, model and firmware, with the cause
    KNOWN_ISSUE = "known_issue"


@dataclass(frozen=True)
class FleetRow:
    key: dict[str, str]  # the grouping's columns and their values
    households_this_week: int
    households_previous_week: int
    bundles_this_week: int

    @property
    def trend(self) -> int:
        return self.households_this_week - self.households_previous_week


@dataclass(frozen=True)
class FleetWeeks:
    """The two weeks compared: [previous_start, week_start) and [week_start, now]."""

    week_start: datetime
    previous_start: datetime

    @classmethod
    def ending(cls, now: datetime) -> FleetWeeks:
        return cls(now - WEEK, now - 2 * WEEK)


FACT_COLUMNS = ("bundle_id", "household", "received_at", "signature", *(f.name for f in fields(DeviceCause)))
INSERT = (
    f"INSERT INTO fleet_facts ({', '.join(FACT_COLUMNS)}) VALUES ({', '.join('?' for _ in FACT_COLUMNS)})"
    " ON CONFLICT DO NOTHING"
)
# Bundles with no facts yet: stored before the table existed, or a crash came between the record and its facts.
# Duplicates (the same fault sent twice) are never indexed: they would count nothing new.
UNINDEXED = (
    "SELECT b.* FROM bundles b WHERE b.duplicate_of IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM fleet_facts f WHERE f.bundle_id = b.bundle_id)"
    " ORDER BY b.received_at, b.bundle_id LIMIT ?"
)


GROUP_COLUMNS: dict[FleetGrouping, tuple[str, ...]] = {
    FleetGrouping.SIGNATURE: ("signature",),
    FleetGrouping.FIRMWARE: ("device_family", "device_model", "firmware", "cause"),
    FleetGrouping.KNOWN_ISSUE: ("known_issue",),
}
GROUP_FILTER: dict[FleetGrouping, str] = {
    FleetGrouping.SIGNATURE: "",
    FleetGrouping.FIRMWARE: " AND (device_model <> '' OR firmware <> '')",
    FleetGrouping.KNOWN_ISSUE: " AND known_issue <> ''",
}


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def insert_facts(conn: Connection, facts: Iterable[FleetFact]) -> None:
    for fact in facts:
        found = astuple(fact.found)
        conn.execute(INSERT, (fact.bundle_id, fact.household, utc_text(fact.received_at), fact.signature, *found))


def summary_sql(grouping: FleetGrouping) -> str:
    """One grouped query over the two weeks: households this week and the week before, bundles this week."""
    columns = ", ".join(GROUP_COLUMNS[grouping])
    return (
        f"SELECT {columns},"
        " COUNT(DISTINCT CASE WHEN received_at >= ? THEN household END) AS households_this_week,"
        " COUNT(DISTINCT CASE WHEN received_at < ? THEN household END) AS households_previous_week,"
        " COUNT(DISTINCT CASE WHEN received_at >= ? THEN bundle_id END) AS bundles_this_week"
        f" FROM fleet_facts WHERE received_at >= ?{GROUP_FILTER[grouping]}"
        f" GROUP BY {columns}"
        f" ORDER BY households_this_week DESC, households_previous_week DESC, {columns} LIMIT ?"
    )


def summary(conn: Connection, grouping: FleetGrouping, weeks: FleetWeeks, limit: int) -> list[FleetRow]:
    week, previous = utc_text(weeks.week_start), utc_text(weeks.previous_start)
    rows = conn.execute(summary_sql(grouping), (week, week, week, previous, limit)).fetchall()
    columns = GROUP_COLUMNS[grouping]
    return [
        FleetRow(
            key={column: row[index] for index, column in enumerate(columns)},
            households_this_week=row[len(columns)],
            households_previous_week=row[len(columns) + 1],
            bundles_this_week=row[len(columns) + 2],
        )
        for row in rows
    ]
