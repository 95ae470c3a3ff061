"""Live-state round trip: engineer → collector API → support broker → agent → back, against raw MQTT.

``python -m bench.live [--agents 200] [--rate 50] [--seconds 30] [--round-s 1]``: a real Mosquitto with the
project's password and ACL files, a collector on loopback with live state on, ``agents`` real ``LiveChannel``s
(the agent's code, answering from a small in-memory home). Engineer requests go to ``POST
/api/v1/agents/{id}/live/device.state`` at ``rate`` per second; the raw MQTT v5 baseline is the same request
published by a second relay account (as a replica's) to a trivial echo responder logged in as one more enrolled
agent: the same broker, topic tree and ACL. The two alternate in rounds of ``round_s`` seconds (``seconds`` of
each in all), so a change in the machine's load hits both alike. Prints p50/p99 and errors for both and the
ratios (target: p99 ≤ 2 ×, 0 errors). Nothing is asserted.

Processes as in the field: the hubs (the agents and the echo responder) run in a process of their own, as they
run on their own machines; the collector, the engineer's client and the raw asker share this one. (With the 200
agents' threads in the collector's process, the live path's store and relay hand-offs waited behind them for the
interpreter lock: that measured the bench, not the collector.)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import timedelta
from multiprocessing.connection import Connection
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
from shared.live import LiveGrant, agent_tree, request_topic, response_topic
from shared.models import utcnow
from shared.mqtt_session import without_nagle
from shared.signing import generate_private_key, public_key_to_text

Send = Callable[[], Awaitable[None]]
RAW_RELAY = "bench-raw"  # the raw baseline's asker: a relay account of its own, as a second replica would have
REQUEST = b'{"method":"device.state","params":{"device_id":"plug-1"}}'
PARAMS = {"device_id": "plug-1"}


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


async def _paced(count: int, rate: float, send: Send) -> tuple[list[float], int]:
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


@asynccontextmanager
async def _collector(tmp: Path, broker: Mosquitto, accounts: BrokerAccounts, pid_file: Path) -> AsyncIterator[str]:
    """A collector with live state on, on loopback; yields its base URL."""
    config = CollectorConfig.model_validate(
        {
            "data_dir": str(tmp / "collector"),
            "ingest": {"verify_workers": 0},
            "live": {"url": broker.url, "accounts_dir": str(accounts.directory), "pid_file": str(pid_file)},
        }
    )
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _engineer_and_tokens(data_dir: Path, agents: int) -> tuple[str, list[str]]:
    store = open_store(CollectorConfig.model_validate({"data_dir": str(data_dir)}))
    try:
        engineer = store.create_user("bench", Role.ENGINEER, None, utcnow())[1]
        tokens = [store.create_enrol_token(f"hh-{i}", timedelta(hours=1), utcnow())[0] for i in range(agents)]
    finally:
        store.close()
    return engineer, tokens


async def _enrol(session: aiohttp.ClientSession, base: str, tokens: list[str]) -> list[LiveGrant]:
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
    return grants


def _live_sender(session: aiohttp.ClientSession, base: str, engineer: str, grants: list[LiveGrant]) -> Send:
    """Each call asks the next agent in turn through the collector's API."""
    headers = {"Authorization": f"Bearer {engineer}"}
    sequence = iter(range(1 << 62))

    async def send() -> None:
        agent = grants[next(sequence) % len(grants)].username
        async with session.post(
            f"{base}/api/v1/agents/{agent}/live/device.state", json=PARAMS, headers=headers
        ) as answer:
            if answer.status != 200:
                raise RuntimeError(await answer.text())
            await answer.read()

    return send


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _raw_client(username: str, password: str, port: int, on_message: Any, topic: str) -> mqtt.Client:
    """A plain paho v5 client, subscribed, with Nagle off as every session of the project has it."""
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    client.on_socket_open = without_nagle
    client.on_message = on_message
    client.on_subscribe = lambda *_: ready.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(topic, qos=1)
    if not ready.wait(10):
        raise RuntimeError(f"{username} was not subscribed to {topic}")
    return client


def _close_raw_client(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def _echo_message(client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
    """The raw baseline's responder: the request's payload back to its response topic, in paho's thread."""
    properties = Properties(PacketTypes.PUBLISH)
    properties.CorrelationData = getattr(message.properties, "CorrelationData", None)
    client.publish(getattr(message.properties, "ResponseTopic", ""), message.payload, qos=1, properties=properties)


async def _hubs(port: int, grants: list[LiveGrant], echo: LiveGrant, parent: Connection) -> None:
    """The agents' live channels and the echo responder, until the parent says stop."""
    home, allowed = SmallHome(), Consent("allowed")
    async with AsyncExitStack() as stack:
        channels = [LiveChannel(g.username, g, home, lambda: allowed) for g in grants]
        for channel in channels:
            await stack.enter_async_context(channel)
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in channels)), 60)
        responder = await asyncio.to_thread(
            _raw_client, echo.username, echo.password, port, _echo_message, f"{agent_tree(echo.username)}/req/#"
        )
        stack.push_async_callback(asyncio.to_thread, _close_raw_client, responder)
        parent.send("ready")
        await asyncio.to_thread(parent.recv)


def _run_hubs(port: int, grants: list[dict[str, Any]], echo: dict[str, Any], parent: Connection) -> None:
    asyncio.run(_hubs(port, [LiveGrant.model_validate(g) for g in grants], LiveGrant.model_validate(echo), parent))


@contextmanager
def _hubs_process(port: int, grants: list[LiveGrant], echo: LiveGrant) -> Iterator[None]:
    """The hubs in a process of their own (in the field each is a machine of its own), up and answering."""
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of the bench's loop inherited
    ours, theirs = spawn.Pipe()
    process = spawn.Process(
        target=_run_hubs,
        args=(port, [g.model_dump() for g in grants], echo.model_dump(), theirs),
        name="bench-live-hubs",
    )
    process.start()
    try:
        if not ours.poll(120) or ours.recv() != "ready":
            raise RuntimeError("the hubs' process did not get every agent onto the broker")
        yield
    finally:
        if process.is_alive():
            ours.send("stop")
            process.join(30)
        if process.is_alive():
            process.kill()
            process.join()


@asynccontextmanager
async def _raw_asker(port: int, relay_password: str, echo: LiveGrant) -> AsyncIterator[Send]:
    """The same request/response over plain MQTT v5: the relay's topics, answered by the hubs' echo responder."""
    loop = asyncio.get_running_loop()
    pending: dict[bytes, asyncio.Future[None]] = {}

    def asker_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        future = pending.get(getattr(message.properties, "CorrelationData", b""))
        if future is not None:
            loop.call_soon_threadsafe(_resolve, future)

    asker = await asyncio.to_thread(
        _raw_client, RAW_RELAY, relay_password, port, asker_message, response_topic(echo.username, RAW_RELAY)
    )

    async def send() -> None:
        correlation = uuid.uuid4().bytes
        properties = Properties(PacketTypes.PUBLISH)
        properties.ResponseTopic = response_topic(echo.username, RAW_RELAY)
        properties.CorrelationData = correlation
        future = pending[correlation] = loop.create_future()
        try:
            asker.publish(request_topic(echo.username, "device.state"), REQUEST, qos=1, properties=properties)
            await asyncio.wait_for(future, 10)
        finally:
            pending.pop(correlation, None)

    try:
        yield send
    finally:
        await asyncio.to_thread(_close_raw_client, asker)


async def _alternate(
    live: Send, raw: Send, rate: float, seconds: float, round_s: float
) -> tuple[tuple[list[float], int], tuple[list[float], int]]:
    """Rounds of ``round_s`` seconds, live then raw, until each had ``seconds``: latencies and errors of both."""
    per_round = max(1, int(rate * round_s))
    latencies: dict[Send, list[float]] = {live: [], raw: []}
    errors = dict.fromkeys((live, raw), 0)
    for _ in range(max(1, round(seconds / round_s))):
        for send in (live, raw):
            round_latencies, round_errors = await _paced(per_round, rate, send)
            latencies[send] += round_latencies
            errors[send] += round_errors
    return (latencies[live], errors[live]), (latencies[raw], errors[raw])


async def run(agents: int, rate: float, seconds: float, round_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="homediag-bench-live-") as directory:
        tmp = Path(directory)
        # The raw asker's relay account: the collector's own accounts keep its ACL block (the relays file).
        accounts = BrokerAccounts(tmp / "broker", RAW_RELAY)
        relay_password = uuid.uuid4().hex
        accounts.set_password(RAW_RELAY, relay_password)
        # The listener's rules as ``homediag-collector broker config`` prints them (client ids bound to accounts).
        rules = render_listener_auth(password_file=accounts.password_file, acl_file=accounts.acl_file)
        broker = Mosquitto(allow_anonymous=False, extra_config=rules + "max_queued_messages 10000\n")
        pid_file = tmp / "broker.pid"
        broker.start()
        try:
            pid_file.write_text(str(broker.pid))
            engineer, tokens = _engineer_and_tokens(tmp / "collector", agents + 1)
            print(
                f"{agents} agents on the support broker, {rate:g} requests/s, live and raw alternately in rounds of"
                f" {round_s:g} s, {seconds:g} s of each"
            )
            async with (
                _collector(tmp, broker, accounts, pid_file) as base,
                aiohttp.ClientSession() as session,
                AsyncExitStack() as stack,
            ):
                grants = await _enrol(session, base, tokens)
                echo = grants.pop()  # one more enrolled agent, answered by the raw echo responder
                stack.enter_context(_hubs_process(broker.port, grants, echo))
                raw = await stack.enter_async_context(_raw_asker(broker.port, relay_password, echo))
                live = _live_sender(session, base, engineer, grants)
                figures = await _alternate(live, raw, rate, seconds, round_s)
        finally:
            broker.close()
    (live_latencies, live_errors), (raw_latencies, raw_errors) = figures
    live_p50, live_p99 = _percentiles(live_latencies)
    raw_p50, raw_p99 = _percentiles(raw_latencies)
    print(f"collector live: p50 {live_p50:6.1f} ms  p99 {live_p99:6.1f} ms  errors {live_errors}")
    print(f"raw MQTT v5   : p50 {raw_p50:6.1f} ms  p99 {raw_p99:6.1f} ms  errors {raw_errors}")
    print(f"p50 ratio     : {live_p50 / raw_p50:.2f}")
    print(f"p99 ratio     : {live_p99 / raw_p99:.2f} (target <= 2, 0 errors)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0)
    # 30 s: 1,500 samples a side, so p99 is the 15th-worst sample, not the 5th (which moved run to run).
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--round-s", type=float, default=1.0)
    args = parser.parse_args()
    asyncio.run(run(args.agents, args.rate, args.seconds, args.round_s))


if __name__ == "__main__":
    main()
