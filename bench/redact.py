"""Redaction throughput on a synthetic 10 MB agent log: prints MB/s (no assertion)."""

from __future__ import annotations

import time

from shared.redact import Redactor

LINES = [
    "2026-11-24T12:00:01Z INFO monitor.gateway gateway 192.168.1.1 up rtt=3.2ms\n",
    "2026-11-24T12:00:02Z WARN discovery device aa:bb:cc:dd:ee:{n:02x} at 192.168.1.{n} hostname=plug-{n}.local\n",
    "2026-11-24T12:00:03Z DEBUG mqtt connect mqtt://homediag:s3cret@10.0.0.{n}:1883 client_id=agent\n",
    "2026-11-24T12:00:04Z INFO wifi ssid=\"Home WiFi\" rssi=-67 bssid=001122334455 v6 fe80::1ff:fe23:{n:x}\n",
    "2026-11-24T12:00:05Z INFO plain line without anything interesting in it, just words and numbers 12345\n",
]


def main() -> None:
    parts, size, n = [], 0, 0
    while size < 10 * 1024 * 1024:
        line = LINES[n % len(LINES)].format(n=n % 250)
        parts.append(line)
        size += len(line)
        n += 1
    text = "".join(parts)
    redactor = Redactor(b"bench-key")
    started = time.perf_counter()
    redactor.redact_text(text)
    elapsed = time.perf_counter() - started
    megabytes = len(text.encode()) / 1e6
    print(f"redact_text: {megabytes:.1f} MB in {elapsed:.2f} s = {megabytes / elapsed:.1f} MB/s")


if __name__ == "__main__":
    main()
