"""Tiny reachability probes the tests run *inside* a lab namespace: ``python -m lab.probe tcp|dns|icmp ...``.

Exit code 0 = success, 1 = failure; one line of JSON on stdout says what happened. Only used against lab
addresses (the namespace it runs in has no other route).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from agent.monitors.dns import dns_resolve
from agent.monitors.gateway import icmp_echo
from agent.monitors.internet import tcp_connect
from agent.monitors.result import ProbeResult


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.probe")
    parser.add_argument("--timeout", type=float, default=1.0)
    sub = parser.add_subparsers(dest="kind", required=True)
    p_tcp = sub.add_parser("tcp")
    p_tcp.add_argument("host")
    p_tcp.add_argument("port", type=int)
    p_dns = sub.add_parser("dns")
    p_dns.add_argument("name")
    p_dns.add_argument("server")
    p_icmp = sub.add_parser("icmp")
    p_icmp.add_argument("host")
    args = parser.parse_args(argv)
    result: ProbeResult
    if args.kind == "tcp":
        result = tcp_connect(args.host, args.port, args.timeout)
    elif args.kind == "dns":
        result = dns_resolve(args.name, args.server, args.timeout)
    else:
        result = icmp_echo(args.host, args.timeout)
    output: dict[str, object] = dataclasses.asdict(result) | ({} if result.ok else {"error": result.detail})
    if args.kind == "tcp":  # ``reachable``: the host answered at all (accept or refuse); ``open``: it accepted
        output |= {"open": result.ok, "reachable": result.ok or result.detail == "refused"}
    print(json.dumps(output))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
