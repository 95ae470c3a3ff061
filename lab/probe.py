"""Tiny reachability probes the tests run *inside* a lab namespace: ``python -m lab.probe tcp|dns|icmp ...``.

Exit code 0 = success, 1 = failure; one line of JSON on stdout says what happened. Only used against lab
addresses (the namespace it runs in has no other route).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import time


def tcp(host: str, port: int, timeout: float) -> dict[str, object]:
    """``reachable`` is true when the host answered at all (accept or refuse); ``open`` when it accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return {"ok": True, "reachable": True, "open": True}
    except ConnectionRefusedError:
        return {"ok": False, "reachable": True, "open": False, "error": "refused"}
    except OSError as exc:
        return {"ok": False, "reachable": False, "open": False, "error": str(exc) or type(exc).__name__}


def dns_query_packet(name: str, query_id: int) -> bytes:
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.rstrip(".").split("."))
    return struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + labels + b"\x00" + struct.pack("!HH", 1, 1)


def parse_a_records(packet: bytes) -> list[str]:
    """IPv4 addresses in the answer section of a DNS response."""
    _qid, _flags, qdcount, ancount, _ns, _ar = struct.unpack("!HHHHHH", packet[:12])
    offset = 12

    def skip_name(pos: int) -> int:
        while True:
            length = packet[pos]
            if length & 0xC0 == 0xC0:
                return pos + 2
            if length == 0:
                return pos + 1
            pos += 1 + length

    for _ in range(qdcount):
        offset = skip_name(offset) + 4
    addresses = []
    for _ in range(ancount):
        offset = skip_name(offset)
        rtype, _rclass, _ttl, rdlength = struct.unpack("!HHIH", packet[offset:offset + 10])
        offset += 10
        if rtype == 1 and rdlength == 4:
            addresses.append(socket.inet_ntoa(packet[offset:offset + 4]))
        offset += rdlength
    return addresses


def dns(name: str, server: str, timeout: float) -> dict[str, object]:
    query_id = os.getpid() & 0xFFFF
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(dns_query_packet(name, query_id), (server, 53))
            packet, _ = sock.recvfrom(4096)
        except OSError as exc:
            return {"ok": False, "error": str(exc) or type(exc).__name__}
    addresses = parse_a_records(packet)
    return {"ok": bool(addresses), "addresses": addresses}


def icmp(host: str, timeout: float) -> dict[str, object]:
    """One ICMP echo over a raw socket (the lab runs as root)."""
    ident = os.getpid() & 0xFFFF
    header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    payload = b"homediag-lab"
    checksum_data = header + payload
    total = sum(struct.unpack(f"!{len(checksum_data) // 2}H", checksum_data))
    total = (total >> 16) + (total & 0xFFFF)
    checksum = ~(total + (total >> 16)) & 0xFFFF
    packet = struct.pack("!BBHHH", 8, 0, checksum, ident, 1) + payload
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        deadline = time.monotonic() + timeout
        try:
            sock.sendto(packet, (host, 0))
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                data, (source, _) = sock.recvfrom(1024)
                icmp_type, _code, _sum, reply_id, _seq = struct.unpack("!BBHHH", data[20:28])
                if icmp_type == 0 and reply_id == ident and source == host:
                    return {"ok": True}
        except OSError as exc:
            return {"ok": False, "error": str(exc) or type(exc).__name__}
    return {"ok": False, "error": "timeout"}


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
    if args.kind == "tcp":
        result = tcp(args.host, args.port, args.timeout)
    elif args.kind == "dns":
        result = dns(args.name, args.server, args.timeout)
    else:
        result = icmp(args.host, args.timeout)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
