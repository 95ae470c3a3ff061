"""``homediag-lab``: bring a lab home up, inject faults into it, tear it down (see docs/lab.md).

homediag-lab up [--devices N] [--upnp]       build a home that outlives the command (state in /run/homediag-lab)
homediag-lab status [--id ID]                addresses, namespaces, processes (JSON)
homediag-lab fault KIND [ARGS] [--id ID]     router-reboot S | wan-outage S | dns-failure S | broker-crash [S]
                                             | broker-restart | power-off NAME | power-on NAME
                                             | crash-loop NAME RESTARTS INTERVAL | clock-step SECONDS
                                             | hub-unplugged S | weak-signal NAME [S]
homediag-lab down [--id ID]                  tear it down
homediag-lab cleanup [--detached]            remove leftovers of crashed runs (and, with --detached, 'up' labs)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from .faults import Fault
from .home import LabHome, cleanup_stale, find_state
from .netns import LabError


def _summary(lab: LabHome) -> dict[str, Any]:
    return {
        "id": lab.id,
        "state_file": str(lab.state_path),
        "workdir": str(lab.workdir),
        "namespaces": {
            "router": lab.router_ns,
            "hub": lab.hub_ns,
            "internet": lab.internet_ns,
            **{name: d.ns for name, d in lab.devices.items()},
        },
        "addresses": {
            "hub": lab.hub_ip,
            "gateway": lab.gateway_ip,
            "dns": lab.dns_ip,
            "internet": lab.internet_ip,
            **{name: d.ip for name, d in lab.devices.items()},
        },
        "broker": lab.broker_url,
        "broker_pid": lab._broker_pid(),
        "hub_iface": lab.hub_iface,
        "clock_offset_file": str(lab.clock_offset_file),
        "devices": {
            name: {"family": d.spec.family, "boot_count": d.boot_count, "powered": d.powered}
            for name, d in lab.devices.items()
        },
        "processes": [{"name": p.name, "pid": p.pid, "alive": p.alive, "log": str(p.log_path)} for p in lab.processes],
    }


def _up(args: argparse.Namespace) -> int:
    lab = LabHome(args.devices, upnp=args.upnp, report_interval=args.report_interval, detached=True)
    try:
        lab.build()
        lab.start_broker()
    except BaseException:
        lab.close()
        raise
    print(json.dumps(_summary(lab), indent=1))
    return 0


def _fault(args: argparse.Namespace) -> int:
    lab = LabHome.attach(find_state(lab_id=args.id))
    faults = lab.faults
    kind, params = args.kind, args.params

    def need(count: int, usage: str) -> list[str]:
        if len(params) != count:
            raise LabError(f"usage: homediag-lab fault {kind} {usage}")
        return params

    fault: Fault | None
    if kind == "router-reboot":
        (seconds,) = need(1, "SECONDS [--scheduled] [--no-bootid]")
        fault = faults.router_reboot(float(seconds), scheduled=args.scheduled, bootid=not args.no_bootid)
    elif kind == "wan-outage":
        fault = faults.wan_outage(float(need(1, "SECONDS")[0]))
    elif kind == "dns-failure":
        fault = faults.dns_failure(float(need(1, "SECONDS")[0]))
    elif kind == "broker-crash":
        fault = faults.broker_crash(float(params[0]) if params else None)
    elif kind == "broker-restart":
        need(0, "")
        fault = faults.broker_restart()
    elif kind == "power-off":
        fault = faults.device_power_off(need(1, "NAME")[0], graceless=args.graceless)
    elif kind == "power-on":
        fault = faults.device_power_on(need(1, "NAME")[0])
    elif kind == "crash-loop":
        name, restarts, interval = need(3, "NAME RESTARTS INTERVAL_S")
        fault = faults.device_crash_loop(name, int(restarts), float(interval))
    elif kind == "clock-step":
        fault = faults.hub_clock_step(float(need(1, "SECONDS")[0]))
    elif kind == "hub-unplugged":
        fault = faults.hub_unplugged(float(need(1, "SECONDS")[0]))
    elif kind == "weak-signal":
        if len(params) not in (1, 2):
            raise LabError("usage: homediag-lab fault weak-signal NAME [SECONDS]")
        fault = faults.device_weak_signal(params[0], float(params[1]) if len(params) == 2 else None)
    else:
        raise LabError(f"unknown fault {kind!r}")
    if fault is None:  # ended a fault injected by another invocation: say what was restored
        print(json.dumps({"kind": kind, "restored_at": datetime.now(UTC).isoformat()}))
    else:
        if fault._thread is not None:
            fault.wait()
        print(json.dumps(fault.to_dict()))
    lab.save_state()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="homediag-lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build a lab home that stays up")
    up.add_argument("--devices", type=int, default=5)
    up.add_argument("--upnp", action="store_true", help="run the router's SSDP announcer (BOOTID)")
    up.add_argument("--report-interval", type=float, default=5.0)
    for name in ("status", "down"):
        sub.add_parser(name).add_argument("--id")
    fault = sub.add_parser("fault", help="inject a fault (timed faults block until the home is restored)")
    fault.add_argument(
        "kind",
        choices=[
            "router-reboot",
            "wan-outage",
            "dns-failure",
            "broker-crash",
            "broker-restart",
            "power-off",
            "power-on",
            "crash-loop",
            "clock-step",
            "hub-unplugged",
            "weak-signal",
        ],
    )
    fault.add_argument("params", nargs="*")
    fault.add_argument("--id")
    fault.add_argument("--scheduled", action="store_true", help="router-reboot: a planned, graceful reboot")
    fault.add_argument("--no-bootid", action="store_true", help="router-reboot: keep the same BOOTID")
    fault.add_argument("--graceless", action="store_true", help="power-off: cut the link before the process")
    cleanup = sub.add_parser("cleanup", help="remove leftovers of crashed lab runs")
    cleanup.add_argument("--detached", action="store_true", help="also remove labs brought up with 'up'")
    cleanup.add_argument(
        "--orphans-older-than",
        type=float,
        default=300.0,
        metavar="S",
        help="also remove hdlab-* namespaces no state file claims, at least S seconds old",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        if args.command == "up":
            return _up(args)
        if args.command == "fault":
            return _fault(args)
        if args.command == "status":
            print(json.dumps(_summary(LabHome.attach(find_state(lab_id=args.id))), indent=1))
            return 0
        if args.command == "down":
            LabHome.attach(find_state(lab_id=args.id)).close()
            return 0
        removed = cleanup_stale(include_detached=args.detached, orphans_older_than_s=args.orphans_older_than)
        print(json.dumps({"removed": removed}))
        return 0
    except LabError as exc:
        print(f"homediag-lab: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"homediag-lab: bad argument: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
