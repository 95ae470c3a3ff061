"""One lab scenario per root cause: the real fault in the namespace home, and the diagnosis it must lead to."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.scenarios import bundle_scenarios, hub_scenarios, live_scenarios, new_home

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _check(outcomes) -> None:  # type: ignore[no-untyped-def]
    wrong = [(o.scenario, o.expected, o.verdict) for o in outcomes if not o.correct]
    assert not wrong, wrong


def test_faults_one_after_the_other_are_each_diagnosed_from_their_bundle(lab_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lab, agent = new_home(lab_factory, tmp_path)
    try:
        _check(list(bundle_scenarios(lab, agent)))
    finally:
        agent.close()


def test_one_click_on_a_healthy_home_a_clock_step_and_a_nightly_router_reboot(lab_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lab, agent = new_home(lab_factory, tmp_path)
    try:
        _check(list(live_scenarios(lab, agent)))
    finally:
        agent.close()


def test_the_hubs_own_troubles_and_the_quieter_device_ones(lab_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Hub reboot, weak signal, a device restart, a known firmware issue, the hub unplugged, a hub power loss."""
    lab, agent = new_home(lab_factory, tmp_path)
    try:
        _check(list(hub_scenarios(lab, agent)))
    finally:
        agent.close()
