"""The default service levels of the support process, as data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from shared.models import Priority

from .calendar import BusinessCalendar


@dataclass(frozen=True)
class Target:
    name: str  # first_response, update, root_cause, workaround, fix
    hours: float = 0.0
    business_days: float = 0.0  # in business days of the ticket's calendar

    def duration(self, calendar: BusinessCalendar) -> timedelta:
        return timedelta(hours=self.hours) + calendar.business_day * self.business_days


@dataclass(frozen=True)
class Policy:
    priority: Priority
    around_the_clock: bool
    first_response: Target
    update_every: Target
    root_cause: Target | None
    workaround: Target | None
    fix: Target | None  # permanent fix, or guidance for P3
    follow_up_days: tuple[int, ...]


POLICIES: dict[Priority, Policy] = {
    Priority.P1: Policy(
        Priority.P1,
        True,
        Target("first_response", hours=0.5),
        Target("update", hours=1),
        Target("root_cause", hours=4),
        Target("workaround", hours=8),
        Target("fix", hours=24),
        (1, 3, 7),
    ),
    Priority.P2: Policy(
        Priority.P2,
        False,
        Target("first_response", hours=2),
        Target("update", hours=4),
        Target("root_cause", business_days=1),
        None,
        Target("fix", business_days=3),
        (3,),
    ),
    Priority.P3: Policy(
        Priority.P3,
        False,
        Target("first_response", hours=4),
        Target("update", business_days=1),
        None,
        None,
        Target("fix", business_days=2),
        (7,),
    ),
}
COMPLAINT_TARGETS = (
    Target("complaint_ack", hours=2),
    Target("complaint_plan", hours=24),
    Target("complaint_close", hours=48),
)
# The seeds' floor for every open ticket, paused or not: never more than 72 hours without a customer update.
SILENCE_LIMIT = Target("update_72h", hours=72)
# A follow-up falls due on its date and is overdue one day later (doing it before its date marks it early).
FOLLOW_UP_GRACE = timedelta(days=1)
WARN_FRACTION = 0.25  # warn when a quarter of a target's time is left
PAUSE_STATES = frozenset({"waiting_customer", "waiting_parts"})
FINISHED_STATES = frozenset({"resolved", "follow_up", "closed"})  # no service-level target accrues here
TARGET_NAMES = ("first_response", "update_every", "root_cause", "workaround", "fix")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(m|h|bd)$")
ServiceLevels = Mapping[Priority, Policy]


def check_target(name: str, value: str | None) -> Target | None:
    """A configured target ('30m', '4h', '2bd'), or None when it is dropped; ValueError if malformed."""
    if name not in TARGET_NAMES:
        raise ValueError(f"unknown target {name!r}; targets: {', '.join(TARGET_NAMES)}")
    if value is None:
        if name in ("first_response", "update_every"):
            raise ValueError(f"{name} cannot be dropped")
        return None
    found = _DURATION.match(value.strip())
    if found is None or float(found.group(1)) <= 0:
        raise ValueError(f"{name}: {value!r} is not a duration like '30m', '4h' or '2bd'")
    amount, unit = float(found.group(1)), found.group(2)
    label = "update" if name == "update_every" else name
    if unit == "bd":
        return Target(label, business_days=amount)
    return Target(label, hours=amount / 60 if unit == "m" else amount)


def _with(policy: Policy, overrides: Mapping[str, str | None]) -> Policy:
    # The field names come from configuration: check_target admits only target fields, and None only where a
    # target may be dropped, which is more than a type can say here.
    changes: dict[str, Any] = {name: check_target(name, value) for name, value in overrides.items()}
    return replace(policy, **changes)


def with_targets(overrides: Mapping[Priority, Mapping[str, str | None]]) -> ServiceLevels:
    """The default table with some targets replaced (or dropped)."""
    return {priority: _with(policy, overrides.get(priority, {})) for priority, policy in POLICIES.items()}
