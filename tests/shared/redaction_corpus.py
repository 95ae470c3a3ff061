"""A planted-secret corpus: a random household's bundle files with known identifiers and secrets in them.

Every planted value is recorded with its kind. ``expected_counts`` is an oracle independent of the redactor:
it counts, with plain boundary-aware searches over the input, how often each planted value occurs in every
spelling it was planted in; ``leaks`` lists planted values still present after redaction. The same corpus
feeds the test (tests/shared/test_redaction_corpus.py) and the bench (bench/redact.py).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

from agent.diagnosis import diagnose, fault_focus
from shared.models import Device, EventKind, EventState, Inventory, TimelineEvent, Trigger, TriggerKind
from shared.profiles import load_profiles

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
_WORDS = ["kitchen", "hall", "garden", "attic", "study", "porch", "garage", "lounge", "cellar", "nursery"]
_NON_HEX = "ghijklmnopqrstuvwxyz"


@dataclass
class Plant:
    kind: str  # replaced kind (mac, ipv4, …) or removed kind prefixed with "-" (-password, …)
    spellings: tuple[str, ...]  # every way it was written into the corpus
    context: str = r"(?<![0-9A-Za-z])"  # what must precede a spelling for it to count


@dataclass
class Corpus:
    files: dict[str, bytes]
    trigger: Trigger
    plants: list[Plant] = field(default_factory=list)
    device_ids: list[str] = field(default_factory=list)

    def _texts(self) -> list[str]:
        return [
            *(data.decode() for data in self.files.values()),
            *self.files,
            self.trigger.signature or "",
            self.trigger.summary or "",
        ]

    @cached_property
    def _finder(self) -> tuple[list[re.Pattern[str]], dict[str, str]]:
        """One pattern per context over every spelling, and spelling -> kind."""
        by_context: dict[str, list[str]] = {}
        kinds: dict[str, str] = {}
        for plant in self.plants:
            by_context.setdefault(plant.context, []).extend(plant.spellings)
            kinds.update(dict.fromkeys(plant.spellings, plant.kind))
        patterns = [
            re.compile(context + "(" + _longest_first(spellings) + ")(?![0-9A-Za-z])")
            for context, spellings in by_context.items()
        ]
        return patterns, kinds

    def expected_counts(self) -> tuple[Counter[str], Counter[str]]:
        patterns, kinds = self._finder
        found = Counter(
            kinds[spelling] for pattern in patterns for text in self._texts() for spelling in pattern.findall(text)
        )
        replaced = Counter({kind: n for kind, n in found.items() if not kind.startswith("-")})
        removed = Counter({kind[1:]: n for kind, n in found.items() if kind.startswith("-")})
        return replaced, removed

    def leaks(self, redacted_texts: list[str]) -> list[str]:
        patterns, kinds = self._finder
        return sorted(
            {
                f"{kinds[spelling]}: {spelling}"
                for pattern in patterns
                for text in redacted_texts
                for spelling in pattern.findall(text)
            }
        )


def _longest_first(words: list[str]) -> str:
    """A regex matching any of ``words``, the longest that fits first, like an alternation sorted by length but
    shaped as a trie (one branch per next character): an alternation of thousands of words is tried word by word
    at every position, and made the bench's oracle take minutes."""
    ends = "" in words
    by_first: dict[str, list[str]] = {}
    for word in words:
        if word:
            by_first.setdefault(word[0], []).append(word[1:])
    branches = [re.escape(first) + _longest_first(rest) for first, rest in sorted(by_first.items())]
    if not branches:
        return ""
    return "(?:" + "|".join(branches) + ")" + ("?" if ends else "")


class _Planter:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.plants: list[Plant] = []
        self._used: set[str] = set()

    def _unique(self, make) -> str:  # type: ignore[no-untyped-def]
        while True:
            value = make()
            if value not in self._used:
                self._used.add(value)
                return value

    def plant(self, kind: str, *spellings: str, context: str = r"(?<![0-9A-Za-z])") -> None:
        self.plants.append(Plant(kind, tuple(dict.fromkeys(spellings)), context))

    def mac(self) -> str:
        # never a locally administered first byte: those are what pseudonyms look like
        hex12 = self._unique(
            lambda: (
                f"{self.rng.choice([0x00, 0xA4, 0x7C, 0x24, 0xB8, 0xDC]):02x}"
                + "".join(f"{self.rng.randrange(256):02x}" for _ in range(5))
            )
        )
        pairs = [hex12[i : i + 2] for i in range(0, 12, 2)]
        spellings = [
            ":".join(pairs),
            ":".join(pairs).upper(),
            "-".join(pairs),
            "-".join(pairs).upper(),
            "_".join(pairs),
            hex12,
            hex12.upper(),
            ".".join(hex12[i : i + 4] for i in range(0, 12, 4)),
            "%3A".join(pairs),
        ]
        self.plant("mac", *spellings)
        self.plant("mac", hex12[6:], hex12[6:].upper(), context=r"(?<=[0-9A-Za-z][-_])")
        return hex12

    def eui64(self) -> str:
        value = self._unique(lambda: "00124b" + "".join(f"{self.rng.randrange(256):02x}" for _ in range(5)))
        self.plant("eui64", "0x" + value)
        return "0x" + value

    def ipv4(self, private: bool = True) -> str:
        if private:
            value = self._unique(lambda: f"192.168.{self.rng.randrange(256)}.{self.rng.randrange(2, 250)}")
        else:
            value = self._unique(
                lambda: (
                    f"{self.rng.choice([81, 93, 185, 212])}.{self.rng.randrange(256)}."
                    f"{self.rng.randrange(256)}.{self.rng.randrange(1, 250)}"
                )
            )
        self.plant("ipv4", value, context=r"(?<![0-9.])")
        return value

    def ipv6(self) -> str:
        value = self._unique(
            lambda: (
                "2a02:810d:"
                + ":".join(f"{self.rng.randrange(1, 65536):x}" for _ in range(2))
                + "::"
                + f"{self.rng.randrange(1, 65536):x}"
            )
        )
        self.plant("ipv6", value)
        return value

    def word(self, length: int = 6) -> str:
        return "".join(self.rng.choice(_NON_HEX) for _ in range(length))

    def hostname(self) -> str:
        value = self._unique(lambda: f"{self.rng.choice(_WORDS)}-{self.word(4)}")
        self.plant("hostname", value)
        return value

    def ssid(self) -> str:
        value = self._unique(lambda: f"{self.word(5).title()} {self.rng.choice(['WiFi', 'Net', 'Home', '5G'])}")
        self.plant("ssid", value)
        return value

    def email(self) -> str:
        value = self._unique(lambda: f"{self.word(5)}.{self.word(4)}@{self.word(6)}.example.com")
        self.plant("email", value)
        return value

    def phone(self) -> str:
        value = self._unique(
            lambda: self.rng.choice(
                [
                    f"+49 1{self.rng.randrange(50, 80)} {self.rng.randrange(1000000, 9999999)}",
                    f"+1-{self.rng.randrange(200, 999)}-{self.rng.randrange(200, 999)}-{self.rng.randrange(1000, 9999)}",
                    f"+86 1{self.rng.randrange(30, 99)} {self.rng.randrange(1000, 9999)} {self.rng.randrange(1000, 9999)}",
                    f"13{self.rng.randrange(100000000, 999999999)}",
                ]
            )
        )
        self.plant("phone", value, context=r"(?<![0-9A-Za-z+])")
        return value

    def serial(self) -> str:
        value = self._unique(lambda: "SN" + self.word(3).upper() + str(self.rng.randrange(10**6, 10**7)))
        self.plant("serial", value)
        return value

    def secret(self, kind: str) -> str:
        value = self._unique(lambda: f"{self.word(4)}{self.rng.randrange(10**5, 10**6)}{self.word(4).upper()}")
        self.plant("-" + kind, value)
        return value


_FAMILIES = ("arp", "shelly", "tasmota", "zigbee", "esphome")


def make_corpus(seed: int, devices: int = 12, log_lines: int = 12, flaps: int = 1) -> Corpus:
    """A household of ``devices`` devices with every file kind a bundle carries, planted with identifiers."""
    rng = random.Random(seed)
    p = _Planter(rng)
    router_ip, public_ip, hub_ip = p.ipv4(), p.ipv4(private=False), p.ipv4()
    hub_v6 = p.ipv6()
    home_ssid, hub_host, owner = p.ssid(), p.hostname(), p.email()
    wifi_psk, mqtt_password = p.secret("psk"), p.secret("password")
    coordinator = p.eui64()
    inventory: list[Device] = []
    events: list[TimelineEvent] = []
    logs: dict[str, list[str]] = {}
    ids: list[str] = []

    def event(
        at: datetime, kind: EventKind, state: EventState | None, device_id: str | None = None, **detail: object
    ) -> None:
        events.append(TimelineEvent(ts=at, kind=kind, state=state, source="test", device_id=device_id, detail=detail))

    for index in range(devices):
        family = _FAMILIES[index % len(_FAMILIES)]
        mac = p.mac()
        pairs = [mac[i : i + 2] for i in range(0, 12, 2)]
        ip = p.ipv4()
        name = f"{rng.choice(_WORDS).title()} plug {index}"
        identifiers: list[str] = []
        parent = None
        if family == "arp":
            device_id = "mac:" + ":".join(pairs)
        elif family == "shelly":
            device_id = f"shelly:shellyplus1pm-{mac}"
            identifiers.append(f"shelly:shellyplus1pm-{mac}")
        elif family == "tasmota":
            device_id = f"tasmota:tasmota_{mac[6:].upper()}"
            identifiers.append(f"topic:tele/tasmota_{mac[6:].upper()}/LWT")
        elif family == "zigbee":
            device_id = f"ieee:{p.eui64()}"
            parent = f"ieee:{coordinator}"
        else:
            device_id = f"esphome:esphome-web-{mac[6:]}"
        ids.append(device_id)
        serial = p.serial()
        inventory.append(
            Device(
                id=device_id,
                name=name,
                family=family,
                identifiers=[device_id, *identifiers],
                macs=["-".join(pairs).upper() if index % 2 else ":".join(pairs)],
                ips=[ip],
                parent_id=parent,
                first_seen=NOW - timedelta(days=30),
                last_seen=NOW,
                available=True,
                attributes={
                    "ssid": home_ssid,
                    "serial_number": serial,
                    "hostname": p.hostname(),
                    "mqtt_password": p.secret("password"),
                    "ip_address": ip,
                    "bssid": mac if index % 3 == 0 else "_".join(pairs),
                },
            )
        )
        offline = NOW - timedelta(hours=2, minutes=index)
        for flap in range(flaps):
            gone = offline - timedelta(hours=flap * 3)
            event(
                gone,
                EventKind.DEVICE_AVAILABILITY,
                EventState.OFFLINE,
                device_id,
                topic=f"tele/tasmota_{mac[6:].upper()}/LWT",
            )
            event(gone + timedelta(minutes=20), EventKind.DEVICE_AVAILABILITY, EventState.ONLINE, device_id, ip=ip)
        lines = logs.setdefault(device_id, [])
        token, key, phone, url_password = p.secret("token"), p.secret("key"), p.phone(), p.secret("url_credentials")
        neighbour, dongle = p.ipv4(), p.serial()
        for line in range(log_lines):
            at = (offline + timedelta(seconds=line)).isoformat()
            lines.append(
                rng.choice(
                    [
                        f"{at} INFO joined {home_ssid!r} as {':'.join(pairs).upper()} from {ip}",
                        f"{at} DEBUG GET http://{ip}/rpc?access_token={token}&id=1 mac={'%3A'.join(pairs)}",
                        f"{at} WARN wifi: SSID: {home_ssid}",
                        f"{at} INFO Authorization: Bearer {token}",
                        f"{at} DEBUG api_key={key} cisco {'.'.join(mac[i : i + 4] for i in range(0, 12, 4))}",
                        f"{at} INFO owner {owner} phone {phone} S/N: {serial}",
                        f"{at} INFO mqtt://hub:{url_password}@{hub_host}.local:1883 up, v6 {hub_v6}",
                        f"{at} DEBUG neighbour {'-'.join(pairs)} at {neighbour} via {router_ip}",
                        f"{at} INFO wan {public_ip} ok, dongle /dev/serial/by-id/usb-ITead_Sonoff_Dongle_{dongle}-if00-port0",
                    ]
                )
            )
    signature = f"device_offline:{ids[0]}"
    event(NOW - timedelta(hours=2), EventKind.FAULT, EventState.OPENED, ids[0], signature=signature, device=ids[0])
    event(
        NOW - timedelta(hours=1, minutes=40),
        EventKind.FAULT,
        EventState.CLOSED,
        ids[0],
        signature=signature,
        device=ids[0],
        started=(NOW - timedelta(hours=2)).isoformat(),
    )
    event(NOW - timedelta(hours=3), EventKind.GATEWAY, EventState.UP, gateway=router_ip, wan=public_ip)
    events.sort(key=lambda e: e.ts)
    home = Inventory(generated_at=NOW, devices=inventory)
    report = diagnose(events, home, {}, load_profiles(), NOW, focus=fault_focus(events, signature))
    files = {
        "inventory.json": home.model_dump_json(indent=2).encode(),
        "diagnosis.json": report.model_dump_json(indent=2).encode(),
        "timeline.jsonl": "".join(e.model_dump_json() + "\n" for e in events).encode(),
        "host.json": json.dumps(
            {
                "hostname": hub_host,
                "ips": [hub_ip, hub_v6],
                "owner": owner,
                "serial": p.serial(),
                "interfaces": {
                    "wlan0": {
                        "mac": ":".join([f"{b:02x}" for b in bytes.fromhex(p.mac())]),
                        "ssid": home_ssid,
                        "wifi_psk": wifi_psk,
                    }
                },
            },
            indent=2,
        ).encode(),
        "network.json": json.dumps(
            {
                "routes": [{"gateway": router_ip}],
                "dns": {"search": [f"{hub_host}.lan"]},
                "neighbours": [{"ip": p.ipv4(), "mac": p.mac()} for _ in range(6)],
                "broker": f"mqtts://agent:{p.secret('url_credentials')}@{p.ipv4()}:8883",
                "mqtt_password": mqtt_password,
            },
            indent=2,
        ).encode(),
    }
    for device_id, lines in logs.items():
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in device_id)
        files[f"logs/{safe}.log"] = "".join(line + "\n" for line in lines).encode()
    trigger = Trigger(
        kind=TriggerKind.FAULT, signature=signature, summary=f"device_offline x1 at {inventory[0].ips[0]}"
    )
    return Corpus(files=files, trigger=trigger, plants=p.plants, device_ids=ids)
