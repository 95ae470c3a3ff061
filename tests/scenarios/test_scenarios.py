"""One lab scenario per root cause: the real fault in the namespace home, and the diagnosis it must lead to."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.scenarios import bundle_scenarios, hub_scenarios, live_scenarios, new_home

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.mark.parametrize(
    "scenarios",
    [
        pytest.param(bundle_scenarios, id="faults-one-after-the-other-each-diagnosed-from-its-bundle"),
        pytest.param(
            live_scenarios, id="one-click-on-a-healthy-home-a-clock-step-a-nightly-router-reboot-a-refusing-broker"
        ),
        pytest.param(
            hub_scenarios, id="hub-storage-full-reboot-weak-signal-restart-known-issue-hub-unplugged-power-loss"
        ),
    ],
)
def test_each_fault_is_diagnosed_as_its_root_cause(lab_factory, tmp_path: Path, scenarios) -> None:  # type: ignore[no-untyped-def]
    lab, agent = new_home(lab_factory, tmp_path)
    try:
        outcomes = list(scenarios(lab, agent))
    finally:
        agent.close()
    wrong = [(o.scenario, o.expected, o.verdict) for o in outcomes if not o.correct]
    assert not wrong, wrong
