"""Real payloads, copied from the upstream projects' own tests and docs, replayed through a real broker.

Each file under ``tests/discovery/corpus/`` names its sources (repository, path, commit), holds the messages in
the order the source gives them (``retain`` ones are at the broker before the agent subscribes, like retained
discovery configs and LWTs; the others are published live afterwards) and the devices a reader of the source
would say are there, each with the facts the messages state. A device is *understood* when exactly one inventory
entry answers to its key and every stated fact is in it; an inventory entry no expected device accounts for (one
device listed twice, or a ghost) takes one off the score.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from agent.clock import Clock
from agent.config import AgentConfig
from agent.discovery.mqtt import MqttDiscovery
from agent.evidence import MemorySink
from agent.inventory import InventoryStore, normalise_mac
from shared.models import Device

CORPUS_DIR = Path(__file__).resolve().parent.parent / "tests" / "discovery" / "corpus"
SETTLE_LIMIT_S = 15.0
# Published after each batch: the broker delivers one publisher's messages in order, so once this node is in the
# inventory, everything before it has been handled.
SENTINEL = "corpus-sentinel"
EXACT_FACTS = ("name", "family", "manufacturer", "model", "firmware", "available", "restart_reason")
NUMERIC_FACTS = ("uptime_s", "rssi_dbm", "link_quality")


@dataclass
class CorpusResult:
    name: str
    expected: int
    understood: int = 0
    failures: list[str] = field(default_factory=list)


def corpus_files() -> list[Path]:
    return sorted(CORPUS_DIR.glob("*.json"))


def payload_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


def _publish(host: str, port: int, messages: list[dict[str, Any]]) -> None:
    """Blocking: publish at QoS 1 and wait for each acknowledgement, so the broker has them in order."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="corpus-replay")
    client.connect(host, port)
    client.loop_start()
    try:
        for message in messages:
            client.publish(
                message["topic"], payload_bytes(message["payload"]), qos=1, retain=bool(message.get("retain"))
            ).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


async def _settle(host: str, port: int, store: InventoryStore, batch: int) -> None:
    node = f"{SENTINEL}-{batch}"
    deadline = time.monotonic() + SETTLE_LIMIT_S
    while store.get(f"esphome:{node}") is None:  # again until seen: the first may beat the subscription
        if time.monotonic() > deadline:
            raise TimeoutError("the broker did not deliver the corpus messages")
        await asyncio.to_thread(_publish, host, port, [{"topic": f"{node}/status", "payload": "online"}])
        for _ in range(25):
            if store.get(f"esphome:{node}") is not None:
                return
            await asyncio.sleep(0.02)


def check(data: dict[str, Any], store: InventoryStore, name: str) -> CorpusResult:
    result = CorpusResult(name, len(data["devices"]))
    matched: dict[str, str] = {}
    for entry in data["devices"]:
        device = store.get(entry["key"])
        if device is None:
            result.failures.append(f"{entry['key']}: not in the inventory")
            continue
        if device.id in matched.values():
            result.failures.append(
                f"{entry['key']}: merged with {next(k for k, v in matched.items() if v == device.id)}"
            )
            continue
        wrong = _wrong_facts(device, entry["expect"], store)
        if wrong:
            result.failures.append(f"{entry['key']}: " + "; ".join(wrong))
            continue
        matched[entry["key"]] = device.id
    unaccounted = [
        d.id
        for d in store.snapshot().devices
        if d.id not in matched.values()
        and not d.id.startswith(f"esphome:{SENTINEL}")
        and not any(
            (found := store.get(e["key"])) is not None and (found is d or found.id == d.id) for e in data["devices"]
        )
    ]
    for device_id in unaccounted:
        result.failures.append(f"{device_id}: an entry no device of the source accounts for")
    result.understood = max(0, len(matched) - len(unaccounted))
    return result


def _wrong_facts(device: Device, expect: dict[str, Any], store: InventoryStore) -> list[str]:
    wrong = []
    for fact in EXACT_FACTS:
        if fact in expect and getattr(device, fact) != expect[fact]:
            wrong.append(f"{fact} {getattr(device, fact)!r}, expected {expect[fact]!r}")
    for fact in NUMERIC_FACTS:
        value = getattr(device, fact)
        if fact in expect and (value is None or abs(value - expect[fact]) > 1e-6):
            wrong.append(f"{fact} {value!r}, expected {expect[fact]!r}")
    for mac in expect.get("macs", []):
        if normalise_mac(mac) not in device.macs:
            wrong.append(f"MAC {mac} missing from {device.macs}")
    for ip in expect.get("ips", []):
        if ip not in device.ips:
            wrong.append(f"address {ip} missing from {device.ips}")
    if "parent" in expect:
        parent = store.get(expect["parent"])
        if parent is None or device.parent_id != parent.id:
            wrong.append(f"parent {device.parent_id!r}, expected {expect['parent']!r}")
    return wrong


async def replay(path: Path, host: str, port: int, state_dir: Path) -> CorpusResult:
    data = json.loads(await asyncio.to_thread(path.read_text))
    retained = [m for m in data["messages"] if m.get("retain")]
    live = [m for m in data["messages"] if not m.get("retain")]
    await asyncio.to_thread(_publish, host, port, retained)
    config = AgentConfig.model_validate({"state_dir": str(state_dir), "broker": {"url": f"mqtt://{host}:{port}"}})
    store = InventoryStore(None)
    async with MqttDiscovery(config, MemorySink(), store, Clock()) as discovery:
        await asyncio.wait_for(discovery.connected.wait(), 10)
        await _settle(host, port, store, 1)  # the retained messages, delivered on subscribing
        await asyncio.to_thread(_publish, host, port, live)
        await _settle(host, port, store, 2)
    return check(data, store, path.stem)


def score(host: str, port: int, state_dir: Path) -> list[CorpusResult]:
    """Every corpus file against one broker (its retained messages cleared between files)."""
    results = []
    for path in corpus_files():
        results.append(asyncio.run(replay(path, host, port, state_dir)))
        data = json.loads(path.read_text())
        _publish(
            host,
            port,
            [{"topic": m["topic"], "payload": "", "retain": True} for m in data["messages"] if m.get("retain")],
        )
    return results
