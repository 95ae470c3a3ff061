"""Gateway reachability: an ICMP echo, and an ARP who-has on the hub's interface.

The gateway counts as reachable when either answers (some routers drop ICMP but always answer ARP). ARP needs
the interface to send on (the first of ``network.interfaces``) and a raw packet socket (root or
``CAP_NET_RAW``); without them the check falls back to ICMP alone (one warning in the log): a raw ICMP socket,
else the kernel's unprivileged ping socket (``net.ipv4.ping_group_range``). Both probes address only the
configured gateway. The frames are built and parsed here (``arp_request_frame``, ``arp_reply_mac``,
``icmp_echo_packet``, ``is_echo_reply``) rather than with scapy, whose import alone costs ~20 MB of RSS.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time

from .link import ipv4_addresses
from .result import ProbeResult, elapsed_ms, os_error

_LOGGER = logging.getLogger(__name__)
_arp_unavailable_logged = False
ETH_P_ARP = 0x0806


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
    icmp_type, _code, _sum, reply_id, _seq = struct.unpack("!BBHHH", ip_packet[header_len : header_len + 8])
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


def arp_request_frame(source_mac: bytes, source_ip: str, target_ip: str) -> bytes:
    """A broadcast Ethernet frame carrying an ARP who-has ``target_ip``."""
    arp = struct.pack(
        "!HHBBH6s4s6s4s",
        1,
        0x0800,
        6,
        4,
        1,
        source_mac,
        socket.inet_aton(source_ip),
        b"\x00" * 6,
        socket.inet_aton(target_ip),
    )
    return b"\xff" * 6 + source_mac + struct.pack("!H", ETH_P_ARP) + arp


def arp_reply_mac(frame: bytes, target_ip: str) -> str | None:
    """The sender MAC of an ARP reply from ``target_ip`` in an Ethernet frame; None for anything else."""
    if len(frame) < 42 or struct.unpack("!H", frame[12:14])[0] != ETH_P_ARP:
        return None
    _htype, ptype, _hlen, _plen, op, sha, spa = struct.unpack("!HHBBH6s4s", frame[14:32])
    if ptype != 0x0800 or op != 2 or socket.inet_ntoa(spa) != target_ip:
        return None
    return ":".join(f"{b:02x}" for b in sha)


def arp_request(interface: str, source_ip: str | None, host: str, timeout: float) -> ProbeResult | None:
    """One ARP who-has on ``interface`` over a raw packet socket; None when ARP cannot be used here (no
    ``CAP_NET_RAW``, no IPv4 address on the interface). Blocking."""
    global _arp_unavailable_logged
    started = time.monotonic()
    try:
        if source_ip is None:
            raise OSError(f"{interface} has no IPv4 address")
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    except OSError as exc:
        if not _arp_unavailable_logged:
            _LOGGER.warning("ARP probe unavailable (%s): the gateway is probed by ICMP only", os_error(exc))
            _arp_unavailable_logged = True
        return None
    with sock:
        try:
            sock.bind((interface, ETH_P_ARP))
            sock.send(arp_request_frame(sock.getsockname()[4], source_ip, host))
            while (left := started + timeout - time.monotonic()) > 0:
                sock.settimeout(left)
                mac = arp_reply_mac(sock.recv(128), host)
                if mac is not None:
                    return ProbeResult(True, elapsed_ms(started), f"arp: {mac}")
        except OSError as exc:
            return ProbeResult(False, detail=f"arp: {os_error(exc)}")
    return ProbeResult(False, detail="arp: timeout")


def check_gateway(host: str, interface: str | None, timeout: float, *, arp: bool = True) -> ProbeResult:
    icmp = icmp_echo(host, timeout)
    by_arp = None
    if arp and interface:
        source = next(iter(ipv4_addresses([interface])[interface]), None)
        by_arp = arp_request(interface, source, host, timeout)
    details = "; ".join(r.detail for r in (icmp, by_arp) if r is not None)
    answered = [r for r in (icmp, by_arp) if r is not None and r.ok]
    if not answered:
        return ProbeResult(False, detail=details)
    return ProbeResult(True, min(r.latency_ms or 0.0 for r in answered), details)
