"""The I/O side of a device simulator: MQTT connection and reconnects, the Wi-Fi link, mDNS registration.

One process simulates ``--count`` devices of one family (each its own MQTT client). The network interface's
carrier stands in for Wi-Fi association: when it drops, every connection is abandoned without a word (the
broker notices through the keepalive or a takeover, and publishes the will), ``Downtime`` accumulates; when it
returns ``LinkCount`` rises and each device reconnects at its family's pace. Uptime keeps counting: a network
outage is not a reboot. Only a new process (``--boot-count`` + 1, ``--restart-reason``) is a reboot.
SIGUSR1 moves the devices out of good range (the signal drops to ``WEAK_RSSI_DBM``), SIGUSR2 back to ``--rssi``.
"""

from __future__ import annotations

import logging
import signal
import socket
import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .families import Family, Snapshot

logger = logging.getLogger(__name__)
WEAK_RSSI_DBM = -86  # far from the access point: still connected, but below the -80 dBm where trouble starts


@dataclass
class Options:
    family: Family
    names: list[str]
    broker_host: str | None
    broker_port: int
    ip: str
    iface: str | None
    report_interval: float
    reconnect_delay: float
    keepalive: int
    boot_count: int
    restart_reason: str
    rssi_dbm: int
    weak: bool = False  # out of good range now (SIGUSR1/SIGUSR2)
    zigbee_devices: int = 3
    boot_delay: float = 0.0
    mdns: bool = True  # registering is slow (probing, one service after the other): big MQTT loads turn it off


class Link:
    """The carrier of ``iface`` (``/sys/class/net/<iface>/carrier``); no interface = always up."""

    def __init__(self, iface: str | None) -> None:
        self.path = Path(f"/sys/class/net/{iface}/carrier") if iface else None
        self.link_count = 1
        self.downtime_s = 0.0
        self._down_since: float | None = None

    def up(self) -> bool:
        if self.path is None:
            return True
        try:
            return self.path.read_text().strip() == "1"
        except OSError:  # EINVAL while the interface is administratively down
            return False

    def update(self, now: float) -> tuple[bool, bool]:
        """(up, changed)."""
        up = self.up()
        was_up = self._down_since is None
        if was_up and not up:
            self._down_since = now
        elif not was_up and up:
            assert self._down_since is not None
            self.downtime_s += now - self._down_since
            self._down_since = None
            self.link_count += 1
        return up, up != was_up

    def total_downtime(self, now: float) -> float:
        return self.downtime_s + (now - self._down_since if self._down_since is not None else 0.0)


@dataclass
class SimulatedDevice:
    name: str
    opts: Options
    link: Link
    boot_monotonic: float
    client: mqtt.Client | None = None
    connected: bool = False
    mqtt_count: int = 0
    next_attempt: float = 0.0
    next_report: float = 0.0

    def snapshot(self, now: float) -> Snapshot:
        return Snapshot(
            name=self.name,
            ip=self.opts.ip,
            boot_count=self.opts.boot_count,
            restart_reason=self.opts.restart_reason,
            uptime_s=now - self.boot_monotonic,
            link_count=self.link.link_count,
            downtime_s=self.link.total_downtime(now),
            mqtt_count=self.mqtt_count,
            rssi_dbm=WEAK_RSSI_DBM if self.opts.weak else self.opts.rssi_dbm,
            now=datetime.now(UTC),
            zigbee_devices=self.opts.zigbee_devices,
        )

    # -- connection ----------------------------------------------------------------------------------------
    def connect(self, now: float) -> None:
        family = self.opts.family
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.name, protocol=mqtt.MQTTv311)
        will = family.will(self.snapshot(now))
        if will is not None:
            client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.connect_timeout = 2.0
        assert self.opts.broker_host is not None
        try:
            client.connect(self.opts.broker_host, self.opts.broker_port, keepalive=self.opts.keepalive)
        except OSError as exc:
            logger.info("%s: broker unreachable (%s); retry in %.1fs", self.name, exc, self.opts.reconnect_delay)
            self.next_attempt = time.monotonic() + self.opts.reconnect_delay
            return
        self.client = client

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason_code: object, properties: object
    ) -> None:
        if getattr(reason_code, "is_failure", False):
            logger.info("%s: connection refused: %s", self.name, reason_code)
            return
        now = time.monotonic()
        self.connected = True
        self.mqtt_count += 1
        first = self.mqtt_count == 1
        logger.info("%s: connected (MqttCount %d)", self.name, self.mqtt_count)
        for message in self.opts.family.on_connect(self.snapshot(now), first):
            client.publish(message.topic, message.payload, qos=1 if message.retain else 0, retain=message.retain)
        self.next_report = now + self.opts.report_interval

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason_code: object, properties: object
    ) -> None:
        logger.info("%s: disconnected (%s)", self.name, reason_code)
        self._drop()

    def _drop(self) -> None:
        self.client = None
        self.connected = False
        self.next_attempt = time.monotonic() + self.opts.reconnect_delay

    def abandon(self) -> None:
        """Wi-Fi lost: the socket is closed without DISCONNECT (RST with linger 0, dropped on a dead link)."""
        if self.client is not None:
            sock = self.client.socket()
            if isinstance(sock, socket.socket):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.close()
                except OSError:
                    pass
            logger.info("%s: Wi-Fi lost, connection abandoned", self.name)
        self._drop()

    def step(self, now: float, link_up: bool) -> None:
        if self.client is None:
            if link_up and now >= self.next_attempt:
                self.connect(now)
            return
        rc = self.client.loop(timeout=0.0)
        if rc != mqtt.MQTT_ERR_SUCCESS and self.client is not None:
            logger.info("%s: connection lost (%s)", self.name, mqtt.error_string(rc))
            self._drop()
            return
        if self.connected and now >= self.next_report:
            for message in self.opts.family.report(self.snapshot(now)):
                self.client.publish(message.topic, message.payload, retain=message.retain)
            self.next_report = now + self.opts.report_interval

    def shutdown(self) -> None:
        """A planned restart/shutdown: the device says Offline itself, then disconnects cleanly."""
        client = self.client
        if client is None or not self.connected:
            return
        will = self.opts.family.will(self.snapshot(time.monotonic()))
        if will is not None:
            sent = client.publish(will.topic, will.payload, qos=1, retain=will.retain)
            # No thread of paho's reads here: the PUBACK arrives only through loop() (waiting on the message alone
            # always took the whole second, and the lab's teardown killed the device meanwhile).
            deadline = time.monotonic() + 1.0
            while not sent.is_published() and time.monotonic() < deadline:
                if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                    break
        client.disconnect()
        client.loop(timeout=0.2)


def _register_mdns(opts: Options, devices: list[SimulatedDevice], now: float):  # type: ignore[no-untyped-def]
    from zeroconf import ServiceInfo, Zeroconf

    services = [service for device in devices for service in opts.family.services(device.snapshot(now))]
    if not services:
        return None
    zc = Zeroconf(interfaces=[opts.ip])  # the lab address only, never all interfaces
    for service in services:
        info = ServiceInfo(
            service.type_,
            f"{service.instance}.{service.type_}",
            port=service.port,
            properties=service.properties,
            addresses=[socket.inet_aton(opts.ip)],
            server=f"{service.instance}.local.",
        )
        zc.register_service(info, allow_name_change=True)
    logger.info("mDNS: %d services registered on %s", len(services), opts.ip)
    return zc


def run(opts: Options) -> int:
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    def on_range(signum: int, frame: object) -> None:
        opts.weak = signum == signal.SIGUSR1
        logger.info("signal %s", "weak" if opts.weak else "back to normal")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGUSR1, on_range)
    signal.signal(signal.SIGUSR2, on_range)
    boot = time.monotonic()
    link = Link(opts.iface)
    devices = [SimulatedDevice(name, opts, link, boot, next_attempt=boot + opts.boot_delay) for name in opts.names]
    logger.info(
        "%s x%d booted (boot %d, reason %r)", opts.family.name, len(devices), opts.boot_count, opts.restart_reason
    )
    zc = _register_mdns(opts, devices, boot) if opts.mdns else None
    uses_mqtt = opts.family.uses_mqtt and opts.broker_host is not None
    try:
        while not stopping:
            now = time.monotonic()
            up, changed = link.update(now)
            if changed:
                logger.info("link %s (LinkCount %d)", "up" if up else "down", link.link_count)
                for device in devices:
                    if up:  # Wi-Fi back: MQTT follows at the family's retry pace
                        device.next_attempt = now + opts.reconnect_delay
                    else:
                        device.abandon()
            if uses_mqtt:
                for device in devices:
                    device.step(now, up)
            time.sleep(0.05)
    finally:
        if uses_mqtt:
            for device in devices:
                device.shutdown()
        if zc is not None:
            zc.unregister_all_services()
            zc.close()
    return 0
