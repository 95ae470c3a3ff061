"""mDNS across the lab's LAN bridge: services of our simulators (python-zeroconf) and of avahi-daemon."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import yaml

from agent.discovery.mdns import Service, bind_addresses, parse_service
from lab import netns
from lab.home import DeviceSpec
from tests.configs import agent_config

pytestmark = pytest.mark.lab

AGENT = str(Path(sys.executable).with_name("homediag-agent"))
AVAHI_CONF = """[server]
use-ipv4=yes
use-ipv6=no
allow-interfaces=br0
enable-dbus=no
host-name=hue-bridge-lab
ratelimit-interval-usec=0
[publish]
publish-addresses=yes
publish-hinfo=no
publish-workstation=no
[reflector]
enable-reflector=no
"""
HUE_SERVICE = """<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>Philips Hue - 1A2B3C</name>
  <service><type>_hue._tcp</type><port>443</port>
    <txt-record>bridgeid=001788fffe1a2b3c</txt-record><txt-record>modelid=BSB002</txt-record>
  </service>
</service-group>
"""


def test_txt_records_decode_per_type() -> None:
    sonos = parse_service(Service("_sonos._tcp.local.", "Sonos-1._sonos._tcp.local.", {"bootseq": "7", "model": "S27"}))
    assert sonos is not None and sonos.boot_seq == 7 and sonos.family == "sonos"
    hap = parse_service(
        Service("_hap._tcp.local.", "Eve._hap._tcp.local.", {"id": "AA:BB:CC:DD:EE:FF", "md": "Eve Energy", "sf": "0"})
    )
    assert hap is not None and hap.keys == ("hap:aa:bb:cc:dd:ee:ff",) and hap.attributes["paired"] is True
    esp = parse_service(
        Service(
            "_esphomelib._tcp.local.",
            "kitchen._esphomelib._tcp.local.",
            {"mac": "a4cf12aabbcc", "version": "2024.12.4"},
            ("10.0.0.5",),
        )
    )
    assert (
        esp is not None and esp.macs == ("a4cf12aabbcc",) and esp.firmware == "2024.12.4" and esp.ips == ("10.0.0.5",)
    )
    matter = parse_service(Service("_matterc._udp.local.", "ABC._matterc._udp.local.", {"vp": "4874+77", "dn": "Plug"}))
    assert matter is not None and matter.attributes["vendor_product"] == "4874+77"
    assert parse_service(Service("_http._tcp.local.", "x._http._tcp.local.", {})) is None


def test_discovers_zeroconf_and_avahi_services_across_the_bridge(lab_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lab = lab_factory(
        devices=[
            DeviceSpec("speaker", "sonos", 2.0),
            DeviceSpec("eve", "homekit", 2.0),
            DeviceSpec("node", "esphome", 2.0),
        ]
    )
    etc = netns.NETNS_ETC_DIR / lab.router_ns / "avahi"
    (etc / "services").mkdir(parents=True)
    (etc / "avahi-daemon.conf").write_text(AVAHI_CONF)
    (etc / "services" / "hue.service").write_text(HUE_SERVICE)
    avahi = lab.spawn(
        lab.router_ns,
        ["avahi-daemon", "--no-drop-root", "--no-chroot", "--no-rlimits", "-f", "/etc/avahi/avahi-daemon.conf"],
        name="avahi",
    )
    config = tmp_path / "agent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "network": {"interfaces": [lab.hub_iface]},
                "discovery": {"arp": True},
            }
        )
    )
    time.sleep(1.0)  # let avahi announce
    done = lab.run(lab.hub_ns, [AGENT, "-c", str(config), "discover", "--json", "--seconds", "6"], timeout=60)
    devices = json.loads(done.stdout)["devices"]
    by_family = {d["family"]: d for d in devices}
    assert {"sonos", "homekit", "esphome", "hue_bridge"} <= set(by_family), (devices, avahi.log_tail())
    assert by_family["hue_bridge"]["model"] == "BSB002" and by_family["hue_bridge"]["ips"] == [lab.gateway_ip]
    assert by_family["homekit"]["model"] == "Eve Energy"
    assert by_family["esphome"]["firmware"] and by_family["esphome"]["macs"]
    assert by_family["sonos"]["macs"] and by_family["homekit"]["macs"]  # the ARP sweep merged by address
    assert all(ip.startswith(f"10.{lab.lan_octet}.0.") for d in devices for ip in d["ips"])


def test_mdns_binds_only_to_what_the_configuration_names(tmp_path: Path) -> None:
    nothing = agent_config(tmp_path)
    assert bind_addresses(nothing) == []  # no interface configured: no multicast at all, never "all interfaces"
    named = agent_config(tmp_path, network={"interfaces": ["lo"]})
    assert bind_addresses(named) == ["127.0.0.1"]
    explicit = agent_config(tmp_path, discovery={"mdns_addresses": ["10.9.0.2"]})
    assert bind_addresses(explicit) == ["10.9.0.2"]
