"""The one MQTT session adapter against a real Mosquitto: receive, survive a broker restart, bound its queue,
verify TLS, leave its will behind on a clean close, send small packets without Nagle's delay, driven by the event
loop (no thread of paho's), reading the socket in large pieces."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.certs import make_server_certificate
from lab.mosquitto import Mosquitto
from shared.broker_url import parse_broker_url
from shared.models import utcnow
from shared.mqtt_session import READ_BURST, RECV_SIZE, Message, MqttProtocol, MqttSession, NotConnected, Reconnect, Will
from tests.nodelay import nodelay, peer_nodelay
from tests.waiting import eventually

pytestmark = pytest.mark.broker

FAST = Reconnect(min_s=0.05, max_s=0.2, healthy_s=1.0)


async def _publish(broker: Mosquitto, topic: str, *payloads: str, retain: bool = False) -> None:
    """Publish with Mosquitto's own client: an independent publisher, not the adapter under test."""
    for payload in payloads:
        command = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1", "-t", topic, "-m", payload]
        process = await asyncio.create_subprocess_exec(*command, *(["-r"] if retain else []))
        assert await process.wait() == 0


def _session(broker: Mosquitto, *filters: str, **options: object) -> MqttSession:
    return MqttSession(
        parse_broker_url(broker.url),
        subscriptions=lambda: [(topic_filter, 1) for topic_filter in filters],
        reconnect=FAST,
        **options,  # type: ignore[arg-type]
    )


async def _receive(session: MqttSession) -> Message:
    return await asyncio.wait_for(session.receive(), 5)


async def test_connects_subscribes_and_receives(mosquitto: Mosquitto) -> None:
    ups: list[bool] = []
    async with _session(mosquitto, "home/+/state", on_up=ups.append) as session:
        await asyncio.wait_for(session.connected.wait(), 5)
        await _publish(mosquitto, "home/kitchen/state", "on")
        message = await _receive(session)
    assert (message.topic, message.payload, message.retain) == ("home/kitchen/state", b"on", False)
    assert ups == [True, False]  # lost on leaving, and told so


def _both_ends_without_nagle(session: MqttSession, broker: Mosquitto) -> bool:
    """Our socket and the broker's end of it: with Nagle on either, a request or answer waited for the delayed
    ACK of the one before (docs/performance.md, live request)."""
    client = session._client
    assert client is not None
    ours = client.socket()
    assert isinstance(ours, socket.socket)
    return nodelay(ours) and peer_nodelay(broker.pid, ours)


async def test_both_ends_of_a_session_send_small_packets_at_once(mosquitto: Mosquitto) -> None:
    async with _session(mosquitto, "home/#") as session:
        await asyncio.wait_for(session.connected.wait(), 5)
        assert _both_ends_without_nagle(session, mosquitto)
        await asyncio.to_thread(mosquitto.kill)
        await asyncio.to_thread(mosquitto.start)
        await eventually(lambda: session.connected.is_set() and session.attempts == 2, what="the second session")
        assert _both_ends_without_nagle(session, mosquitto)  # every session's socket, not the first one's


async def test_a_broker_restart_reconnects_and_subscribes_again(mosquitto: Mosquitto) -> None:
    async with _session(mosquitto, "home/#") as session:
        await asyncio.wait_for(session.connected.wait(), 5)
        await asyncio.to_thread(mosquitto.kill)
        await eventually(lambda: not session.connected.is_set(), what="the session noticing the crash")
        with pytest.raises(NotConnected):
            session.publish("home/x", "while down")
        await asyncio.to_thread(mosquitto.start)
        await asyncio.wait_for(session.connected.wait(), 10)
        # The broker kept nothing (persistence off): only a new subscription delivers this.
        await _publish(mosquitto, "home/hall/state", "after restart")
        assert (await _receive(session)).payload == b"after restart"


async def test_a_full_queue_drops_and_counts_the_newest(mosquitto: Mosquitto) -> None:
    async with _session(mosquitto, "flood/#", queue_size=3) as session:
        await asyncio.wait_for(session.connected.wait(), 5)
        await _publish(mosquitto, "flood/a", *(str(n) for n in range(8)))
        await eventually(lambda: session.dropped == 5, what="five messages dropped")
        kept = [(await _receive(session)).payload for _ in range(3)]
    assert kept == [b"0", b"1", b"2"]  # what waited is kept; memory never grows past the bound
    assert session.received == 3


async def test_with_a_hand_off_window_a_burst_crosses_whole_and_in_order(mosquitto: Mosquitto) -> None:
    """``hand_off_s``: the loop reads a burst at once, a window after its first message arrived; nothing is lost
    or reordered, and a later burst is read on its own."""
    async with _session(mosquitto, "burst/#", hand_off_s=1.0) as session:
        await asyncio.wait_for(session.connected.wait(), 5)
        lines = "".join(f"{n}\n" for n in range(20)).encode()
        for burst in range(2):
            sent = utcnow()
            publisher = await asyncio.create_subprocess_exec(
                "mosquitto_pub", "-h", mosquitto.host, "-p", str(mosquitto.port), "-t", f"burst/{burst}", "-l",
                stdin=asyncio.subprocess.PIPE,
            )  # fmt: skip
            await publisher.communicate(lines)
            assert publisher.returncode == 0
            messages = [await _receive(session) for _ in range(20)]
            assert [m.payload for m in messages] == [str(n).encode() for n in range(20)]
            assert {m.topic for m in messages} == {f"burst/{burst}"}
            (read_at,) = {m.received_at for m in messages}  # read in one turn, so one arrival time
            assert read_at - sent > timedelta(seconds=0.8)  # after the window, which the first one opened
    assert session.received == 40 and session.dropped == 0


async def test_tls_verifies_the_broker_certificate(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shared.mqtt_session")
    certificate = make_server_certificate(tmp_path / "tls")
    with Mosquitto(tls=certificate) as broker:
        async with _session(broker, "secure/#", ca_file=certificate.ca_file) as trusted:
            await asyncio.wait_for(trusted.connected.wait(), 5)
            assert trusted.address.tls
            assert _both_ends_without_nagle(trusted, broker)  # an SSLSocket's option is its TCP socket's
        # Without our CA, the system's CAs do not vouch for the broker: no session, and retrying.
        async with _session(broker, "secure/#") as untrusted:
            await eventually(
                lambda: sum("CERTIFICATE_VERIFY_FAILED" in r.getMessage() for r in caplog.records) >= 2,
                what="two attempts refused for the certificate",
            )
            assert not untrusted.connected.is_set()


async def test_a_clean_close_leaves_the_will_and_the_birth_is_retained(mosquitto: Mosquitto) -> None:
    status = "agents/a1/status"
    async with _session(mosquitto, "agents/+/status") as watcher:
        await asyncio.wait_for(watcher.connected.wait(), 5)
        owner = _session(
            mosquitto,
            "agents/a1/req/#",
            protocol=MqttProtocol.V5,
            will=Will(status, "offline"),
            birth=Will(status, "online"),
        )
        async with owner:
            await asyncio.wait_for(owner.connected.wait(), 5)
            assert (await _receive(watcher)).payload == b"online"
        assert (await _receive(watcher)).payload == b"offline"  # v5 "disconnect with will message"


async def test_a_home_broker_session_speaks_mqtt_311(mosquitto: Mosquitto) -> None:
    await _publish(mosquitto, "tele/plug/LWT", "Online", retain=True)
    async with _session(mosquitto, "tele/+/LWT", protocol=MqttProtocol.V311) as session:
        message = await _receive(session)
    assert (message.payload, message.retain) == (b"Online", True)


async def test_an_unforeseen_error_is_logged_and_retried_not_silent(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """An invalid will (QoS 3) raises in our code, a failing subscriptions list in paho's thread:
    both are logged with their traceback and the session keeps trying."""
    async with _session(mosquitto, will=Will("agents/a1/status", "offline", qos=3)) as bad_will:
        await eventually(lambda: bad_will.attempts >= 2, what="a retry after the error")
    assert any(r.exc_info and isinstance(r.exc_info[1], ValueError) for r in caplog.records)

    calls = 0

    def subscriptions_failing_once() -> list[tuple[str, int]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("owner bug")
        return [("home/#", 1)]

    session = MqttSession(parse_broker_url(mosquitto.url), subscriptions=subscriptions_failing_once, reconnect=FAST)
    async with session:
        await asyncio.wait_for(session.connected.wait(), 5)
    assert session.attempts == 2
    assert any(r.exc_info and "owner bug" in str(r.exc_info[1]) for r in caplog.records)


async def test_the_event_loop_drives_the_socket_with_no_thread_of_pahos(mosquitto: Mosquitto) -> None:
    """Reads, writes and keepalive run on the loop: a message or an answer never waits for another thread."""
    async with _session(mosquitto, "home/#") as receiver, _session(mosquitto) as sender:
        await asyncio.wait_for(asyncio.gather(receiver.connected.wait(), sender.connected.wait()), 5)
        assert not [thread.name for thread in threading.enumerate() if thread.name.startswith("paho")]
        sender.publish("home/hall/state", "on")
        client = sender._client
        assert client is not None and not client.want_write()  # written at once, not at the loop's next turn
        assert (await _receive(receiver)).payload == b"on"


async def _one_record_broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Just enough of an MQTT v5 broker over TLS: it answers the subscription with SUBACK and three PUBLISHes
    written at once, so all four packets travel in one TLS record (as a broker or a TLS proxy that coalesces
    its writes sends them)."""

    async def packet() -> bytes:
        header = await reader.readexactly(2)  # our packets here are short: one byte of remaining length
        return header + await reader.readexactly(header[1])

    assert (await packet())[0] == 0x10  # CONNECT
    writer.write(bytes([0x20, 3, 0, 0, 0]))  # CONNACK: accepted, no properties
    subscribe = await packet()
    assert subscribe[0] == 0x82
    burst = bytes([0x90, 4, *subscribe[2:4], 0, 1])  # SUBACK for its packet id, QoS 1 granted
    for payload in (b"one", b"two", b"three"):
        body = len(b"burst/a").to_bytes(2, "big") + b"burst/a" + b"\x00" + payload  # no properties
        burst += bytes([0x30, len(body)]) + body
    writer.write(burst)
    await writer.drain()
    await reader.read()  # until the client leaves
    writer.close()


async def test_packets_sharing_one_tls_record_are_all_read(tmp_path: Path) -> None:
    """The SSL object decrypts a whole record; what paho has not read of it yet is no longer visible to the
    event loop's selector, so the session reads on while the SSL object holds some."""
    certificate = make_server_certificate(tmp_path / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    server = await asyncio.start_server(_one_record_broker, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        session = MqttSession(
            parse_broker_url(f"mqtts://127.0.0.1:{port}"),
            subscriptions=lambda: [("burst/#", 1)],
            reconnect=FAST,
            ca_file=certificate.ca_file,
        )
        async with session:
            payloads = [(await _receive(session)).payload for _ in range(3)]
    assert payloads == [b"one", b"two", b"three"]


async def test_more_than_the_socket_takes_at_once_goes_when_writable_in_order(mosquitto: Mosquitto) -> None:
    """4 MB published while the broker is stopped, through a 64 KB send buffer: the socket takes part of it,
    the rest leaves as it becomes writable once the broker reads again."""
    count, body = 4000, b"x" * 1024
    async with (
        _session(mosquitto, "burst/#", queue_size=count) as receiver,
        _session(mosquitto) as sender,
    ):
        await asyncio.wait_for(asyncio.gather(receiver.connected.wait(), sender.connected.wait()), 5)
        client = sender._client
        assert client is not None
        sock = client.socket()
        assert isinstance(sock, socket.socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        os.kill(mosquitto.pid, signal.SIGSTOP)
        try:
            for number in range(count):
                sender.publish("burst/a", b"%d " % number + body, qos=0)
            assert client.want_write()  # more than the socket took
        finally:
            os.kill(mosquitto.pid, signal.SIGCONT)
        received = [(await _receive(receiver)).payload.split()[0] for _ in range(count)]
    assert received == [b"%d" % number for number in range(count)]


async def test_an_owner_handling_each_message_at_once_survives_its_own_bug(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """``on_message`` instead of the queue: a handler that raises for one message is logged, and the session
    and the handler go on with the next."""
    handled: list[bytes] = []

    def handle(message: Message) -> None:
        if message.payload == b"bad":
            raise RuntimeError("owner bug")
        handled.append(message.payload)

    async with _session(mosquitto, "home/#", on_message=handle) as session:
        await asyncio.wait_for(session.connected.wait(), 5)
        await _publish(mosquitto, "home/hall/state", "bad", "good")
        await eventually(lambda: handled == [b"good"], what="the message after the bad one")
        assert session.connected.is_set() and session.attempts == 1 and session.received == 2
    assert any(r.exc_info and "owner bug" in str(r.exc_info[1]) for r in caplog.records)


async def test_an_idle_session_keeps_itself_alive(mosquitto: Mosquitto) -> None:
    """Nothing to send for eight keepalive periods: the session pings the broker (paho's ``loop_misc``, called
    by the session once a second), so the broker, which drops a client silent for 1.5 periods (Mosquitto 2.0
    notices within about five seconds), keeps it."""
    async with _session(mosquitto, "home/#", keepalive_s=1) as session:
        await asyncio.wait_for(session.connected.wait(), 5)
        await asyncio.sleep(8)
        assert session.connected.is_set() and session.attempts == 1
        await _publish(mosquitto, "home/hall/state", "still here")
        assert (await _receive(session)).payload == b"still here"


async def _burst_through(broker: Mosquitto, payloads: list[bytes], hand_off_s: float = 0.3) -> list[bytes]:
    """What a session reading a window after the first arrival receives of ``payloads`` published back to back:
    the broker's writes pile up in its socket meanwhile, so its reads take many packets, or part of one, at once."""
    async with (
        _session(broker, "pieces/#", hand_off_s=hand_off_s, queue_size=len(payloads)) as receiver,
        _session(broker) as sender,
    ):
        await asyncio.wait_for(asyncio.gather(receiver.connected.wait(), sender.connected.wait()), 5)
        for payload in payloads:
            sender.publish("pieces/a", payload, qos=0)
        return [(await _receive(receiver)).payload for _ in payloads]


async def test_more_packets_held_than_one_turn_reads_are_read_on_the_next(mosquitto: Mosquitto) -> None:
    """Many small packets arrive in one read from the socket, more than one turn of the loop handles: what is
    held is unread for the selector, so the session reads on by itself instead of waiting for the next packet."""
    payloads = [b"%d" % number for number in range(5 * READ_BURST)]
    assert await _burst_through(mosquitto, payloads) == payloads


async def test_a_flood_under_a_read_window_is_read_on_not_a_window_per_turn(mosquitto: Mosquitto) -> None:
    """The window gathers a burst before the first read; it does not meter a flood. Twenty turns' worth of
    packets read a window per turn would take forty seconds; they all arrive within a few of the window."""
    payloads = [b"%d" % number for number in range(20 * READ_BURST)]
    async with asyncio.timeout(10):
        assert await _burst_through(mosquitto, payloads, hand_off_s=2.0) == payloads


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(
        st.integers(0, 300) | st.integers(0, 300) | st.integers(RECV_SIZE - 600, 3 * RECV_SIZE), max_size=150
    )
)
async def test_a_burst_read_in_large_pieces_arrives_whole_and_in_order(mosquitto: Mosquitto, sizes: list[int]) -> None:
    """Packets of any sizes mixed, small ones many to a piece and large ones across pieces, each split wherever
    the socket's reads end: every payload arrives whole and in order."""
    payloads = [b"%d:" % number + bytes([number % 251]) * size for number, size in enumerate(sizes)]
    assert await _burst_through(mosquitto, payloads) == payloads
