"""Lab fixtures for every test area: ``lab_home`` (a built home with its broker running) and ``lab_factory``.

Imported by tests/conftest.py. Tests using them should be marked ``@pytest.mark.lab``; they are skipped with
the reason when the machine cannot build namespaces (not root, no iproute2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lab.home import LabHome
from lab.netns import ip_available


def _require_lab() -> None:
    reason = ip_available()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def lab_factory() -> Iterator[Callable[..., LabHome]]:
    """``lab_factory(devices=[DeviceSpec(...)], upnp=True)`` → a built :class:`LabHome` (broker not started).
    Every lab made is torn down after the test, also when it fails."""
    _require_lab()
    labs: list[LabHome] = []

    def make(*args: Any, **kwargs: Any) -> LabHome:
        lab = LabHome(*args, **kwargs)
        labs.append(lab)
        return lab.__enter__()

    try:
        yield make
    finally:
        for lab in reversed(labs):
            lab.close()


@pytest.fixture
def lab_home(lab_factory: Callable[..., LabHome]) -> LabHome:
    """A home without devices (add them with ``lab.add_device(DeviceSpec(...))``), UPnP on, broker running."""
    lab = lab_factory(upnp=True)
    lab.start_broker()
    return lab
