"""A small SSDP announcer standing in for the router's miniupnpd: ``python -m lab.ssdp --ip LAN_IP --bootid N``.

On start it multicasts ``ssdp:alive`` NOTIFYs (root device + IGD) carrying ``BOOTID.UPNP.ORG`` to
239.255.255.250:1900 out of ``--ip``, repeats them every ``--interval`` seconds, answers M-SEARCH, and on SIGTERM
sends ``ssdp:byebye`` (a graceful shutdown; a SIGKILL says nothing, like a power cut). Runs only in the lab's
router namespace; :func:`notify` is pure (the agent's ``parse_headers`` reads what it sends).
"""

from __future__ import annotations

import argparse
import contextlib
import select
import signal
import socket
import struct
import sys
import time

from agent.monitors.ssdp import parse_headers

SSDP_GROUP = "239.255.255.250"
SSDP_PORT = 1900
CONFIGID = 1
SERVER = "Linux/6.1 UPnP/1.1 MiniUPnPd/2.3.7"
TYPES = ("upnp:rootdevice", "urn:schemas-upnp-org:device:InternetGatewayDevice:1")


def _headers(uuid: str, nt: str, ip: str, bootid: int) -> list[str]:
    usn = f"uuid:{uuid}::{nt}"
    return [
        f"LOCATION: http://{ip}:5000/rootDesc.xml",
        f"SERVER: {SERVER}",
        f"USN: {usn}",
        f"BOOTID.UPNP.ORG: {bootid}",
        f"CONFIGID.UPNP.ORG: {CONFIGID}",
        "CACHE-CONTROL: max-age=120",
    ]


def notify(uuid: str, nt: str, ip: str, bootid: int, nts: str = "ssdp:alive") -> bytes:
    lines = [
        "NOTIFY * HTTP/1.1",
        f"HOST: {SSDP_GROUP}:{SSDP_PORT}",
        f"NT: {nt}",
        f"NTS: {nts}",
        *_headers(uuid, nt, ip, bootid),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def search_response(uuid: str, st: str, ip: str, bootid: int) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"ST: {st}", "EXT:", *_headers(uuid, st, ip, bootid)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.ssdp")
    parser.add_argument("--ip", required=True, help="the router's LAN address (multicast goes out there)")
    parser.add_argument("--bootid", type=int, required=True)
    parser.add_argument("--uuid", required=True)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between repeated announcements")
    args = parser.parse_args(argv)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    out.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(args.ip))
    out.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
    listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen.bind(("", SSDP_PORT))
    listen.setsockopt(
        socket.IPPROTO_IP,
        socket.IP_ADD_MEMBERSHIP,
        struct.pack("4s4s", socket.inet_aton(SSDP_GROUP), socket.inet_aton(args.ip)),
    )

    def announce(nts: str) -> None:
        for nt in TYPES:
            # The link may be down for a moment; the next round repeats it.
            with contextlib.suppress(OSError):
                out.sendto(notify(args.uuid, nt, args.ip, args.bootid, nts), (SSDP_GROUP, SSDP_PORT))

    # UPnP asks for the initial announcement to be sent more than once (UDP is lossy).
    next_announce = time.monotonic()
    burst = 3
    while not stopping:
        now = time.monotonic()
        if now >= next_announce:
            announce("ssdp:alive")
            burst -= 1
            next_announce = now + (0.5 if burst > 0 else args.interval)
        readable, _, _ = select.select([listen], [], [], 0.2)
        if readable:
            data, sender = listen.recvfrom(2048)
            start, headers = parse_headers(data)
            if start.startswith("M-SEARCH") and headers.get("ST") in (*TYPES, "ssdp:all"):
                for st in TYPES if headers["ST"] == "ssdp:all" else (headers["ST"],):
                    out.sendto(search_response(args.uuid, st, args.ip, args.bootid), sender)
    announce("ssdp:byebye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
