"""Whether an end of a TCP connection has Nagle's algorithm off (``TCP_NODELAY``), ours or another process's.

A broker's end lives in the broker's process: ``pidfd_getfd`` (Linux ≥ 5.6) lends the test a duplicate of its
descriptor to read the option from; the test skips where the kernel refuses that (ptrace restrictions).
"""

from __future__ import annotations

import ctypes
import os
import socket

import pytest

_SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture


def nodelay(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def peer_nodelay(pid: int, ours: socket.socket) -> bool:
    """The option on process ``pid``'s end of the connection whose other end is ``ours``."""
    libc = ctypes.CDLL(None, use_errno=True)
    local = ours.getsockname()
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            duplicate = libc.syscall(_SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if duplicate < 0:
                pytest.skip(f"pidfd_getfd refused: {os.strerror(ctypes.get_errno())}")
            try:
                theirs = socket.socket(fileno=duplicate)
            except OSError:  # not a socket
                os.close(duplicate)
                continue
            with theirs:
                try:
                    if theirs.type == socket.SOCK_STREAM and theirs.getpeername() == local:
                        return nodelay(theirs)
                except OSError:  # a listening socket has no peer
                    continue
    finally:
        os.close(pidfd)
    raise AssertionError(f"process {pid} holds no end of the connection from {local}")
