"""The answer as the customer reads it: cards with a tone, a headline, when, why, what to do and what if not.

Pure: the report, the inventory, the language, the time now and the customer's time zone give the same
answer. Checks failing right now make present-tense cards that say what fails and what to do now, and the
findings about that same open outage make way for them (the cause is known only once it is over). Repeats of
one finding are merged and counted. Tone: ``now`` (red, wrong now), ``healed`` (amber, happened and working
again, or a lasting minor condition), ``normal`` (grey). Devices are named by their configured name or room,
else by their family, never by a raw id.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from shared.models import Device, DiagnosisReport, Explanation, Finding, Inventory, RootCause

from .texts import TEXTS, say


class Tone(StrEnum):
    NOW = "now"
    HEALED = "healed"
    NORMAL = "normal"


NETWORK_CHECKS = ("hub_link", "gateway", "internet", "dns")  # the first failing one is where the way out breaks
ALL_CHECKS = ("hub_link", "gateway", "internet", "dns", "broker")
NETWORK_CAUSES = frozenset(
    {RootCause.ROUTER_REBOOT, RootCause.HUB_LINK_DOWN, RootCause.WAN_OUTAGE, RootCause.DNS_FAILURE}
)
# Conditions rather than events: without an end they still hold, but a weak signal is not an emergency.
LASTING_MINOR = frozenset({RootCause.WIFI_WEAK_SIGNAL})
HUB_STILL_DEGRADED = timedelta(minutes=2)
_RAW_NAME = re.compile(r"^(0x[0-9a-f]+|[a-z0-9_-]*[0-9a-f]{6,})$", re.IGNORECASE)
_FAMILY_KEYS = (
    ("shelly", "shelly"),
    ("tasmota", "tasmota"),
    ("zigbee", "zigbee"),
    ("ieee", "zigbee"),
    ("esphome", "esphome"),
    ("homekit", "homekit"),
    ("ha:", "homeassistant"),
    ("homeassistant", "homeassistant"),
)


@dataclass
class Card:
    tone: Tone
    headline: str
    when: str = ""
    why: str = ""
    todo: str = ""
    risk: str = ""
    note: str = ""  # "it works again now", or what is not known yet
    details: list[str] = field(default_factory=list)


@dataclass
class Answer:
    cards: list[Card]
    normal: list[Card]
    checklist: list[tuple[bool, str]]
    failing_now: list[str]  # the checks failing at the click: a ticket sent now is provisional

    @property
    def healthy(self) -> bool:
        return not self.cards

    def as_json(self) -> dict[str, Any]:
        def card(c: Card) -> dict[str, Any]:
            return {
                "tone": c.tone.value,
                "headline": c.headline,
                "when": c.when,
                "why": c.why,
                "todo": c.todo,
                "risk": c.risk,
                "note": c.note,
                "details": c.details,
            }

        return {
            "healthy": self.healthy,
            "cards": [card(c) for c in self.cards],
            "normal": [card(c) for c in self.normal],
            "checklist": [{"ok": ok, "text": text} for ok, text in self.checklist],
            "provisional": bool(self.failing_now),
        }


# -- words for times, durations and devices ------------------------------------------------------------------
class Words:
    """The page's texts in one language, with the customer's clock."""

    def __init__(self, language: str, now: datetime, tz: tzinfo) -> None:
        self.language, self.texts, self.now, self.tz = language, TEXTS[language], now, tz

    def say(self, key: str, count: int | None = None, **values: Any) -> str:
        return say(self.texts, key, count, **values)

    def moment(self, ts: datetime) -> str:
        local, today = ts.astimezone(self.tz), self.now.astimezone(self.tz).date()
        time = local.strftime("%H:%M")
        if local.date() == today:
            return self.say("today", time=time)
        if local.date() == today - timedelta(days=1):
            return self.say("yesterday", time=time)
        return self.say("date", day=local.day, month=self.texts["months"][local.month - 1], time=time)

    def duration(self, span: timedelta) -> str:
        seconds = max(0, round(span.total_seconds()))
        if seconds < 90:
            return self.say("seconds", seconds)
        minutes = round(seconds / 60)
        if minutes < 60:
            return self.say("minutes", minutes)
        hours, rest = divmod(minutes, 60)
        if not rest:
            return self.say("hours", hours)
        return self.say("hours_minutes", hours=self.say("hours", hours), minutes=self.say("minutes", rest))

    def span(self, start: datetime | None, end: datetime | None, ongoing: bool) -> str:
        if start is None:  # a condition found by this check, not an event with a time
            return self.say("checked_at", when=self.moment(self.now))
        if ongoing:
            return self.say("since", when=self.moment(start), duration=self.duration(self.now - start))
        if end is None or end <= start:
            return self.say("at", when=self.moment(start))
        return self.say("for", when=self.moment(start), duration=self.duration(end - start))

    def period(self, first: datetime) -> str:
        ago = self.now - first
        if ago <= timedelta(hours=1):
            return self.say("in_last_hour")
        if ago <= timedelta(days=1):
            return self.say("in_last_day")
        return self.say("in_last_days", math.ceil(ago / timedelta(days=1)))

    def device(self, device_id: str, devices: Mapping[str, Device]) -> str:
        """The configured name, else the room, else the family: never the raw id."""
        device = devices.get(device_id)
        if device is not None:
            for name in [device.name, *device.names]:
                if name and name != device_id and ":" not in name and not _RAW_NAME.match(name):
                    return name
            room = next(
                (str(device.attributes[k]) for k in ("suggested_area", "area", "room") if device.attributes.get(k)),
                None,
            )
            if room:
                return self.say("in_room", room=room)
        hint = " ".join(filter(None, [device.family if device else None, device_id])).lower()
        family = next((key for marker, key in _FAMILY_KEYS if marker in hint), "")
        return self.texts["families"][family]

    def devices(self, device_ids: Sequence[str], devices: Mapping[str, Device]) -> str:
        names = [self.device(d, devices) for d in device_ids]
        if not names:
            return self.say("your_devices")
        if len(names) == 1:
            return names[0]
        if len(names) == 2:
            return self.say("two", first=names[0], second=names[1])
        return self.say("and_others", len(names) - 1, first=names[0])


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def signal_word(device: Device) -> tuple[str, str] | None:
    """``good``/``fair``/``weak`` and the figure behind it, from the Wi-Fi RSSI or the Zigbee link quality."""
    if device.rssi_dbm is not None:
        level = "good" if device.rssi_dbm >= -67 else "fair" if device.rssi_dbm > -80 else "weak"
        return level, f"{device.rssi_dbm:.0f} dBm"
    if device.link_quality is not None:
        level = "good" if device.link_quality >= 100 else "fair" if device.link_quality > 40 else "weak"
        return level, str(device.link_quality)
    return None


# -- the answer -----------------------------------------------------------------------------------------------
def failing_checks(report: DiagnosisReport) -> list[str]:
    live = report.checks.get("live", []) if isinstance(report.checks, dict) else []
    failing = {c.get("name") for c in live if isinstance(c, dict) and c.get("ok") is False}
    return [name for name in ALL_CHECKS if name in failing]


def _explanation(finding: Finding, language: str) -> Explanation:
    return finding.explanation if language == "en" else finding.translations.get(language, finding.explanation)


def _is_open(finding: Finding) -> bool:
    return finding.ongoing or (finding.started_at is not None and finding.ended_at is None)


def _now_cards(failing: list[str], findings: Sequence[Finding], words: Words) -> list[Card]:
    """One present-tense card where the way out breaks first, and one for the message service."""
    network = next((name for name in NETWORK_CHECKS if name in failing), None)
    chosen = [name for name in (network, "broker" if "broker" in failing else None) if name]
    opened = [
        f.started_at
        for f in findings
        if f.started_at is not None
        and _is_open(f)
        and f.root_cause in NETWORK_CAUSES | {RootCause.BROKER_DOWN}
        and not all(e.source == "diagnose.check" for e in f.evidence)
    ]
    since = min(opened) if opened else None
    when = words.span(since, None, True) if since else words.say("checked_at", when=words.moment(words.now))
    cards = []
    for name in chosen:
        headline, todo = words.texts["now"][name]
        cards.append(
            Card(Tone.NOW, headline, when, todo=todo, risk=words.say("now_risk"), note=words.say("now_unknown"))
        )
    return cards


def _superseded(finding: Finding, failing: list[str]) -> bool:
    """A finding about the outage still open at the click: the present-tense card speaks for it."""
    if finding.root_cause is RootCause.HEALTHY:
        return True
    live = bool(finding.evidence) and all(e.source == "diagnose.check" for e in finding.evidence)
    if finding.root_cause in NETWORK_CAUSES and any(n in failing for n in NETWORK_CHECKS):
        return live or _is_open(finding)
    if finding.root_cause is RootCause.BROKER_DOWN and "broker" in failing:
        return live or _is_open(finding)
    return live


def _groups(findings: Iterable[Finding]) -> list[list[Finding]]:
    grouped: dict[tuple[Any, ...], list[Finding]] = {}
    for finding in findings:
        grouped.setdefault((finding.root_cause, tuple(finding.devices)), []).append(finding)
    return list(grouped.values())


def _friendly(text: str, finding: Finding, devices: Mapping[str, Device], words: Words) -> str:
    """The finding's own words with every raw device label replaced by how the page names the device."""
    for device_id in finding.devices:
        device = devices.get(device_id)
        friendly = words.device(device_id, devices)
        labels = {device_id, *([device.name] if device is not None and device.name else [])}
        for raw in sorted(labels, key=len, reverse=True):  # the id may contain the name
            if raw != friendly:
                text = text.replace(raw, friendly)
    return text


def _card(group: list[Finding], devices: Mapping[str, Device], words: Words) -> Card:
    latest = max(group, key=lambda f: f.started_at or words.now)
    cause, count = latest.root_cause, sum(f.occurrences for f in group)
    ongoing = any(_is_open(f) for f in group)
    tone = Tone.NORMAL if latest.expected else Tone.HEALED if (not ongoing or cause in LASTING_MINOR) else Tone.NOW
    text = _explanation(latest, words.language)
    who = (
        _upper_first(words.devices(latest.devices, devices))
        if words.language == "en"
        else words.devices(latest.devices, devices)
    )
    radios = [devices[d] for d in latest.devices if d in devices]
    signals = [s for s in (signal_word(d) for d in radios) if s]
    headlines = words.texts["still" if tone is Tone.NOW and cause in words.texts["still"] else "headlines"]
    if latest.expected and cause is RootCause.ROUTER_REBOOT:
        headline = words.say("reconnected", who=who)
    elif cause in headlines:
        signal = words.texts["signal"][signals[0][0] if signals else "weak"]
        times = (
            f"（此前离线 {count} 次）"
            if count > 1 and headlines is words.texts["still"]
            else f" {count} 次"
            if count > 1
            else ""
        )
        headline = (
            say(headlines, cause, count, who=who, signal=signal, times=times)
            if words.language == "en"
            else headlines[cause].format(who=who, signal=signal, times=times, count=count)
        )
    else:
        headline = _friendly(text.symptom, latest, devices, words)
    when = words.span(latest.started_at, latest.ended_at, ongoing)
    starts = [f.started_at for f in group if f.started_at is not None]
    if cause is RootCause.ROUTER_SCHEDULED_REBOOT and latest.started_at is not None:
        last = latest.ended_at or latest.started_at
        when = words.say(
            "daily", time=latest.started_at.astimezone(words.tz).strftime("%H:%M"), last=words.moment(last)
        )
    elif count > 1 and starts:
        first = min(starts)
        if len(group) == 1:  # one finding that counts its repeats: it knows the first and the last time only
            when = words.moment(latest.ended_at or first)
        when = f"{words.period(first)} — " + words.say("repeats", last=when, first=words.moment(first))
    why = _friendly(text.root_cause, latest, devices, words)
    todo = _friendly(text.solution, latest, devices, words)
    if cause is RootCause.WIFI_WEAK_SIGNAL:  # only the radio the device has
        radio = "zigbee" if any(d.link_quality is not None and d.rssi_dbm is None for d in radios) else "wifi"
        why, todo = words.texts["weak_why"][radio], words.texts["weak_todo"][radio]
    details = [
        words.say("signal_detail", figure=figure if figure.endswith("dBm") else words.say("link_quality", value=figure))
        for _, figure in signals
    ]
    reasons = sorted({str(e.detail["reason"]) for f in group for e in f.evidence if e.detail.get("reason")})
    details += [words.say("reported_reason", reason=reason) for reason in reasons]
    note = (
        words.say("working_again")
        if tone is Tone.HEALED and cause in NETWORK_CAUSES | {RootCause.DEVICE_OFFLINE, RootCause.BROKER_DOWN}
        else ""
    )
    if latest.expected:  # normal behaviour: what and when is all there is to say
        return Card(tone, headline, when, details=details)
    card = Card(tone, headline, when, why, todo, _friendly(text.risk, latest, devices, words), note, details)
    return _spaced(card) if words.language == "zh" else card


_LATIN_THEN_HAN = re.compile(r"(?<=[A-Za-z])(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff])(?=[A-Za-z])")


def _spaced(card: Card) -> Card:
    """Chinese text with a space between a Latin name and the characters around it, as Chinese typesetting does."""
    for name in ("headline", "why", "todo", "risk"):
        setattr(card, name, _LATIN_THEN_HAN.sub(" ", getattr(card, name)))
    return card


def _checklist(report: DiagnosisReport, devices: Sequence[Device], words: Words) -> list[tuple[bool, str]]:
    live = {c.get("name"): c.get("ok") for c in report.checks.get("live", []) if isinstance(c, dict)}
    items = words.texts["checked_items"]
    checklist = [
        (bool(live[name]), items[name][0 if live[name] else 1]) for name in ALL_CHECKS if live.get(name) is not None
    ]
    hub_short = any(
        f.root_cause is RootCause.HUB_DEGRADED
        and not f.expected
        and (f.ongoing or f.ended_at is None or f.ended_at >= words.now - HUB_STILL_DEGRADED)
        for f in report.findings
    )
    checklist.append((not hub_short, items["hub"][1 if hub_short else 0]))
    online = sum(1 for d in devices if d.available is True)
    offline = sum(1 for d in devices if d.available is False)
    if online:
        checklist.append((True, words.say("devices_online", online)))
    if offline:
        checklist.append((False, words.say("devices_offline", offline)))
    return checklist


def answer(report: DiagnosisReport, inventory: Inventory | None, language: str, now: datetime, tz: tzinfo) -> Answer:
    """What the page shows for one check."""
    words = Words(language, now, tz)
    device_list = inventory.devices if inventory is not None else []
    devices = {d.id: d for d in device_list}
    failing = failing_checks(report)
    kept = [f for f in report.findings if not _superseded(f, failing)]
    cards = _now_cards(failing, report.findings, words)
    cards += [_card(group, devices, words) for group in _groups(f for f in kept if not f.expected)]
    cards.sort(key=lambda c: list(Tone).index(c.tone))  # stable: within a tone, the diagnosis's order
    normal = [_card(group, devices, words) for group in _groups(f for f in kept if f.expected)]
    return Answer(cards, normal, _checklist(report, device_list, words), failing)
