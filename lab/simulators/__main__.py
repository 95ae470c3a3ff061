"""``python -m lab.simulators <family> --broker HOST:PORT --name NAME [options]`` (see docs/lab.md)."""

from __future__ import annotations

import argparse
import logging
import sys

from .families import FAMILIES
from .runner import Options, run


def parse_broker(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.simulators", description=__doc__)
    parser.add_argument("family", choices=sorted(FAMILIES))
    parser.add_argument("--broker", type=parse_broker, help="HOST:PORT (not needed by mDNS-only families)")
    parser.add_argument("--name", required=True, help="MQTT topic / node name / base topic")
    parser.add_argument("--count", type=int, default=1, help="simulate NAME-001..NAME-<count> in one process")
    parser.add_argument("--ip", default="127.0.0.1", help="the device's address (mDNS binds only to it)")
    parser.add_argument("--iface", help="interface whose carrier stands for Wi-Fi (default: always up)")
    parser.add_argument("--report-interval", type=float, default=5.0, help="seconds between periodic reports")
    parser.add_argument("--reconnect-delay", type=float, help="MQTT retry pace (default: the family's)")
    parser.add_argument("--keepalive", type=int, default=10, help="MQTT keepalive seconds")
    parser.add_argument("--boot-count", type=int, default=1)
    parser.add_argument("--restart-reason", help="default: the family's power-on reason")
    parser.add_argument("--rssi", type=int, default=-62, help="Wi-Fi signal in dBm")
    parser.add_argument("--boot-delay", type=float, default=0.0, help="seconds from boot to the first connect")
    parser.add_argument("--no-mdns", action="store_true", help="publish no mDNS services (MQTT load tests)")
    parser.add_argument(
        "--zigbee-devices", type=int, default=3, help="zigbee2mqtt: Zigbee devices behind the bridge (≤ 256)"
    )
    args = parser.parse_args(argv)
    family = FAMILIES[args.family]
    if family.uses_mqtt and args.broker is None:
        parser.error(f"{args.family} needs --broker HOST:PORT")
    if args.count < 1:
        parser.error("--count must be at least 1")
    if not 0 <= args.zigbee_devices <= 256:
        parser.error("--zigbee-devices must be 0..256")
    names = [args.name] if args.count == 1 else [f"{args.name}-{i:03d}" for i in range(1, args.count + 1)]
    host, port = args.broker if args.broker else (None, 0)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    return run(
        Options(
            family=family,
            names=names,
            broker_host=host,
            broker_port=port,
            ip=args.ip,
            iface=args.iface,
            report_interval=args.report_interval,
            reconnect_delay=family.reconnect_delay if args.reconnect_delay is None else args.reconnect_delay,
            keepalive=args.keepalive,
            boot_count=args.boot_count,
            restart_reason=args.restart_reason or family.power_on_reason,
            rssi_dbm=args.rssi,
            boot_delay=args.boot_delay,
            mdns=not args.no_mdns,
            zigbee_devices=args.zigbee_devices,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
