"""The shortcuts the inventory takes for a device's steady reports (most of discovery's work on a busy hub) give
what the general way gives: the cheap ``Device`` copy is pydantic's ``model_copy``, an update ``may_reveal_reboot``
turns away is one the full reboot analysis finds nothing in, and the recent messages keep each arrival's time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.inventory import DeviceUpdate, InventoryStore, may_reveal_reboot, with_changes
from shared.models import Device

AT = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
TEXTS = st.text("abc:-0123456789", max_size=8)
OPTIONAL_TEXTS = st.none() | TEXTS
NUMBERS = st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False)
TIMES = st.integers(min_value=-100, max_value=100).map(lambda s: AT + timedelta(seconds=s))
ATTRIBUTES = st.dictionaries(TEXTS, st.none() | st.integers() | TEXTS | st.lists(TEXTS, max_size=2), max_size=3)

DEVICES = st.builds(
    Device,
    id=st.just("mac:02:00:00:00:00:01"),
    name=OPTIONAL_TEXTS,
    names=st.lists(TEXTS, max_size=3),
    family=OPTIONAL_TEXTS,
    firmware=OPTIONAL_TEXTS,
    identifiers=st.lists(TEXTS, max_size=3),
    macs=st.lists(TEXTS, max_size=2),
    ips=st.lists(TEXTS, max_size=2),
    sources=st.lists(TEXTS, max_size=3),
    parent_id=OPTIONAL_TEXTS,
    available=st.none() | st.booleans(),
    first_seen=TIMES,
    last_seen=TIMES,
    uptime_s=NUMBERS,
    restart_reason=OPTIONAL_TEXTS,
    rssi_dbm=st.none() | st.floats(min_value=-100, max_value=0),
    link_quality=st.none() | st.integers(min_value=0, max_value=255),
    attributes=ATTRIBUTES,
)
CHANGES: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {},
    optional={
        "last_seen": TIMES,
        "names": st.lists(TEXTS, max_size=3),
        "identifiers": st.lists(TEXTS, max_size=3),
        "available": st.none() | st.booleans(),
        "uptime_s": NUMBERS,
        "firmware": OPTIONAL_TEXTS,
        "parent_id": OPTIONAL_TEXTS,
        "attributes": ATTRIBUTES,
    },
)


@settings(max_examples=300, deadline=None)
@given(DEVICES, CHANGES)
def test_the_cheap_device_copy_is_pydantics_model_copy(device: Device, changes: dict[str, Any]) -> None:
    before = device.model_dump()
    expected, copied = device.model_copy(update=changes), with_changes(device, changes)
    assert type(copied) is Device and copied is not device
    assert copied == expected
    assert copied.model_fields_set == expected.model_fields_set
    assert copied.model_dump_json() == expected.model_dump_json()
    assert copied.__pydantic_extra__ is expected.__pydantic_extra__
    assert copied.__pydantic_private__ is expected.__pydantic_private__
    assert device.model_dump() == before  # the old one, still in snapshots handed to other threads, is untouched
    copied.__dict__["names"] = ["changed"]
    assert device.names == before["names"]  # they share no dict of fields


# Updates of every kind, steady ones (no boot signal) most often.
UPDATES = st.builds(
    DeviceUpdate,
    keys=st.just(("tasmota:plug",)),
    source=st.sampled_from(["tasmota", "esphome", "shelly"]),
    uptime_s=NUMBERS,
    restart_reason=OPTIONAL_TEXTS,
    boot_seq=st.none() | st.none() | st.integers(min_value=0, max_value=5),
    firmware=OPTIONAL_TEXTS,
    boot_announced=st.sampled_from([False, False, False, True]),
    boot_logged=st.sampled_from([False, False, False, True]),
)


@settings(max_examples=500, deadline=None)
@given(
    device=DEVICES,
    update=UPDATES,
    at=TIMES,
    is_new=st.booleans(),
    reason_at=st.none() | TIMES,
    boot_seq=st.none() | st.integers(min_value=0, max_value=5),
    uptime_at=st.none() | TIMES,
    last_boot=st.none() | TIMES,
)
def test_an_update_turned_away_before_the_reboot_analysis_is_one_it_finds_no_reboot_in(
    device: Device,
    update: DeviceUpdate,
    at: datetime,
    is_new: bool,
    reason_at: datetime | None,
    boot_seq: int | None,
    uptime_at: datetime | None,
    last_boot: datetime | None,
) -> None:
    store = InventoryStore(None)
    for times, value in ((store._reason_at, reason_at), (store._uptime_at, uptime_at), (store._last_boot, last_boot)):
        if value is not None:
            times[device.id] = value
    if boot_seq is not None:
        store._boot_seq[device.id] = boot_seq
    analysed = store._reboot_analysis(device, update, at, is_new)
    if not may_reveal_reboot(device, update):
        assert analysed is None
    assert store._reboot_reason(device, update, at, is_new) == analysed


def test_recent_messages_keep_each_arrivals_own_time() -> None:
    """One batch shares its arrival time (written once); an equal instant in another zone is still written as
    itself."""
    store = InventoryStore(None)
    elsewhere = AT.astimezone(timezone(timedelta(hours=2)))
    arrivals = [AT, AT, elsewhere, AT + timedelta(seconds=3)]
    for index, at in enumerate(arrivals):
        store.observe(DeviceUpdate(keys=("tasmota:plug",), source="tasmota", message=f"report {index}"), at)
    assert [m["ts"] for m in store.recent_messages("tasmota:plug")] == [at.isoformat() for at in arrivals]
