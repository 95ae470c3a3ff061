"""Discovery through a real Mosquitto: simulators of every MQTT family, a broker crash, and recovery."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest
import yaml

from agent import selfcheck
from agent.clock import Clock
from agent.config import AgentConfig
from agent.discovery import Discovery
from agent.discovery.mqtt import MqttDiscovery
from agent.evidence import MemorySink
from agent.inventory import DeviceUpdate, InventoryStore
from collector.live_broker import password_entry
from lab.certs import make_server_certificate
from lab.mosquitto import Mosquitto
from shared.models import Device, EventKind, Inventory, RootCause
from tests.configs import FAST_RECONNECT, NO_LAN_SCAN, agent_config
from tests.waiting import eventually

pytestmark = pytest.mark.broker

FAMILIES = ("tasmota", "shelly", "zigbee2mqtt", "esphome")


@pytest.fixture
def simulators(mosquitto: Mosquitto) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lab.simulators",
                family,
                "--broker",
                f"127.0.0.1:{mosquitto.port}",
                "--name",
                family if family == "zigbee2mqtt" else f"{family}-1",
                "--report-interval",
                "1",
                "--reconnect-delay",
                "0.5",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for family in FAMILIES
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.kill()
            process.wait()


async def test_inventory_complete_and_recovered_after_a_broker_crash(
    mosquitto: Mosquitto, simulators, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = agent_config(tmp_path, broker={"url": mosquitto.url, **FAST_RECONNECT})
    sink, store = MemorySink(), InventoryStore(tmp_path / "inventory.json")

    def families() -> set[str | None]:
        return {device.family for device in store.snapshot().devices if device.available}

    async with Discovery(config, sink, store, clock=Clock()) as discovery:
        await eventually(lambda: {"tasmota", "shelly_gen2", "zigbee2mqtt", "esphome"} <= families(), within=20)
        devices = store.snapshot().devices
        zigbee = [d for d in devices if d.family == "zigbee2mqtt" and d.parent_id]
        assert len(zigbee) == 3 and len({d.parent_id for d in zigbee}) == 1
        esp = [d for d in devices if d.family == "esphome"]
        assert len(esp) == 1 and esp[0].macs and esp[0].firmware  # merged with its Home Assistant discovery config
        tasmota = next(d for d in devices if d.family == "tasmota")
        assert tasmota.firmware and tasmota.macs and tasmota.uptime_s is not None and tasmota.rssi_dbm is not None
        count = len(devices)

        mosquitto.kill()
        mqtt = discovery.mqtt
        assert mqtt is not None
        await eventually(lambda: not mqtt.connected.is_set(), within=10)
        restarted = Clock().now()
        mosquitto.start()
        await eventually(lambda: mqtt.connected.is_set(), within=10)
        # The devices come back and announce themselves again: every one seen afresh, no duplicates.
        await eventually(
            lambda: all(d.last_seen > restarted for d in store.snapshot().devices if d.parent_id is None), within=20
        )
        assert len(store.snapshot().devices) == count
        assert not any(e.kind is EventKind.DEVICE_JOINED and e.ts > restarted for e in sink.events)
    await asyncio.to_thread(store.save)
    assert InventoryStore.open(tmp_path / "inventory.json").snapshot().devices == store.snapshot().devices


async def test_a_second_zigbee2mqtt_bridge_is_followed_without_configuration(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    bridge = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lab.simulators",
        "zigbee2mqtt",
        "--broker",
        f"127.0.0.1:{mosquitto.port}",
        "--name",
        "zigbee2mqtt_upstairs",
        "--zigbee-devices",
        "2",
        "--report-interval",
        "1",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        config = agent_config(tmp_path, broker={"url": mosquitto.url})
        store = InventoryStore(None)

        def upstairs() -> list[str]:
            return [
                d.name or ""
                for d in store.snapshot().devices
                if d.parent_id and d.link_quality is not None and d.available
            ]

        async with Discovery(config, MemorySink(), store, clock=Clock()):
            await eventually(lambda: len(upstairs()) == 2, within=20)
        assert sorted(upstairs()) == ["hall_motion", "living_room_curtain"]
    finally:
        bridge.kill()
        await bridge.wait()


async def test_a_broker_that_refuses_the_hub_is_on_the_timeline(tmp_path: Path) -> None:
    passwords = tmp_path / "passwords"
    passwords.write_text(password_entry("hub", "changed-by-someone") + "\n")
    broker = Mosquitto(allow_anonymous=False, extra_config=f"password_file {passwords}\n")
    broker.start()
    try:
        config = agent_config(
            tmp_path,
            broker={
                "url": broker.url,
                "username": "hub",
                "password": "what-the-hub-knows",
                "reconnect_min_s": 0.1,
                "reconnect_max_s": 0.3,
            },
        )
        sink = MemorySink()

        def broker_states() -> list[str | None]:
            return [e.state for e in sink.events if e.kind is EventKind.BROKER]

        async with Discovery(config, sink, InventoryStore(None), clock=Clock()) as discovery:
            await eventually(lambda: broker_states() == ["refused"], within=10)
            mqtt = discovery.mqtt
            assert mqtt is not None and "authori" in (mqtt.refused or "").lower()
            attempts = mqtt.session.attempts
            await eventually(lambda: mqtt.session.attempts >= attempts + 3, what="three more attempts")
            assert broker_states() == ["refused"]  # reconnect attempts go on; the timeline says it once
            passwords.write_text(password_entry("hub", "what-the-hub-knows") + "\n")
            await asyncio.to_thread(broker.reload)
            await eventually(lambda: broker_states() == ["refused", "accepted"], within=10)
    finally:
        broker.close()


async def test_a_tls_home_broker_is_trusted_only_with_its_ca(tmp_path: Path) -> None:
    certificate = make_server_certificate(tmp_path / "tls")
    broker = Mosquitto(tls=certificate)
    broker.start()
    try:
        await asyncio.to_thread(
            subprocess.run,
            [
                "mosquitto_pub",
                "-h",
                broker.host,
                "-p",
                str(broker.port),
                "--cafile",
                str(certificate.ca_file),
                "-t",
                "tele/kitchen/LWT",
                "-m",
                "Online",
                "-r",
            ],
            check=True,
            timeout=10,
        )

        def config(ca_file: Path | None) -> AgentConfig:
            return agent_config(
                tmp_path,
                broker={
                    "url": broker.url,
                    "ca_file": None if ca_file is None else str(ca_file),
                    "reconnect_min_s": 0.1,
                },
            )

        store = InventoryStore(None)
        async with Discovery(config(certificate.ca_file), MemorySink(), store, clock=Clock()):
            await eventually(lambda: any(d.available for d in store.snapshot().devices), within=10)
        untrusting = InventoryStore(None)
        async with Discovery(config(None), MemorySink(), untrusting, clock=Clock()) as discovery:
            assert discovery.mqtt is not None
            await eventually(lambda: discovery.mqtt.session.attempts >= 3, what="three attempts")  # type: ignore[union-attr]
            assert not discovery.mqtt.connected.is_set()
        assert untrusting.snapshot().devices == []
    finally:
        broker.close()


def test_discover_command_prints_the_inventory(mosquitto: Mosquitto, simulators, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "broker": {"url": mosquitto.url}}))
    agent = str(Path(sys.executable).with_name("homediag-agent"))
    done = subprocess.run(
        [agent, "-c", str(config), "discover", "--json", "--seconds", "4"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    inventory = json.loads(done.stdout)
    schema = json.loads((Path(__file__).parents[2] / "docs" / "schemas" / "inventory.schema.json").read_text())
    jsonschema.validate(inventory, schema)
    assert {d["family"] for d in inventory["devices"]} >= {"tasmota", "shelly_gen2", "zigbee2mqtt", "esphome"}
    table = subprocess.run(
        [agent, "-c", str(config), "discover", "--seconds", "1"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "devices" in table.stdout and "tasmota" in table.stdout
    small = tmp_path / "small.yaml"
    small.write_text(
        yaml.safe_dump(
            {"state_dir": str(tmp_path / "small"), "broker": {"url": mosquitto.url}, "discovery": {"max_devices": 2}}
        )
    )
    full = subprocess.run(
        [agent, "-c", str(small), "discover", "--json", "--seconds", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert len(json.loads(full.stdout)["devices"]) == 2 and "inventory full (2 devices)" in full.stderr


async def test_a_message_that_breaks_handling_is_logged_and_discovery_goes_on(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = agent_config(tmp_path, broker={"url": mosquitto.url, **FAST_RECONNECT})
    store = InventoryStore(None)
    real_handle = MqttDiscovery.handle

    def handle_breaking_on_the_first(self: MqttDiscovery, topic: str, payload: bytes, at: datetime) -> None:
        if topic == "tele/first/LWT":
            raise RuntimeError("parser bug")
        real_handle(self, topic, payload, at)

    monkeypatch.setattr(MqttDiscovery, "handle", handle_breaking_on_the_first)
    async with Discovery(config, MemorySink(), store, clock=Clock()) as discovery:
        assert discovery.mqtt is not None
        await asyncio.wait_for(discovery.mqtt.connected.wait(), 10)
        for device in ("first", "second"):
            publish = ["mosquitto_pub", "-h", mosquitto.host, "-p", str(mosquitto.port), "-t", f"tele/{device}/LWT"]
            process = await asyncio.create_subprocess_exec(*publish, "-m", "Online")
            assert await process.wait() == 0
        await eventually(lambda: any(d.available for d in store.snapshot().devices), what="the second device")
    assert any(r.exc_info and "parser bug" in str(r.exc_info[1]) for r in caplog.records)


async def test_the_one_click_stops_listening_once_every_known_device_said_its_availability(
    mosquitto: Mosquitto, simulators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    config = agent_config(tmp_path, broker={"url": mosquitto.url, **FAST_RECONNECT}, discovery=NO_LAN_SCAN)
    store = InventoryStore(config.state_dir / "inventory.json")
    async with Discovery(config, MemorySink(), store, clock=Clock()):
        await eventually(lambda: {"tasmota", "shelly_gen2", "zigbee2mqtt", "esphome"} <= families_of(store), within=20)
        await eventually(lambda: all(d.available is not None for d in store.snapshot().devices), within=20)
    await asyncio.to_thread(store.save)
    known = {d.id for d in store.snapshot().devices}
    # A window far longer than the test's own limit: only hearing every device ends it in time.
    monkeypatch.setattr(selfcheck, "DISCOVERY_S", 600.0)
    async with asyncio.timeout(60):
        report, files = await selfcheck.self_check(config)
    heard = Inventory.model_validate_json(files["inventory.json"])
    assert {d.id for d in heard.devices} >= known and all(d.available for d in heard.devices)
    assert report.verdict is RootCause.HEALTHY


def test_the_one_click_listens_the_whole_window_unless_every_known_device_has_an_availability() -> None:
    now = Clock().now()
    reporting = Device(id="a", available=True, first_seen=now, last_seen=now)
    silent = Device(id="b", first_seen=now, last_seen=now)  # seen by mDNS or ARP only: absence tells only in time
    assert selfcheck._availability_to_hear(Inventory(generated_at=now, devices=[reporting])) == {"a"}
    assert selfcheck._availability_to_hear(Inventory(generated_at=now, devices=[reporting, silent])) == set()
    assert selfcheck._availability_to_hear(Inventory(generated_at=now)) == set()  # a hub that knows nothing yet


async def test_availability_of_returns_once_each_device_said_it_either_way() -> None:
    store = InventoryStore(None)
    now = Clock().now()
    waiting = asyncio.create_task(store.availability_of({"tasmota:a", "tasmota:b"}))
    store.observe(DeviceUpdate(keys=("tasmota:a",), source="mqtt", available=True), now)
    await asyncio.sleep(0)
    assert not waiting.done()
    store.observe(DeviceUpdate(keys=("tasmota:b",), source="mqtt", available=False), now)
    await asyncio.wait_for(waiting, 5)


def families_of(store: InventoryStore) -> set[str | None]:
    return {device.family for device in store.snapshot().devices if device.available}
