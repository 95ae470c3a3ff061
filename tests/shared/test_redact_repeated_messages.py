"""A log whose messages repeat is redacted one distinct message at a time (``Redactor._redact_messages``): the
output, the counts and what is learned must be those of redacting the whole text in one piece."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.redact import Redactor

TIMESTAMPS = st.builds(
    lambda day, separator, second, fraction, zone: f"2026-12-{day:02d}{separator}10:{second:02d}:00{fraction}{zone}",
    st.integers(1, 28),
    st.sampled_from(["T", " "]),
    st.integers(0, 59),
    st.sampled_from(["", ".123", ",5", ".123456789"]),
    st.sampled_from(["", "Z", "+00:00", "+10:00", "-05:00", "+01:00"]),
)
# Fragments a message is made of: identifiers in their spellings, secrets, the triggers of every pass, and
# things that begin like a timestamp's end (a "+" and digits, a ':' group, a hex run after a '-').
FRAGMENTS = [
    "joined 'Cosy Corner' as A4:CF:12:34:56:78",
    "ssid=Cosy",
    "SSID: Lovely Home WiFi",
    "mac=a4cf12345678",
    "bssid a4-cf-12-34-56-78",
    "from 192.168.1.20",
    "via 8.8.4.4 and 10.0.0.1",
    "v6 fe80::1ff:fe23:4567:890a",
    "2001:db8::42",
    "cisco a4cf.1234.5678",
    "ieee 0x00124b0012345678",
    "tasmota_A4CF12 up",
    "shellyplus1pm-a8032ab12345",
    "GET http://10.1.2.3/rpc?access_token=tok_ABCDEF&id=1",
    "x;sig=abc&code=xyz",
    "mqtt://hub:hunter2@nas.local:1883",
    "Authorization: Bearer tok_ABCDEF123456",
    "Cookie: sess=998877",
    "api_key=k3y-material",
    "password: 's3cr3t pw'",
    "token eyJhbGciOiJIUzI1NiJ9.payload.sig",
    "owner alice@example.com",
    "+49 170 1234567",
    "(555) 123-4567",
    "13812345678",
    "S/N: AB12CD34",
    "serial number=XYZ98765",
    "/dev/serial/by-id/usb-ITead_Sonoff_Dongle_0123456789ab-if00-port0",
    "kitchen-pi.lan",
    "Kitchen-Pi",
    "+10:00 12 34",
    "00:00:00 ok",
    "-05 1234",
    "state online",
    "",
]
MESSAGES = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=4).map(" ".join)
# Values a bundle's JSON teaches before its logs are redacted; some look like a timestamp's end on purpose.
LEARNED = st.lists(
    st.sampled_from(
        [
            ("ssid", "Cosy Corner"),
            ("hostname", "Kitchen-Pi"),
            ("serial", "AB12CD34"),
            ("ssid", "10:00 ok"),
            ("serial", "2026-12"),
            ("hostname", "00Z state"),
        ]
    ),
    max_size=3,
)


@st.composite
def logs(draw: st.DrawFn) -> str:
    """A log whose lines come from a few messages, each line with a timestamp, some continuation lines."""
    messages = draw(st.lists(MESSAGES, min_size=1, max_size=5))
    lines = []
    for _ in range(draw(st.integers(2, 30))):
        message = draw(st.sampled_from(messages))
        if draw(st.integers(0, 9)) == 0:
            lines.append(message)  # a line without a timestamp: it stays with the message before it
        else:
            lines.append(f"{draw(TIMESTAMPS)} {message}")
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


def whole_text_redactor() -> Redactor:
    redactor = Redactor(b"household-key")
    redactor._repeated_messages = lambda text: None  # type: ignore[method-assign]
    return redactor


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(logs(), min_size=1, max_size=3), LEARNED)
def test_repeated_messages_redact_as_the_whole_text(texts: list[str], learned: list[tuple[str, str]]) -> None:
    by_message, whole = Redactor(b"household-key"), whole_text_redactor()
    for redactor in (by_message, whole):
        for kind, value in learned:
            redactor.learn(kind, value)
    for text in texts:
        assert by_message.redact_text(text) == whole.redact_text(text)
    assert by_message.summary() == whole.summary()
    assert by_message._literals == whole._literals


def test_repeated_messages_are_redacted_once() -> None:
    text = "".join(
        f"2026-12-05T10:00:{n % 60:02d}+00:00 joined as a4:cf:12:34:56:78 from 10.0.0.7\n" for n in range(50)
    )
    redactor = Redactor(b"household-key")
    seen: list[str] = []
    original = redactor._address

    def address(match: re.Match[str]) -> str:
        seen.append(match[0])
        return original(match)

    redactor._address = address  # type: ignore[method-assign]
    out = redactor.redact_text(text)
    assert "a4:cf:12:34:56:78" not in out and "10.0.0.7" not in out
    assert out.count("2026-12-05T10:00:") == 50
    # two addresses in each of: the first line (no newline before it), the message repeated 48 times, the last
    # one (with the text's final newline)
    assert len(seen) == 6
    assert redactor.summary().replaced == {"mac": 50, "ipv4": 50}


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-05T10:00:00+00:00 -----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n" * 3,
        "".join(f"2026-12-05T10:00:{n:02d}Z message {n} at 10.0.0.{n}\n" for n in range(40)),
    ],
)
def test_texts_that_do_not_repeat_or_span_lines_take_the_whole_text_way(text: str) -> None:
    assert Redactor(b"household-key").redact_text(text) == whole_text_redactor().redact_text(text)


@settings(max_examples=200, deadline=None)
@given(TIMESTAMPS, LEARNED)
def test_a_json_timestamp_value_is_left_as_the_text_passes_leave_it(
    timestamp: str, learned: list[tuple[str, str]]
) -> None:
    """A JSON value that is a timestamp alone skips the passes (``_TIMESTAMP_VALUE``) only where they would
    leave it unchanged, also when a learned value looks like a piece of one."""
    walked, whole = Redactor(b"household-key"), Redactor(b"household-key")
    for redactor in (walked, whole):
        for kind, value in learned:
            redactor.learn(kind, value)
    assert walked.redact_json({"ts": [timestamp]}) == {"ts": [whole.redact_text(timestamp)]}
    assert walked.summary() == whole.summary()
