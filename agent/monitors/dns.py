"""DNS resolution against the configured resolver: one A query per configured name, built and parsed here."""

from __future__ import annotations

import os
import socket
import struct
import time

from .result import ProbeResult, elapsed_ms, os_error


def dns_query_packet(name: str, query_id: int) -> bytes:
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.rstrip(".").split("."))
    return struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + labels + b"\x00" + struct.pack("!HH", 1, 1)


def parse_a_records(packet: bytes) -> list[str]:
    """IPv4 addresses in the answer section of a DNS response; malformed packets give none."""
    try:
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
            rtype, _rclass, _ttl, rdlength = struct.unpack("!HHIH", packet[offset : offset + 10])
            offset += 10
            if rtype == 1 and rdlength == 4:
                addresses.append(socket.inet_ntoa(packet[offset : offset + 4]))
            offset += rdlength
        return addresses
    except (struct.error, IndexError):
        return []


def dns_resolve(name: str, server: str, timeout: float) -> ProbeResult:
    """One A query over UDP. Blocking."""
    query_id = int.from_bytes(os.urandom(2), "big")
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(dns_query_packet(name, query_id), (server, 53))
            packet, _ = sock.recvfrom(4096)
        except OSError as exc:
            return ProbeResult(False, detail=os_error(exc))
    addresses = parse_a_records(packet)
    if not addresses:
        return ProbeResult(False, detail=f"no A record for {name}")
    return ProbeResult(True, elapsed_ms(started), ",".join(addresses))


def check_dns(server: str, names: list[str], timeout: float) -> ProbeResult:
    results = [dns_resolve(name, server, timeout) for name in names]
    failed = [f"{name}: {r.detail}" for name, r in zip(names, results, strict=True) if not r.ok]
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    return ProbeResult(
        not failed,
        max(latencies) if latencies else None,
        "; ".join(failed) or f"{len(names)} names resolved via {server}",
    )
