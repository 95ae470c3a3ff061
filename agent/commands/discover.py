"""``homediag-agent discover [--json] [--seconds N]``: discovery for a bounded time, then the inventory.

Runs the enabled adapters against the configured broker and addresses only, prints the inventory (JSON
matching docs/schemas/inventory.schema.json with ``--json``, a table otherwise) and how many malformed
messages each source sent. The inventory is also saved in the state directory.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from rich.console import Console
from rich.table import Table

from shared.models import Inventory

from ..config import AgentConfig
from ..discovery import Discovery
from ..evidence import MemorySink
from ..inventory import InventoryStore


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("discover", help="find the home's devices for a while and print the inventory")
    parser.add_argument("--json", action="store_true", help="print the inventory as JSON")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to listen (default 10)")
    parser.set_defaults(handler=run_discover)


def run_discover(args: argparse.Namespace, config: AgentConfig) -> int:
    inventory, malformed, dropped = asyncio.run(_discover(config, max(0.5, args.seconds)))
    if args.json:
        print(inventory.model_dump_json(indent=2))
    else:
        _print_table(inventory)
    if malformed:
        print(
            "malformed messages: " + ", ".join(f"{source} {count}" for source, count in sorted(malformed.items())),
            file=sys.stderr,
        )
    if dropped:
        print(f"inventory full ({config.discovery.max_devices} devices): {dropped}", file=sys.stderr)
    return 0


async def _discover(config: AgentConfig, seconds: float) -> tuple[Inventory, dict[str, int], str]:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    store = await asyncio.to_thread(
        InventoryStore.open, config.state_dir / "inventory.json", max_devices=config.discovery.max_devices
    )
    async with Discovery(config, MemorySink(), store) as discovery:
        await asyncio.sleep(seconds)
        malformed = dict(discovery.mqtt.malformed) if discovery.mqtt else {}
    await asyncio.to_thread(store.save)
    return store.snapshot(), malformed, store.drop_summary()


def _print_table(inventory: Inventory) -> None:
    table = Table(title=f"{len(inventory.devices)} devices")
    for column in ("device", "family", "model", "firmware", "address", "online", "signal", "sources"):
        table.add_column(column)
    for device in inventory.devices:
        signal = (
            f"{device.rssi_dbm:g} dBm"
            if device.rssi_dbm is not None
            else (f"LQI {device.link_quality}" if device.link_quality is not None else "")
        )
        online = {True: "yes", False: "NO", None: "?"}[device.available]
        table.add_row(
            device.name or device.id,
            device.family or "",
            device.model or "",
            device.firmware or "",
            ", ".join(device.ips or device.macs),
            online,
            signal,
            ", ".join(device.sources),
        )
    Console().print(table)
