"""The ARP adapter's decisions: what it sweeps, what it keeps, and its fallback."""

from __future__ import annotations

from pathlib import Path

from agent.discovery.arp import kernel_neighbours, neighbour_updates, sweep_targets


def test_sweep_stays_within_a_slash_24_around_the_hub() -> None:
    assert len(sweep_targets("10.7.0.2", "255.255.255.0")) == 253
    wide = sweep_targets("10.7.3.2", "255.255.0.0")
    assert len(wide) == 253 and all(ip.startswith("10.7.3.") for ip in wide)


def test_neighbours_become_updates_keyed_by_mac(tmp_path: Path) -> None:
    table = tmp_path / "arp"
    table.write_text(
        "IP address       HW type     Flags       HW address            Mask     Device\n"
        "10.7.0.10        0x1         0x2         02:aa:bb:cc:dd:ee     *        eth0\n"
        "10.7.0.11        0x1         0x0         00:00:00:00:00:00     *        eth0\n"
        "10.9.0.12        0x1         0x2         02:aa:bb:cc:dd:ff     *        wlan0\n"
    )
    pairs = kernel_neighbours("eth0", table)
    assert pairs == [("10.7.0.10", "02:aa:bb:cc:dd:ee")]
    [update] = neighbour_updates([*pairs, ("10.7.0.13", "00:00:00:00:00:00")], "eth0")
    assert update.keys == ("mac:02:aa:bb:cc:dd:ee",) and update.ips == ("10.7.0.10",)
