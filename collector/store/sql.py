"""The collector's metadata store: every query, written once for both backends (``collector.store.backends``).

``Store`` is synchronous and owned by a single thread (see ``collector.store.Database``); each method that
writes runs as one transaction, and the backend serialises writers, so no locks of our own are needed. Ticket
events and the audit log are append-only: the database itself refuses UPDATE and DELETE on them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.models import CaptureWindow, Priority, Trigger, TriggerKind

from ..attach import Fit, TicketSpan, best_fit, fit
from ..errors import Conflict, NotFound, Unauthorized
from ..models import (
    OPEN_STATES,
    AgentRecord,
    BundleRecord,
    Principal,
    Role,
    Ticket,
    TicketEvent,
    TicketIntake,
    TicketState,
    UserRecord,
)
from ..support.lifecycle import prefill_for, route
from . import fleet_facts
from .backends import Backend, Connection, Duty, Row

ENROL_TOKEN_PREFIX = "hde_"
USER_TOKEN_PREFIX = "hdu_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(value: datetime) -> str:
    return value.isoformat()


def _dt(value: str) -> datetime:
    """A ``NOT NULL`` timestamp column."""
    return datetime.fromisoformat(value)


def _dt_or_none(value: str | None) -> datetime | None:
    """A nullable timestamp column."""
    return None if value is None else _dt(value)


class Store:
    """All of the collector's metadata, over a backend (SQLite or PostgreSQL). Not thread-safe: one owner thread."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._conn = backend.connection

    def close(self) -> None:
        self.backend.close()

    def _tx(self) -> AbstractContextManager[Connection]:
        return self.backend.transaction()

    def try_lead(self, duty: Duty) -> bool:
        """Whether this process does ``duty`` (the SLA scan, the outbox) now; see ``Backend.try_lead``."""
        return self.backend.try_lead(duty)

    # -- households, enrolment, agents ------------------------------------------------------------------------
    def _ensure_household(self, conn: Connection, household: str, now: datetime) -> str:
        row = conn.execute("SELECT pseudonym_key FROM households WHERE id = ?", (household,)).fetchone()
        if row is not None:
            return row["pseudonym_key"]
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        conn.execute("INSERT INTO households VALUES (?, ?, ?)", (household, key, _iso(now)))
        return key

    def household_pseudonym_key(self, household: str, now: datetime) -> str:
        """The household's pseudonym key (base64), created with the household if it is new."""
        with self._tx() as conn:
            return self._ensure_household(conn, household, now)

    def create_enrol_token(self, household: str, ttl: timedelta, now: datetime) -> tuple[str, datetime]:
        token = ENROL_TOKEN_PREFIX + secrets.token_urlsafe(24)
        expires = now + ttl
        with self._tx() as conn:
            self._ensure_household(conn, household, now)
            conn.execute(
                "INSERT INTO enrol_tokens VALUES (?, ?, ?, ?, NULL, NULL)",
                (token_hash(token), household, _iso(now), _iso(expires)),
            )
            self._audit(conn, now, "admin-cli", "enrol_token.create", household, {"expires_at": _iso(expires)})
        return token, expires

    def enrol(
        self, token: str, *, public_key: str, key_id: str, hostname: str, now: datetime
    ) -> tuple[AgentRecord, str]:
        """Spend a one-time token; returns the new agent and its household's pseudonym key."""
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM enrol_tokens WHERE token_hash = ?", (token_hash(token),)).fetchone()
            if row is None:
                raise Unauthorized("unknown enrolment token", code="token_invalid")
            if row["used_at"] is not None:
                raise Conflict("this enrolment token was already used", code="token_used")
            if datetime.fromisoformat(row["expires_at"]) <= now:
                raise Unauthorized("this enrolment token has expired", code="token_expired")
            agent = AgentRecord(
                agent_id="agt_" + secrets.token_hex(8),
                household=row["household"],
                hostname=hostname,
                public_key=public_key,
                key_id=key_id,
                enrolled_at=now,
            )
            conn.execute(
                "UPDATE enrol_tokens SET used_at = ?, used_by = ? WHERE token_hash = ?",
                (_iso(now), agent.agent_id, row["token_hash"]),
            )
            conn.execute(
                "INSERT INTO agents VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (agent.agent_id, agent.household, hostname, public_key, key_id, _iso(now)),
            )
            key = self._ensure_household(conn, agent.household, now)
            self._audit(
                conn, now, agent.agent_id, "agent.enrol", agent.household, {"hostname": hostname, "key_id": key_id}
            )
        return agent, key

    @staticmethod
    def _agent(row: Row) -> AgentRecord:
        return AgentRecord(
            agent_id=row["agent_id"],
            household=row["household"],
            hostname=row["hostname"],
            public_key=row["public_key"],
            key_id=row["key_id"],
            enrolled_at=_dt(row["enrolled_at"]),
            revoked_at=_dt_or_none(row["revoked_at"]),
        )

    def get_agent(self, agent_id: str) -> AgentRecord | None:
        row = self._conn.execute("SELECT * FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
        return None if row is None else self._agent(row)

    def list_agents(self, household: str | None = None) -> list[AgentRecord]:
        if household is None:
            rows = self._conn.execute("SELECT * FROM agents ORDER BY enrolled_at")
        else:
            rows = self._conn.execute("SELECT * FROM agents WHERE household = ? ORDER BY enrolled_at", (household,))
        return [self._agent(row) for row in rows]

    def revoke_agent(self, agent_id: str, actor: str, now: datetime) -> AgentRecord:
        with self._tx() as conn:
            agent = self.get_agent(agent_id)
            if agent is None:
                raise NotFound(f"no agent {agent_id}", code="agent_not_found")
            if agent.revoked_at is None:
                conn.execute("UPDATE agents SET revoked_at = ? WHERE agent_id = ?", (_iso(now), agent_id))
                self._audit(conn, now, actor, "agent.revoke", agent_id, {})
        return self.get_agent(agent_id)  # type: ignore[return-value]

    # -- users ----------------------------------------------------------------------------------------------
    def create_user(self, name: str, role: Role, household: str | None, now: datetime) -> tuple[UserRecord, str]:
        token = USER_TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._tx() as conn:
            if household is not None:
                self._ensure_household(conn, household, now)
            try:
                user_id = conn.execute(
                    "INSERT INTO users (name, role, household, token_hash, created_at) VALUES (?, ?, ?, ?, ?)"
                    " RETURNING id",
                    (name, role.value, household, token_hash(token), _iso(now)),
                ).fetchall()[0][0]
            except self.backend.integrity_error as exc:
                raise Conflict(f"a user named {name!r} exists", code="user_exists") from exc
            self._audit(conn, now, "admin-cli", "user.create", name, {"role": role.value, "household": household})
        user = UserRecord(id=user_id, name=name, role=role, household=household, created_at=now)
        return user, token

    def set_password(self, name: str, password_hash: str, now: datetime) -> None:
        with self._tx() as conn:
            if conn.execute("UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name)).rowcount == 0:
                raise NotFound(f"no user {name!r}", code="user_not_found")
            self._audit(conn, now, "admin-cli", "user.password", name, {})

    def password_of(self, name: str) -> tuple[int, str] | None:
        row = self._conn.execute("SELECT id, password_hash FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None or row["password_hash"] is None else (row["id"], row["password_hash"])

    def create_session(self, user_id: int, token: str, csrf: str, expires: datetime, now: datetime) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (_iso(now),))
            conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (token_hash(token), user_id, csrf, _iso(expires)))

    def session(self, token: str, now: datetime) -> tuple[Principal, str] | None:
        row = self._conn.execute(
            "SELECT users.*, sessions.csrf FROM sessions JOIN users ON users.id = sessions.user_id "
            "WHERE sessions.token_hash = ? AND sessions.expires_at > ?",
            (token_hash(token), _iso(now)),
        ).fetchone()
        if row is None:
            return None
        return Principal(user_id=row["id"], name=row["name"], role=Role(row["role"]), household=row["household"]), row[
            "csrf"
        ]

    def end_session(self, token: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))

    def principal_for_token(self, token: str) -> Principal | None:
        row = self._conn.execute("SELECT * FROM users WHERE token_hash = ?", (token_hash(token),)).fetchone()
        if row is None:
            return None
        return Principal(user_id=row["id"], name=row["name"], role=Role(row["role"]), household=row["household"])

    # -- bundles --------------------------------------------------------------------------------------------
    @staticmethod
    def _bundle(row: Row) -> BundleRecord:
        return BundleRecord(
            bundle_id=row["bundle_id"],
            agent_id=row["agent_id"],
            household=row["household"],
            sha256=row["sha256"],
            size=row["size"],
            created_at=_dt(row["created_at"]),
            received_at=_dt(row["received_at"]),
            trigger=Trigger.model_validate_json(row["trigger"]),
            window=CaptureWindow(start=_dt(row["window_start"]), end=_dt(row["window_end"])),
            key_id=row["key_id"],
            ticket_id=row["ticket_id"],
            duplicate_of=row["duplicate_of"],
        )

    def get_bundle(self, bundle_id: str) -> BundleRecord | None:
        row = self._conn.execute("SELECT * FROM bundles WHERE bundle_id = ?", (bundle_id,)).fetchone()
        return None if row is None else self._bundle(row)

    def ingest_lookups(self, keys: Sequence[tuple[str, str]]) -> list[tuple[BundleRecord | None, AgentRecord | None]]:
        """What a batch of uploads (bundle id, agent id) needs to know, in one trip to the store's thread: the
        bundle stored under each id, if any, and the claimed agent's enrolment."""
        return [(self.get_bundle(bundle_id), self.get_agent(agent_id)) for bundle_id, agent_id in keys]

    def list_bundles(
        self, household: str | None = None, *, unattached: bool = False, limit: int = 200
    ) -> list[BundleRecord]:
        clauses, args = [], []
        if household is not None:
            clauses.append("household = ?")
            args.append(household)
        if unattached:
            clauses.append("ticket_id IS NULL")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._conn.execute(f"SELECT * FROM bundles {where} ORDER BY received_at DESC LIMIT ?", (*args, limit))
        return [self._bundle(row) for row in rows]

    def add_bundles(
        self,
        bundles: Sequence[tuple[BundleRecord, list[fleet_facts.FleetFact]]],
        *,
        slack: timedelta,
        lookback: timedelta,
        now: datetime,
    ) -> list[BundleRecord | Conflict]:
        """Store verified bundles, each with its fleet facts (kept unless it is a duplicate capture), and attach
        each to the open ticket it fits, or to a new one if its trigger asks. One transaction for the batch: a
        savepoint per bundle, so one that conflicts is answered alone and the others are stored."""
        stored: list[BundleRecord | Conflict] = []
        with self._tx() as conn:
            for record, facts in bundles:
                conn.execute("SAVEPOINT bundle")
                try:
                    added = self._add_bundle(conn, record, slack=slack, lookback=lookback, now=now)
                    if added.duplicate_of is None:  # the same fault sent twice adds nothing to the fleet's counts
                        fleet_facts.insert_facts(conn, facts)
                except Conflict as exc:
                    conn.execute("ROLLBACK TO SAVEPOINT bundle")
                    stored.append(exc)
                else:
                    stored.append(added)
                conn.execute("RELEASE SAVEPOINT bundle")
        return stored

    def _add_bundle(
        self, conn: Connection, record: BundleRecord, *, slack: timedelta, lookback: timedelta, now: datetime
    ) -> BundleRecord:
        existing = conn.execute("SELECT sha256 FROM bundles WHERE bundle_id = ?", (record.bundle_id,)).fetchone()
        if existing is not None:
            raise Conflict(f"bundle {record.bundle_id} was already stored", code="bundle_exists")
        original = self._same_capture(conn, record)
        if original is not None:
            return self._add_duplicate(conn, record, original, now)
        chosen = best_fit(
            record.window,
            self._open_spans(conn, record.household),
            slack=slack,
            lookback=lookback,
            signature=record.trigger.signature,
        )
        ticket_id, how = chosen if chosen is not None else (None, None)
        if ticket_id is None and record.trigger.open_ticket:
            ticket_id = self._insert_ticket(conn, self._intake_from_trigger(record), record.agent_id, now)
        record = record.model_copy(update={"ticket_id": ticket_id})
        self._insert_bundle(conn, record)
        if ticket_id is not None:
            self._attached(conn, ticket_id, record, record.agent_id, now, how)
        return record

    # -- fleet facts (the SQL is in fleet_facts.py, shared with the PostgreSQL store) ---------------------------
    def add_fleet_facts(self, facts: list[fleet_facts.FleetFact]) -> None:
        with self._tx() as conn:
            fleet_facts.insert_facts(conn, facts)

    def bundles_without_fleet_facts(self, limit: int) -> list[BundleRecord]:
        return [self._bundle(row) for row in self._conn.execute(fleet_facts.UNINDEXED, (limit,))]

    def fleet_summary(
        self, grouping: fleet_facts.FleetGrouping, weeks: fleet_facts.FleetWeeks, limit: int = 50
    ) -> list[fleet_facts.FleetRow]:
        return fleet_facts.summary(self._conn, grouping, weeks, limit)

    @staticmethod
    def _insert_bundle(conn: Connection, record: BundleRecord) -> None:
        conn.execute(
            "INSERT INTO bundles (bundle_id, agent_id, household, sha256, size, created_at, received_at, trigger,"
            " window_start, window_end, key_id, ticket_id, duplicate_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.bundle_id,
                record.agent_id,
                record.household,
                record.sha256,
                record.size,
                _iso(record.created_at),
                _iso(record.received_at),
                record.trigger.model_dump_json(),
                _iso(record.window.start),
                _iso(record.window.end),
                record.key_id,
                record.ticket_id,
                record.duplicate_of,
            ),
        )

    def _same_capture(self, conn: Connection, record: BundleRecord) -> BundleRecord | None:
        """The first bundle of the same fault capture: same agent, trigger signature and capture window. An agent
        that lost its record of a capture (a crash, a restored state) sends the same fault again under a new id."""
        if record.trigger.kind is not TriggerKind.FAULT or not record.trigger.signature:
            return None  # requests, manual bundles and self-diagnoses are each their own
        row = conn.execute(
            "SELECT * FROM bundles WHERE agent_id = ? AND window_start = ? AND window_end = ? AND duplicate_of IS NULL"
            f" AND {self.backend.json_text('trigger', 'kind')} = ? AND {self.backend.json_text('trigger', 'signature')} = ?"
            " ORDER BY received_at LIMIT 1",
            (
                record.agent_id,
                _iso(record.window.start),
                _iso(record.window.end),
                TriggerKind.FAULT.value,
                record.trigger.signature,
            ),
        ).fetchone()
        return None if row is None else self._bundle(row)

    def _add_duplicate(
        self, conn: Connection, record: BundleRecord, original: BundleRecord, now: datetime
    ) -> BundleRecord:
        """Keep a duplicate capture (it verified, it is evidence) linked to the original and on its ticket, where
        it is shown once: no second attachment, classification or finding."""
        record = record.model_copy(update={"ticket_id": original.ticket_id, "duplicate_of": original.bundle_id})
        self._insert_bundle(conn, record)
        detail = {
            "duplicate_of": original.bundle_id,
            "signature": record.trigger.signature,
            "window": [_iso(record.window.start), _iso(record.window.end)],
            "ticket_id": original.ticket_id,
        }
        self._audit(conn, now, record.agent_id, "bundle.duplicate", record.bundle_id, detail)
        if original.ticket_id is not None:
            self._event(
                conn,
                original.ticket_id,
                now,
                record.agent_id,
                "bundle_duplicate",
                {"bundle_id": record.bundle_id} | detail,
            )
        return record

    def _attached(
        self,
        conn: Connection,
        ticket_id: int,
        record: BundleRecord,
        actor: str,
        now: datetime,
        how: Fit | None = None,
        moved_from: int | None = None,
    ) -> None:
        """The attach event and its audit entry (with why it fits), and the classification pre-filled from the
        bundle's diagnosis, or replaced by it when better supported (never a person's; audited)."""
        reason = how.describe() if how is not None else ("opened for this bundle" if moved_from is None else "by hand")
        detail = self._attach_detail(record) | {"fit": reason, "moved_from": moved_from}
        self._event(conn, ticket_id, now, actor, "bundle_attached", detail)
        self._audit(
            conn,
            now,
            actor,
            "bundle.attach",
            record.bundle_id,
            {"ticket_id": ticket_id, "fit": reason, "moved_from": moved_from},
        )
        # The pre-filled classification follows the best-supported evidence; a person's is never replaced.
        last = conn.execute(
            "SELECT data FROM ticket_events WHERE ticket_id = ? AND kind = 'classified' ORDER BY id DESC LIMIT 1",
            (ticket_id,),
        ).fetchone()
        prefill = prefill_for(
            None if last is None else json.loads(last["data"]), record.trigger.kind.value, record.trigger.signature
        )
        if prefill is None:
            return
        self._event(conn, ticket_id, now, actor, "classified", prefill | {"bundle_id": record.bundle_id})
        if "replaces" in prefill:
            self._audit(
                conn,
                now,
                actor,
                "ticket.cause_replaced",
                str(ticket_id),
                {
                    "from": prefill["replaces"],
                    "to": prefill["cause"],
                    "bundle_id": record.bundle_id,
                    "strength": prefill["strength"],
                },
            )

    def move_bundle(self, bundle_id: str, ticket_id: int, actor: str, reason: str, now: datetime) -> BundleRecord:
        """Attach a waiting bundle, or move an attached one, to a ticket of its household, by hand: an event on
        both tickets and audit entries."""
        with self._tx() as conn:
            record = self.get_bundle(bundle_id)
            row = conn.execute("SELECT household FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            if record is None:
                raise NotFound(f"no bundle {bundle_id}", code="bundle_not_found")
            if row is None or row["household"] != record.household:
                raise NotFound(f"no ticket {ticket_id} in the bundle's household", code="ticket_not_found")
            if record.ticket_id == ticket_id:
                raise Conflict(f"bundle {bundle_id} is already on ticket {ticket_id}", code="bundle_already_attached")
            conn.execute(
                "UPDATE bundles SET ticket_id = ? WHERE bundle_id = ? OR duplicate_of = ?",
                (ticket_id, bundle_id, bundle_id),
            )  # its duplicate captures go with it
            if record.ticket_id is not None:
                self._event(
                    conn,
                    record.ticket_id,
                    now,
                    actor,
                    "bundle_detached",
                    {"bundle_id": bundle_id, "moved_to": ticket_id, "reason": reason},
                )
            self._attached(conn, ticket_id, record, actor, now, moved_from=record.ticket_id)
            self._audit(
                conn,
                now,
                actor,
                "bundle.move",
                bundle_id,
                {"from": record.ticket_id, "to": ticket_id, "reason": reason},
            )
        return record.model_copy(update={"ticket_id": ticket_id})

    @staticmethod
    def _attach_detail(record: BundleRecord) -> dict[str, Any]:
        return {
            "bundle_id": record.bundle_id,
            "trigger": record.trigger.kind.value,
            "signature": record.trigger.signature,
            "verified": True,
        }

    @staticmethod
    def _intake_from_trigger(record: BundleRecord) -> TicketIntake:
        trigger = record.trigger
        return TicketIntake(
            household=record.household,
            device="(from the hub's diagnosis)",
            symptom=trigger.summary or f"{trigger.kind.value}: {trigger.signature or 'no signature'}",
            when=f"{record.window.start.isoformat()} – {record.window.end.isoformat()}",
            priority=trigger.priority or Priority.P3,
            occurred_from=record.window.start,
            occurred_to=record.window.end,
            channel=trigger.kind.value,
        )

    # -- tickets --------------------------------------------------------------------------------------------
    @staticmethod
    def _open_spans(conn: Connection, household: str) -> list[TicketSpan]:
        placeholders = ",".join("?" * len(OPEN_STATES))
        rows = conn.execute(
            f"SELECT id, created_at, occurred_from, occurred_to, intake, (SELECT data FROM ticket_events e WHERE "
            f"e.ticket_id = tickets.id AND e.kind = 'classified' ORDER BY e.id DESC LIMIT 1) AS classified "
            f"FROM tickets WHERE household = ? AND state IN ({placeholders})",
            (household, *sorted(OPEN_STATES)),
        )
        return [
            TicketSpan(
                row["id"],
                _dt(row["created_at"]),
                _dt_or_none(row["occurred_from"]),
                _dt_or_none(row["occurred_to"]),
                device=json.loads(row["intake"]).get("device"),
                fault_type=json.loads(row["classified"]).get("type") if row["classified"] else None,
            )
            for row in rows
        ]

    def _insert_ticket(self, conn: Connection, intake: TicketIntake, actor: str, now: datetime) -> int:
        self._ensure_household(conn, intake.household, now)
        group = route(intake.priority)
        ticket_id: int = conn.execute(
            "INSERT INTO tickets (household, intake, state, priority, created_at, created_by, occurred_from, occurred_to, grp)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                intake.household,
                intake.model_dump_json(),
                TicketState.NEW.value,
                intake.priority.value,
                _iso(now),
                actor,
                intake.occurred_from and _iso(intake.occurred_from),
                intake.occurred_to and _iso(intake.occurred_to),
                group,
            ),
        ).fetchall()[0][0]
        self._event(conn, ticket_id, now, actor, "created", {"intake": intake.model_dump(mode="json"), "group": group})
        return ticket_id

    def create_ticket(
        self, intake: TicketIntake, actor: str, *, slack: timedelta, lookback: timedelta, now: datetime
    ) -> Ticket:
        """Open a ticket and attach the household's waiting bundles that fit it."""
        with self._tx() as conn:
            ticket_id = self._insert_ticket(conn, intake, actor, now)
            span = TicketSpan(ticket_id, now, intake.occurred_from, intake.occurred_to, device=intake.device)
            waiting = conn.execute(
                "SELECT * FROM bundles WHERE household = ? AND ticket_id IS NULL ORDER BY received_at",
                (intake.household,),
            ).fetchall()
            for row in waiting:
                record = self._bundle(row)
                how = fit(record.window, record.trigger.signature, span, slack=slack, lookback=lookback)
                if record.duplicate_of is None and how is not None:
                    conn.execute(
                        "UPDATE bundles SET ticket_id = ? WHERE bundle_id = ? OR duplicate_of = ?",
                        (ticket_id, record.bundle_id, record.bundle_id),
                    )
                    self._attached(conn, ticket_id, record, actor, now, how)
        return self.get_ticket(ticket_id)  # type: ignore[return-value]

    def _ticket(self, row: Row, *, full: bool) -> Ticket:
        bundles: list[BundleRecord] = []
        events: list[TicketEvent] = []
        if full:
            bundles = [
                self._bundle(b)
                for b in self._conn.execute(
                    "SELECT * FROM bundles WHERE ticket_id = ? AND duplicate_of IS NULL ORDER BY received_at",
                    (row["id"],),
                )
            ]
            events = self.ticket_events(row["id"])
        return Ticket(
            id=row["id"],
            intake=TicketIntake.model_validate_json(row["intake"]),
            state=TicketState(row["state"]),
            priority=Priority(row["priority"]),
            created_at=_dt(row["created_at"]),
            created_by=row["created_by"],
            group=row["grp"],
            partner=row["partner"],
            bundles=bundles,
            events=events,
        )

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        row = self._conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        return None if row is None else self._ticket(row, full=True)

    def list_tickets(
        self,
        *,
        household: str | None = None,
        state: TicketState | None = None,
        priority: Priority | None = None,
        partner: str | None = None,
        group: str | None = None,
        open_only: bool = False,
        full: bool = False,
        limit: int = 500,
    ) -> list[Ticket]:
        clauses, args = [], []
        if open_only:
            clauses.append("state != 'closed'")
        for column, value in (
            ("household", household),
            ("state", state),
            ("priority", priority),
            ("partner", partner),
            ("grp", group),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(str(value))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._conn.execute(f"SELECT * FROM tickets {where} ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [self._ticket(row, full=full) for row in rows]

    def ticket_events(self, ticket_id: int) -> list[TicketEvent]:
        rows = self._conn.execute("SELECT * FROM ticket_events WHERE ticket_id = ? ORDER BY id", (ticket_id,))
        return [
            TicketEvent(
                id=r["id"],
                ticket_id=r["ticket_id"],
                ts=_dt(r["ts"]),
                actor=r["actor"],
                kind=r["kind"],
                data=json.loads(r["data"]),
            )
            for r in rows
        ]

    def append_ticket_event(
        self,
        ticket_id: int,
        actor: str,
        kind: str,
        data: dict[str, Any],
        now: datetime,
        *,
        state: TicketState | None = None,
        priority: Priority | None = None,
        group: str | None = None,
        partner: str | None = None,
        expect_state: TicketState | None = None,
    ) -> TicketEvent:
        """Record one change; see ``append_ticket_events``."""
        return self.append_ticket_events(
            ticket_id,
            actor,
            [(kind, data)],
            now,
            state=state,
            priority=priority,
            group=group,
            partner=partner,
            expect_state=expect_state,
        )[0]

    def append_ticket_events(
        self,
        ticket_id: int,
        actor: str,
        events: Sequence[tuple[str, dict[str, Any]]],
        now: datetime,
        *,
        state: TicketState | None = None,
        priority: Priority | None = None,
        group: str | None = None,
        partner: str | None = None,
        expect_state: TicketState | None = None,
        expect_priority: Priority | None = None,
        expect_count: tuple[str, int] | None = None,
    ) -> list[TicketEvent]:
        """Record changes in one transaction; the keyword values update the ticket's current projection.

        Compare-and-set: with ``expect_state``/``expect_priority``/``expect_count`` (a kind and how many events of
        it the ticket holds) the write happens only if the ticket still is as the caller read it; otherwise
        nothing is written and 409 ``ticket_changed`` says so (of two concurrent changes, one wins)."""
        with self._tx() as conn:
            row = conn.execute("SELECT state, priority FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            if row is None:
                raise NotFound(f"no ticket {ticket_id}", code="ticket_not_found")
            if expect_state is not None and row["state"] != expect_state.value:
                raise Conflict(
                    f"the ticket changed meanwhile: it is {row['state']} now, not {expect_state}", code="ticket_changed"
                )
            if expect_priority is not None and row["priority"] != expect_priority.value:
                raise Conflict(f"the ticket changed meanwhile: it is {row['priority']} now", code="ticket_changed")
            if expect_count is not None:
                kind, count = expect_count
                held = conn.execute(
                    "SELECT COUNT(*) FROM ticket_events WHERE ticket_id = ? AND kind = ?", (ticket_id, kind)
                ).fetchone()[0]
                if held != count:
                    raise Conflict(f"the ticket changed meanwhile ({kind})", code="ticket_changed")
            for column, value in (("state", state), ("priority", priority), ("grp", group), ("partner", partner)):
                if value is not None:
                    conn.execute(f"UPDATE tickets SET {column} = ? WHERE id = ?", (str(value), ticket_id))
            ids = [self._event(conn, ticket_id, now, actor, kind, data) for kind, data in events]
        return [
            TicketEvent(id=event_id, ticket_id=ticket_id, ts=now, actor=actor, kind=kind, data=data)
            for event_id, (kind, data) in zip(ids, events, strict=True)
        ]

    def tickets_for_scan(self) -> list[Ticket]:
        """Tickets whose clocks can still move: not closed, or holding a complaint (complaints run on their own)."""
        rows = self._conn.execute(
            "SELECT * FROM tickets WHERE state != 'closed' OR id IN (SELECT ticket_id FROM ticket_events WHERE kind = 'complaint')"
            " ORDER BY id"
        ).fetchall()
        return [self._ticket(row, full=True) for row in rows]

    def tickets_for_month(self, start: datetime, end: datetime) -> list[Ticket]:
        """Tickets opened before ``end`` that were not closed before ``start`` (a silent open ticket counts too):
        what a monthly report looks at. Times are compared as stored, in UTC."""
        rows = self._conn.execute(
            "SELECT * FROM tickets WHERE created_at < ? AND (state != 'closed' OR id IN "
            "(SELECT ticket_id FROM ticket_events WHERE ts >= ?)) ORDER BY id",
            (_iso(end.astimezone(UTC)), _iso(start.astimezone(UTC))),
        ).fetchall()
        return [self._ticket(row, full=True) for row in rows]

    @staticmethod
    def _event(conn: Connection, ticket_id: int, now: datetime, actor: str, kind: str, data: dict[str, Any]) -> int:
        event_id: int = conn.execute(
            "INSERT INTO ticket_events (ticket_id, ts, actor, kind, data) VALUES (?, ?, ?, ?, ?) RETURNING id",
            (ticket_id, _iso(now), actor, kind, json.dumps(data, default=str)),
        ).fetchall()[0][0]
        return event_id

    # -- audit ----------------------------------------------------------------------------------------------
    @staticmethod
    def _audit(conn: Connection, now: datetime, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        conn.execute(
            "INSERT INTO audit (ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (_iso(now), actor, action, target, json.dumps(detail, default=str)),
        )

    def audit(self, actor: str, action: str, target: str, detail: dict[str, Any], now: datetime) -> None:
        with self._tx() as conn:
            self._audit(conn, now, actor, action, target, detail)

    def audit_log(self, *, target: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        if target is None:
            rows = self._conn.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._conn.execute("SELECT * FROM audit WHERE target = ? ORDER BY id DESC LIMIT ?", (target, limit))
        return [{**dict(row), "detail": json.loads(row["detail"])} for row in rows]
