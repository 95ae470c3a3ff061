"""Reachability probes on the wire: ICMP echo, a DNS A query, a TCP connect.

The packet builders and parsers are pure; the probe functions are blocking (a few socket calls with a
timeout) and are run in a thread by the monitors. They address only what the caller passes: the agent takes
every target from its configuration.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float | None = None
    detail: str = ""


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def icmp_echo_packet(ident: int, sequence: int, payload: bytes = b"homediag") -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, ident, sequence)
    return struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, sequence) + payload


def is_echo_reply(ip_packet: bytes, ident: int) -> bool:
    """An IPv4 packet from a raw ICMP socket: is it the echo reply to ``ident``?"""
    header_len = (ip_packet[0] & 0x0F) * 4 if ip_packet else 0
    if len(ip_packet) < header_len + 8:
        return False
    icmp_type, _code, _sum, reply_id, _seq = struct.unpack("!BBHHH", ip_packet[header_len:header_len + 8])
    return icmp_type == 0 and reply_id == ident


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
            rtype, _rclass, _ttl, rdlength = struct.unpack("!HHIH", packet[offset:offset + 10])
            offset += 10
            if rtype == 1 and rdlength == 4:
                addresses.append(socket.inet_ntoa(packet[offset:offset + 4]))
            offset += rdlength
        return addresses
    except (struct.error, IndexError):
        return []


def _error(exc: OSError) -> str:
    return str(exc) or type(exc).__name__


def icmp_echo(host: str, timeout: float) -> ProbeResult:
    """One echo over a raw socket (root, or CAP_NET_RAW); without it the kernel's ping socket if allowed."""
    ident = (os.getpid() ^ threading.get_ident()) & 0xFFFF
    started = time.monotonic()
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        raw = True
    except PermissionError:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
        except OSError as exc:
            return ProbeResult(False, detail=f"no ICMP socket: {_error(exc)}")
        raw = False
    with sock:
        deadline = started + timeout
        try:
            sock.sendto(icmp_echo_packet(ident, 1), (host, 0))
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                data, (source, _) = sock.recvfrom(2048)
                if source != host:
                    continue
                if not raw or is_echo_reply(data, ident):
                    return ProbeResult(True, (time.monotonic() - started) * 1000)
        except OSError as exc:
            return ProbeResult(False, detail=_error(exc))
    return ProbeResult(False, detail="timeout")


def dns_resolve(name: str, server: str, timeout: float) -> ProbeResult:
    query_id = int.from_bytes(os.urandom(2), "big")
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(dns_query_packet(name, query_id), (server, 53))
            packet, _ = sock.recvfrom(4096)
        except OSError as exc:
            return ProbeResult(False, detail=_error(exc))
    addresses = parse_a_records(packet)
    if not addresses:
        return ProbeResult(False, detail=f"no A record for {name}")
    return ProbeResult(True, (time.monotonic() - started) * 1000, ",".join(addresses))


def tcp_connect(host: str, port: int, timeout: float) -> ProbeResult:
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ProbeResult(True, (time.monotonic() - started) * 1000)
    except ConnectionRefusedError:
        return ProbeResult(False, detail="refused")
    except OSError as exc:
        return ProbeResult(False, detail=_error(exc))
