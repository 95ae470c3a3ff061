"""Gateway reachability: an ICMP echo, and an ARP request when scapy can use a raw link-layer socket.

The gateway counts as reachable when either answers (some routers drop ICMP but always answer ARP). ARP needs
the interface to send on (the first of ``network.interfaces``) and raw sockets (root or ``CAP_NET_RAW``);
without them the check falls back to ICMP alone: a raw ICMP socket, else the kernel's unprivileged ping socket
(``net.ipv4.ping_group_range``). Both probes address only the configured gateway.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time

from .result import ProbeResult, elapsed_ms, os_error

_LOGGER = logging.getLogger(__name__)
_arp_unavailable_logged = False


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


def icmp_echo(host: str, timeout: float) -> ProbeResult:
    """One echo over a raw socket; without raw sockets the kernel's ping socket if allowed. Blocking."""
    ident = (os.getpid() ^ threading.get_ident()) & 0xFFFF
    started = time.monotonic()
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        raw = True
    except PermissionError:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
        except OSError as exc:
            return ProbeResult(False, detail=f"no ICMP socket: {os_error(exc)}")
        raw = False
    with sock:
        deadline = started + timeout
        try:
            sock.sendto(icmp_echo_packet(ident, 1), (host, 0))
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                data, (source, _) = sock.recvfrom(2048)
                if source == host and (not raw or is_echo_reply(data, ident)):
                    return ProbeResult(True, elapsed_ms(started), "icmp")
        except OSError as exc:
            return ProbeResult(False, detail=f"icmp: {os_error(exc)}")
    return ProbeResult(False, detail="icmp: timeout")


def arp_request(interface: str, host: str, timeout: float) -> ProbeResult | None:
    """One ARP who-has on ``interface`` via scapy; None when ARP cannot be used here (no scapy, no raw socket)."""
    global _arp_unavailable_logged  # noqa: PLW0603 - a warning logged once per process
    started = time.monotonic()
    try:
        from scapy.config import conf
        from scapy.layers.l2 import ARP, Ether
        from scapy.sendrecv import srp1

        conf.verb = 0
        answer = srp1(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=host), iface=interface, timeout=timeout)
    except (ImportError, PermissionError, OSError) as exc:
        if not _arp_unavailable_logged:
            _LOGGER.warning("ARP probe unavailable (%s): the gateway is probed by ICMP only", exc)
            _arp_unavailable_logged = True
        return None
    if answer is None:
        return ProbeResult(False, detail="arp: timeout")
    return ProbeResult(True, elapsed_ms(started), f"arp: {answer[ARP].hwsrc}")


def check_gateway(host: str, interface: str | None, timeout: float, *, arp: bool = True) -> ProbeResult:
    icmp = icmp_echo(host, timeout)
    by_arp = arp_request(interface, host, timeout) if arp and interface else None
    details = "; ".join(r.detail for r in (icmp, by_arp) if r is not None)
    answered = [r for r in (icmp, by_arp) if r is not None and r.ok]
    if not answered:
        return ProbeResult(False, detail=details)
    return ProbeResult(True, min(r.latency_ms or 0.0 for r in answered), details)
