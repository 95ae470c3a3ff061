"""A small in-memory home answering live requests, for the channel tests."""

from __future__ import annotations

import asyncio
from typing import Any


class FakeHomeHandlers:
    """Plain data standing in for the running agent's inventory and monitors (the agent side is tested elsewhere)."""

    def __init__(self) -> None:
        self.devices = {"plug-1": {"id": "plug-1", "available": True, "firmware": "13.4.0", "rssi_dbm": -61}}
        self.captures: list[str | None] = []
        self.slow = False

    async def inventory(self) -> Any:
        return {"devices": list(self.devices.values())}

    async def device_state(self, device_id: str) -> Any | None:
        if self.slow:
            await asyncio.sleep(10)
        return self.devices.get(device_id)

    async def timeline_recent(self, minutes: float) -> Any:
        return {"minutes": minutes, "events": []}

    async def probe_run(self) -> Any:
        return {"gateway": "up", "dns": "up", "internet": "up"}

    async def diagnose(self) -> Any:
        return {"verdict": "healthy"}

    async def bundle_capture(self, requested_by: str | None) -> Any:
        self.captures.append(requested_by)
        return {"bundle_id": "00000000-0000-0000-0000-000000000001"}
