"""Live-state round trip: engineer → collector API → support broker → agent → back, against raw MQTT.

``python -m bench.live [--agents 200] [--rate 50] [--seconds 10]``: a real Mosquitto with the project's
password and ACL files, a collector on loopback with live state on, ``agents`` real ``LiveChannel``s (the
agent's code, answering from a small in-memory home). Engineer requests go to ``POST
/api/v1/agents/{id}/live/device.state`` at ``rate`` per second for ``seconds``; then, in the same run, the raw
MQTT baseline: the same number of v5 requests published to a trivial echo responder. Prints p50/p99 and
errors for both and the p99 ratio (target ≤ 3, 0 errors). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
import uuid
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import paho.mqtt.client as mqtt
from aiohttp import web
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.live import Consent, LiveChannel
from collector.app import create_app
from collector.config import CollectorConfig
from collector.live_broker import BrokerAccounts, render_listener_auth
from collector.models import Role
from collector.store import open_store
from lab.mosquitto import Mosquitto, free_port
from shared.live import LiveGrant
from shared.models import utcnow
from shared.signing import generate_private_key, public_key_to_text


class SmallHome:
    """Answers every live method from constant data: the bench measures the channel, not the agent."""

    state: ClassVar[dict[str, object]] = {"id": "plug-1", "available": True, "firmware": "13.4.0", "rssi_dbm": -61}

    async def inventory(self) -> Any:
        return {"devices": [self.state]}

    async def device_state(self, device_id: str) -> Any | None:
        return self.state

    async def timeline_recent(self, minutes: float) -> Any:
        return {"events": []}

    async def probe_run(self) -> Any:
        return {}

    async def diagnose(self) -> Any:
        return {"verdict": "healthy"}

    async def bundle_capture(self, requested_by: str | None) -> Any:
        return {}


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


async def _paced(count: int, rate: float, send) -> tuple[list[float], int]:  # type: ignore[no-untyped-def]
    """``count`` calls of ``send()`` started at a fixed rate; latencies of the successful ones and the errors."""
    latencies: list[float] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            await send()
        except Exception:
            errors += 1
            return
        latencies.append(time.perf_counter() - started)

    async with asyncio.TaskGroup() as group:
        begin = time.perf_counter()
        for index in range(count):
            await asyncio.sleep(max(0.0, begin + index / rate - time.perf_counter()))
            group.create_task(one())
    return latencies, errors


async def _collector_round_trips(
    tmp: Path, broker: Mosquitto, accounts: BrokerAccounts, pid_file: Path, agents: int, count: int, rate: float
) -> tuple[list[float], int]:
    config = CollectorConfig.model_validate(
        {
            "data_dir": str(tmp / "collector"),
            "ingest": {"verify_workers": 0},
            "live": {"url": broker.url, "accounts_dir": str(accounts.directory), "pid_file": str(pid_file)},
        }
    )
    store = open_store(config)
    engineer = store.create_user("bench", Role.ENGINEER, None, utcnow())[1]
    tokens = [store.create_enrol_token(f"hh-{i}", timedelta(hours=1), utcnow())[0] for i in range(agents)]
    store.close()
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            grants = []
            for token in tokens:
                async with session.post(
                    f"{base}/api/v1/enroll",
                    json={
                        "token": token,
                        "public_key": public_key_to_text(generate_private_key().public_key()),
                        "hostname": "bench",
                    },
                ) as answer:
                    body = await answer.json()
                grants.append(LiveGrant.model_validate(body["live"]))
            home, allowed = SmallHome(), Consent("allowed")
            channels = [LiveChannel(g.username, g, home, lambda: allowed) for g in grants]
            async with AsyncExitStack() as stack:
                for channel in channels:
                    await stack.enter_async_context(channel)
                await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in channels)), 60)
                headers = {"Authorization": f"Bearer {engineer}"}
                sequence = iter(range(count))

                async def send() -> None:
                    agent = grants[next(sequence) % len(grants)].username
                    async with session.post(
                        f"{base}/api/v1/agents/{agent}/live/device.state", json={"device_id": "plug-1"}, headers=headers
                    ) as answer:
                        if answer.status != 200:
                            raise RuntimeError(await answer.text())
                        await answer.read()

                return await _paced(count, rate, send)
    finally:
        await runner.cleanup()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


RAW_ROLES = ("echo", "asker")  # one account each: the broker binds client ids to accounts


async def _raw_round_trips(broker: Mosquitto, password: str, count: int, rate: float) -> tuple[list[float], int]:
    """The same request/response over plain MQTT v5: a publisher and a trivial echo responder."""
    loop = asyncio.get_running_loop()
    pending: dict[bytes, asyncio.Future[None]] = {}
    ready = threading.Event()

    def responder_message(client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        properties = Properties(PacketTypes.PUBLISH)
        properties.CorrelationData = getattr(message.properties, "CorrelationData", None)
        client.publish(getattr(message.properties, "ResponseTopic", ""), message.payload, qos=1, properties=properties)

    def requester_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        future = pending.get(getattr(message.properties, "CorrelationData", b""))
        if future is not None:
            loop.call_soon_threadsafe(_resolve, future)

    clients = []
    for role, on_message, topic in (
        ("echo", responder_message, "bench/req"),
        ("asker", requester_message, "bench/resp"),
    ):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{role}", protocol=mqtt.MQTTv5)
        client.username_pw_set(f"bench-{role}", password)
        client.on_message = on_message
        client.on_subscribe = lambda *_: ready.set()
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        ready.clear()
        client.subscribe(topic, qos=1)
        await asyncio.to_thread(ready.wait, 10)
        clients.append(client)
    asker = clients[1]

    async def send() -> None:
        correlation = uuid.uuid4().bytes
        properties = Properties(PacketTypes.PUBLISH)
        properties.ResponseTopic, properties.CorrelationData = "bench/resp", correlation
        future = pending[correlation] = loop.create_future()
        try:
            asker.publish(
                "bench/req", b'{"method":"device.state","params":{"device_id":"plug-1"}}', qos=1, properties=properties
            )
            await asyncio.wait_for(future, 10)
        finally:
            pending.pop(correlation, None)

    try:
        return await _paced(count, rate, send)
    finally:
        for client in clients:
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)


async def run(agents: int, rate: float, seconds: float) -> None:
    count = int(rate * seconds)
    with tempfile.TemporaryDirectory(prefix="homediag-bench-live-") as directory:
        tmp = Path(directory)
        accounts = BrokerAccounts(tmp / "broker", "homediag-collector")
        for role in RAW_ROLES:
            accounts.set_password(f"bench-{role}", "bench-raw")
        # The raw baseline's users may use their own topics: ACL lines for them, appended to the generated file.
        accounts.acl_file.write_text(
            accounts.acl_file.read_text()
            + "".join(f"\nuser bench-{role}\ntopic readwrite bench/#\n" for role in RAW_ROLES)
        )
        # The listener's rules as ``homediag-collector broker config`` prints them (client ids bound to accounts).
        rules = render_listener_auth(password_file=accounts.password_file, acl_file=accounts.acl_file)
        broker = Mosquitto(allow_anonymous=False, extra_config=rules + "max_queued_messages 10000\n")
        pid_file = tmp / "broker.pid"
        broker.start()
        try:
            pid_file.write_text(str(broker.pid))
            print(f"{agents} agents on the support broker, {rate:g} requests/s for {seconds:g} s ({count} requests)")
            # The baseline first: enrolments make the collector rewrite the ACL file, without the bench's users.
            raw, raw_errors = await _raw_round_trips(broker, "bench-raw", count, rate)
            live, live_errors = await _collector_round_trips(tmp, broker, accounts, pid_file, agents, count, rate)
        finally:
            broker.close()
    live_p50, live_p99 = _percentiles(live)
    raw_p50, raw_p99 = _percentiles(raw)
    print(f"collector live: p50 {live_p50:6.1f} ms  p99 {live_p99:6.1f} ms  errors {live_errors}")
    print(f"raw MQTT v5   : p50 {raw_p50:6.1f} ms  p99 {raw_p99:6.1f} ms  errors {raw_errors}")
    print(f"p99 ratio     : {live_p99 / raw_p99:.2f} (target <= 3, 0 errors)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(run(args.agents, args.rate, args.seconds))


if __name__ == "__main__":
    main()
