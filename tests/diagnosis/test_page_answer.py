"""The one-click answer without a browser: every root cause and message in both languages, present tense during
an outage, time and count on every card, friendly names, the healthy checklist."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.web.cards import Tone, Words, answer
from agent.web.texts import TEXTS, Plural
from tests.diagnosis.language import han, untranslated
from tests.diagnosis.page_states import NOW, every_state, inventory, weak_signals

TZ = timezone(timedelta(hours=8))  # the customer's clock: the page never shows UTC times as local
DEVICE_NAMES = {d.name or "" for d in inventory().devices} | {"Bedroom"}
STATES = every_state()


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Plural):
        return [value.one, value.other]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _strings(item)]
    return []


def test_every_page_text_exists_in_both_languages_and_the_chinese_is_chinese() -> None:
    assert TEXTS["en"].keys() == TEXTS["zh"].keys()
    for key in TEXTS["en"]:
        if isinstance(TEXTS["en"][key], dict):
            assert TEXTS["en"][key].keys() == TEXTS["zh"][key].keys(), key
    leftovers = [(s, untranslated(s.replace("{", " ").replace("}", " "))) for s in _strings(TEXTS["zh"])]
    # placeholders ({who}, {count}…) are filled in at render time and checked there
    leftovers = [(s, [w for w in words if not s.count("{" + w)]) for s, words in leftovers]
    assert [item for item in leftovers if item[1]] == []
    assert [s for s in _strings(TEXTS["en"]) if han(s)] == []


@pytest.mark.parametrize("state", sorted(STATES))
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_state_renders_fully_translated_with_time_and_friendly_names(state: str, language: str) -> None:
    shown = answer(STATES[state], inventory(), language, NOW, TZ)
    texts = [t for card in shown.cards + shown.normal for k, t in asdict(card).items() if k not in ("tone", "details")]
    texts += [t for card in shown.cards + shown.normal for t in card.details] + [t for _, t in shown.checklist]
    text = "\n".join(texts)
    if language == "zh":
        assert untranslated(text, DEVICE_NAMES) == [], text
    else:
        assert han(text) == [], text
    for raw in ("shelly:", "shellyplus1pm", "ieee:", "0x00124b", "tasmota:", "esphome:"):
        assert raw not in text
    for card in shown.cards + shown.normal:
        assert card.when and card.headline, card  # time on everything
    assert all(card.todo for card in shown.cards)
    if state == "healthy":
        assert shown.healthy and all(ok for ok, _ in shown.checklist)
    else:
        assert shown.cards, state


def test_clicked_during_a_router_restart_says_what_fails_now_and_concludes_nothing() -> None:
    for language, now_word, wait in (("en", "right now", "wait two minutes"), ("zh", "现在", "等两分钟")):
        shown = answer(STATES["mid_router_restart"], inventory(weak=False), language, NOW, TZ)
        first = shown.cards[0]
        assert first.tone is Tone.NOW and now_word in first.headline and wait in first.todo
        everything = "\n".join(f"{c.headline} {c.why} {c.todo}" for c in shown.cards)
        assert (
            "nothing shows that the router restarted" not in everything and "没有迹象表明路由器重启" not in everything
        )
        assert len([c for c in shown.cards if c.tone is Tone.NOW]) == 1
        assert shown.failing_now  # a ticket sent now is provisional


def test_repeats_are_merged_counted_and_healed_ones_are_amber() -> None:
    shown = answer(STATES["router_reboot"], inventory(weak=False), "en", NOW, TZ)
    (card,) = shown.cards
    assert card.tone is Tone.HEALED and "2 times" in card.headline and "in the last hour" in card.when
    assert "29 seconds" in card.when and card.note == "It works again now."
    assert "00:37" in card.when  # 16:37 UTC on the customer's UTC+8 clock, the day after
    zh = answer(STATES["router_reboot"], inventory(weak=False), "zh", NOW, TZ).cards[0]
    assert "2 次" in zh.headline and "29 秒" in zh.when


def test_a_device_still_offline_is_red_and_named_by_family_a_weak_one_amber_with_its_figure() -> None:
    offline = answer(STATES["device_offline"], inventory(), "en", NOW, TZ).cards[0]
    assert offline.tone is Tone.NOW and offline.headline == "Your Shelly relay is offline right now."
    assert "since" in offline.when and "20 minutes so far" in offline.when
    weak = answer(STATES["wifi_weak_signal"], inventory(), "en", NOW, TZ).cards[0]
    assert weak.tone is Tone.HEALED and weak.headline == "The device in the Bedroom has a weak signal."
    assert weak.details == ["Signal strength: link quality 31 of 255"] and "Wi-Fi" not in weak.why + weak.todo
    assert "router" not in weak.why + weak.todo and "checked today" in weak.when
    wifi = answer(weak_signals(), inventory(), "en", NOW, TZ).cards[0]  # the Shelly relay far from the router
    assert wifi.headline == "Your Shelly relay has a weak signal." and "Zigbee" not in wifi.why + wifi.todo


def test_the_healthy_checklist_counts_devices_with_plurals() -> None:
    shown = answer(STATES["healthy"], inventory(weak=False), "en", NOW, TZ)
    assert (True, "4 devices are online") in shown.checklist and (True, "Your router answers") in shown.checklist
    assert Words("en", NOW, TZ).say("devices_online", 1) == "1 device is online"


@given(st.floats(min_value=0, max_value=3 * 86400))
def test_durations_say_seconds_under_a_minute_and_a_half_and_never_round_half_a_minute_up(seconds: float) -> None:
    for language in ("en", "zh"):
        said = Words(language, NOW, TZ).duration(timedelta(seconds=seconds))
        if round(seconds) < 90:
            assert said.split()[0] == str(round(seconds))
        assert ("minute" not in said and "分钟" not in said) or round(seconds) >= 90
