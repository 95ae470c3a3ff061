"""Redaction applied by the agent before a bundle is signed (and by the collector to customer text).

Secrets (passwords, tokens, PSKs, URL credentials and secret query parameters, cookies, JWTs, private keys)
are removed and replaced by ``[REDACTED]``. Identifiers (MAC and EUI-64 in every spelling, also inside device
ids and topics, IPv4, IPv6, e-mail, hostname, SSID, serial number, phone number) are replaced by keyed
pseudonyms: HMAC-SHA256 of the household's pseudonym key over the kind and the normalised value, shaped like
the original so tools still parse them. The same value gets the same pseudonym everywhere in a household;
another household's key gives another one. Values met under identifying keys (an SSID, a hostname, a serial)
are learned and replaced wherever else they occur, in every file. The rules and shapes are documented in
docs/bundle-format.md.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from functools import lru_cache
from typing import Any, NamedTuple

import pydantic_core

from shared.errors import RedactionError
from shared.models import RedactionSummary, Trigger

REDACTED = "[REDACTED]"

# Binary files we cannot redact are dropped and counted under ``removed``.
DROPPED_BINARY_SUFFIXES = {".pcap": "pcap", ".pcapng": "pcap"}

# Normalised key (lower case, without "_", "-", ".", " ") -> kind of secret removed.
_SECRET_KEYS = {
    "password": "password",
    "passwd": "password",
    "pass": "password",
    "pwd": "password",
    "passphrase": "password",
    "token": "token",
    "accesstoken": "token",
    "refreshtoken": "token",
    "authtoken": "token",
    "auth": "token",
    "authorization": "token",
    "bearer": "token",
    "secret": "secret",
    "clientsecret": "secret",
    "key": "key",
    "apikey": "key",
    "privatekey": "key",
    "psk": "psk",
    "wpa": "psk",
    "wpapsk": "psk",
    "wpapassphrase": "psk",
    "credential": "credentials",
    "credentials": "credentials",
    "cookie": "session",
    "setcookie": "session",
    "session": "session",
    "sessionid": "session",
}
# Keys ending like this are secrets too ("mqtt_password", "wifi_psk"), but "keyid" is not.
_SECRET_SUFFIXES = {
    "password": "password",
    "passwd": "password",
    "passphrase": "password",
    "token": "token",
    "secret": "secret",
    "apikey": "key",
    "privatekey": "key",
    "psk": "psk",
    "credentials": "credentials",
}
# Query parameters that carry a secret although their name is not secret-looking elsewhere.
_SECRET_QUERY_NAMES = {
    "sig": "token",
    "signature": "token",
    "code": "token",
    "jwt": "token",
    "xamzsignature": "token",
    "xamzsecuritytoken": "token",
    "xamzcredential": "credentials",
}
_MAC_KEYS = {"mac", "macs", "macaddress", "macaddr", "bssid", "hwaddr", "hwaddress", "ieeeaddress", "ieee"}
_SSID_KEYS = {"ssid", "ssids", "essid"}
_HOST_KEYS = {"hostname", "hn", "host", "hostnames", "fqdn", "dhcphostname"}
_SERIAL_KEYS = {"serial", "serials", "serialnumber", "serialno", "serialnum", "sn", "sernum", "hwserial"}
_PHONE_KEYS = {"phone", "phonenumber", "tel", "telephone", "mobile", "msisdn"}
_EMAIL_KEYS = {"email", "emailaddress", "mail"}


def _trie_pattern(
    words: list[str], *, caseless: bool = False, whole_tokens: bool = True, word_start: bool = False
) -> str:
    """A regex matching any of ``words``, shaped as a trie under one first-character class: the engine skips
    characters that start no word, and tries one branch per character after that (an alternation of words
    would be tried word by word at every position). ``caseless`` spells ASCII letters as ``[xX]`` (faster
    than the IGNORECASE flag); ``whole_tokens`` requires no letter or digit on either side; ``word_start`` no
    word character (``\\w``) before, as ``\\b`` would, but checked only where a word can begin."""

    def char(c: str) -> str:
        return f"[{c.lower()}{c.upper()}]" if caseless and c.isascii() and c.isalpha() else re.escape(c)

    def branch(group: list[str]) -> str:
        ends = "" in group
        by_first: dict[str, list[str]] = {}
        for word in group:
            if word:
                by_first.setdefault(word[0].lower() if caseless else word[0], []).append(word[1:])
        parts = [char(first) + branch(rest) for first, rest in sorted(by_first.items())]
        if not parts:
            return ""
        inner = parts[0] if len(parts) == 1 and not ends else "(?:" + "|".join(parts) + ")"
        return inner + ("?" if ends else "")

    by_first: dict[str, list[str]] = {}
    for word in words:
        by_first.setdefault(word[0].lower() if caseless else word[0], []).append(word[1:])
    firsts = "".join(
        sorted({re.escape(v) for first in by_first for v in ({first, first.upper()} if caseless else {first})})
    )
    alternatives = "|".join(f"(?<={char(first)}){branch(rest)}" for first, rest in sorted(by_first.items()))
    if whole_tokens:
        return rf"[{firsts}](?<![0-9A-Za-z].)(?:{alternatives})(?![0-9A-Za-z])"
    if word_start:
        return rf"[{firsts}](?<!\w.)(?:{alternatives})"
    return rf"[{firsts}](?:{alternatives})"


# -- text patterns ------------------------------------------------------------------------------------------
_H = "[0-9A-Fa-f]"
_TEXT_SECRET_WORDS = [
    "wpa_passphrase",
    "wpa_psk",
    "passphrase",
    "password",
    "passwd",
    "pwd",
    "pass",
    "psk",
    "apikey",
    "credential",
    "credentials",
    "token",
    "secret",
    *(
        f"{a}{sep}{b}"
        for a, b in (
            ("api", "key"),
            ("private", "key"),
            ("access", "token"),
            ("refresh", "token"),
            ("auth", "token"),
            ("client", "secret"),
            ("session", "id"),
        )
        for sep in ("", "_", "-")
    ),
]
_TEXT_SECRET_TRIGGERS = ("pass", "pwd", "psk", "key", "token", "secret", "credential", "session")
_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S
)
# The scheme stays; userinfo (user, or user:password) is dropped; the host is pseudonymised.
_URL_CREDENTIALS = re.compile(
    r"://(?P<userinfo>[^/\s@\"'<>?#]+)@(?P<host>\[[0-9A-Fa-f:.%A-Za-z]+\]|[^/\s:?#\[\]\"'<>]+)"
)
_QUERY_PARAMETER = re.compile(r"(?P<lead>[?&;])(?P<name>[A-Za-z0-9_.\-]{1,64})=(?P<value>[^&#\s\"'<>]+)")
# Each pattern below begins with a class of first characters (the case-blind words spelt by ``_trie_pattern``):
# the regex engine then skips every other character in C instead of trying the whole pattern there.
# Only the secret word is matched, whatever precedes it ("mqtt_password", "Proxy-Authorization")
# stays in place; an occasional over-match ("bypass=1") only over-redacts.
_HEADER_SECRET = re.compile(
    r"(?P<name>"
    + _trie_pattern(["authorization", "cookie"], caseless=True, whole_tokens=False)
    + r")(?P<sep>[ \t]*:[ \t]*)[^\r\n\"]+"
)
_BEARER = re.compile(
    r"(?P<word>" + _trie_pattern(["bearer", "basic"], caseless=True, whole_tokens=False) + r") +[A-Za-z0-9._~+/=-]{8,}"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_KEY_VALUE_SECRET = re.compile(
    r"(?P<name>" + _trie_pattern(_TEXT_SECRET_WORDS, caseless=True, whole_tokens=False) + r")"
    r"(?P<sep>[\"']?[ \t]*[:=][ \t]*)(?P<value>\[REDACTED\]|\"[^\"\n]*\"|'[^'\n]*'|[^\s,;&\"'}\]]+)"
)
# "ssid=Home", "SSID \"Home WiFi\"", and iw's "SSID: Home WiFi" (the rest of the line).
_SSID_TEXT = re.compile(
    r"(?P<name>"
    + _trie_pattern(["essid", "ssid"], caseless=True, whole_tokens=False, word_start=True)
    + r")(?:(?P<sep>[\"']?[ \t]*[=][ \t]*|[ \t]+)(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s,;\"'}\]]+)"
    r"|(?P<colon>[\"']?:[ \t]*)(?P<line>\"[^\"\n]*\"|'[^'\n]*'|[^\r\n,;\"'}\]]*[^\s,;\"'}\]]))"
)
_SERIAL_TEXT = re.compile(
    r"(?P<name>"
    + _trie_pattern(
        [
            "serial",
            *(f"serial{sep}{word}" for sep in ("", " ", "_", "-") for word in ("number", "no", "num")),
            "s/n",
            "sn",
        ],
        caseless=True,
        whole_tokens=False,
        word_start=True,
    )
    + r")(?P<sep>[\"']?[ \t]*[:=#][ \t]*[\"']?)"
    r"(?P<value>[A-Za-z0-9][A-Za-z0-9._/-]{2,}[A-Za-z0-9])"
)
# /dev/serial/by-id/usb-<vendor>_<product>_<serial>-if00: the USB serial number of a Zigbee stick, say.
_USB_SERIAL = re.compile(r"usb-(?P<lead>[^\s/\"']*?_)(?P<value>[0-9A-Za-z]{6,})(?=-if[0-9]{2})")
_PHONE = re.compile(
    r"[+(](?<![\w+].)(?:(?<=\+)[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,5}\)?){2,6}(?![0-9])"
    r"|(?<=\()[0-9]{3}\)[ ]?[0-9]{3}[ .-][0-9]{4}(?![0-9]))"
)
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_LOCAL_SUFFIXES = r"home\.arpa|fritz\.box|localdomain|localnet|internal|intranet|local|lan|home"
_LOCAL_TRIGGERS = (".local", ".lan", ".home", ".internal", ".intranet", ".fritz.box")
_LOCAL_HOST = re.compile(
    r"(?i)(?<![A-Za-z0-9_.@-])(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*?)\.(?P<suffix>"
    + _LOCAL_SUFFIXES
    + r")(?![A-Za-z0-9-]|\.[A-Za-z0-9])"
)
_IPV4_TAIL = r"(?:\.[0-9]{1,3}){3}"
# Every hardware address, IP and mobile number in one pass. The pattern begins with a character class (the
# first character of any of them) so the regex engine skips other characters without trying the
# alternatives; each alternative then goes on from that first character, checked by a look-behind, and ends
# with an empty group naming its kind (``match.lastgroup``).
_ADDRESS = re.compile(
    r"[0-9A-Fa-f:](?<![0-9A-Za-z].)"
    # cheap guard, what some alternative needs next: ':' or '.' within the first group (IPv6, IPv4, Cisco, a
    # MAC), '-', '_' or '%3' after the first pair (a MAC), six hex digits in a row, or '0x' (EUI-64); it turns
    # away a timestamp's '2026-…' at once
    r"(?=[0-9A-Fa-f]{0,3}[:.]|[0-9A-Fa-f](?:[_-]|%3)|[0-9A-Fa-f]{5}|[xX])(?:"
    # 6 or 8 hex pairs with one separator throughout: 'a4:cf:…', 'A4-CF-…', 'a4_cf_…' (file names), '%3A' (URLs)
    rf"(?<=[0-9A-Fa-f]){_H}(?P<sep>[:._-]|%3[Aa])(?:{_H}{{2}}(?P=sep)){{4}}{_H}{{2}}(?:(?P=sep){_H}{{2}}(?P=sep){_H}{{2}})?"
    rf"(?!(?P=sep){_H}|[0-9A-Za-z])(?P<mac>)"
    rf"|(?<=[0-9A-Fa-f]){_H}{{3}}\.{_H}{{4}}\.{_H}{{4}}(?![0-9A-Za-z]|\.[0-9A-Fa-f])(?P<cisco>)"
    rf"|(?<=0)[xX]{_H}{{16}}(?![0-9A-Za-z])(?P<eui64>)"
    rf"|(?:(?<=[0-9A-Fa-f]){_H}{{0,3}}:(?:{_H}{{1,4}}:){{6}}{_H}{{1,4}}"
    rf"|(?<=[0-9A-Fa-f]){_H}{{0,3}}(?::{_H}{{1,4}}){{0,6}}::(?:(?:{_H}{{1,4}}:){{0,6}}(?:[0-9]{{1,3}}{_IPV4_TAIL}|{_H}{{1,4}}))?"
    rf"|(?<=:):(?:(?:{_H}{{1,4}}:){{0,6}}(?:[0-9]{{1,3}}{_IPV4_TAIL}|{_H}{{1,4}}))?)"
    r"(?:%[0-9A-Za-z_.-]+)?(?![0-9A-Za-z:])(?P<ipv6>)"
    rf"|(?<!\.[0-9])(?<=[0-9])[0-9]{{0,2}}{_IPV4_TAIL}(?![0-9]|\.[0-9])(?P<ipv4>)"
    # a Chinese mobile number: 11 digits from 13… to 19…
    r"|(?<![.:-]1)(?<=1)[3-9][0-9]{9}(?![0-9.:-])(?P<mobile>)"
    # 12 hex digits standing alone or ending a token ('shellyplus1pm-a8032ab12345'), but not a UUID's last group
    rf"|(?<!{_H}{{4}}-[0-9A-Fa-f])(?<=[0-9A-Fa-f]){_H}{{11}}(?![0-9A-Za-z])(?P<hex12>)"
    # 6 hex digits ending a device name: the MAC's last three bytes ('tasmota_A4CF12', 'shelly1-B929CC')
    rf"|(?<=[0-9A-Za-z][-_][0-9A-Fa-f]){_H}{{5}}(?![0-9A-Za-z])(?P<hex6>)"
    r")"
)
_MAC_KEYWORD_BEFORE = re.compile(r"(?i)(?:mac|bssid|hwaddr)[\"'\s:=_-]{0,4}$")
# Device-name prefixes whose 6-hex suffix is a MAC tail even when it has no digit ('tasmota_ABCDEF').
_MAC_TAIL_PREFIXES = ("tasmota", "shelly", "esp", "sonoff", "athom", "wled", "obk", "openbeken", "gosund", "nous")
_NETMASK_V4 = {str(ipaddress.IPv4Network(f"0.0.0.0/{bits}").netmask) for bits in range(33)}
_HEX_RUN = re.compile(r"[^0-9a-f]")
# The separator of a MAC or EUI-64 as written (its first non-hex character, or a URL-encoded ':').
_HARDWARE_SEPARATOR = re.compile(r"%3[Aa]|[^0-9A-Fa-f]")
# A host name with a local suffix ('nas.local', 'hub.fritz.box.'): the name and the suffix.
_LOCAL_NAME = re.compile(r"(?i)(.+?)\.(" + _LOCAL_SUFFIXES + r")\.?")
# What ends the device name a 6-hex MAC tail is read from.
_NAME_BREAK = re.compile(r"[^0-9A-Za-z_-]")

_KEY_SEPARATORS = str.maketrans("", "", "-_. ")

# Values never learned as literals: replacing them everywhere would rewrite the bundle's own vocabulary.
_MIN_LITERAL = 4


@lru_cache(maxsize=4096)  # bundles repeat the same few keys thousands of times
def _normalise_key(key: str) -> str:
    return key.lower().translate(_KEY_SEPARATORS)


@lru_cache(maxsize=4096)
def secret_kind(key: str) -> str | None:
    """Which kind of secret a value under ``key`` is, or None when the key is not secret-looking."""
    normalised = _normalise_key(key)
    if normalised in _SECRET_KEYS:
        return _SECRET_KEYS[normalised]
    for suffix, kind in _SECRET_SUFFIXES.items():
        if normalised.endswith(suffix):
            return kind
    return None


def _unquote(value: str) -> tuple[str, str]:
    """Split a matched value into its quote character and its content."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[0], value[1:-1]
    return "", value


def _same_case(hex_digits: str, like: str) -> str:
    return (
        hex_digits.upper() if any(c in "ABCDEF" for c in like) and not any(c in "abcdef" for c in like) else hex_digits
    )


@lru_cache(maxsize=1)
def _protected_words() -> frozenset[str]:
    """Our own field names and vocabularies (lower case): an SSID called 'online' must not rewrite every state."""
    from shared import models

    words: set[str] = set()
    for name in dir(models):
        value = getattr(models, name)
        if isinstance(value, type) and issubclass(value, models.StrEnum) and value is not models.StrEnum:
            words.update(member.value.lower() for member in value)
        if isinstance(value, type) and issubclass(value, models.BaseModel):
            words.update(field.lower() for field in value.model_fields)
    words.update(
        (
            "online",
            "offline",
            "up",
            "down",
            "true",
            "false",
            "null",
            "none",
            "unknown",
            "changed",
            "same",
            "opened",
            "closed",
            "weak",
            "ok",
            "degraded",
            "byebye",
            "agent",
            "home",
            "local",
            "wifi",
        )
    )
    return frozenset(words)


class PassScope(Enum):
    """Where a text pass runs in a long text once one of its triggers is there. Picking out the lines that hold a
    trigger costs ~2-3 µs a line; a pattern whose first characters are rare scans ~150-900 MB/s (bench.redact's
    logs), so scanning the whole text costs less than picking lines unless they are very few."""

    WHOLE_TEXT = "whole text"  # a pattern that scans fast
    TRIGGER_LINES = "trigger lines"  # a pattern that scans slowly (10-90 MB/s): only the lines holding a trigger


# Where triggers are denser than one per so many characters, even a slow pattern's scan of the whole text
# costs less than picking the lines.
_GATED_CHARACTERS_PER_TRIGGER = 200


class _TextPass(NamedTuple):
    """One text pass: a pattern and what replaces its matches."""

    triggers: tuple[str, ...]  # lower case; the pass runs on a text only when one of them is in it
    pattern: re.Pattern[str]
    replace: Callable[[re.Match[str]], str]
    scope: PassScope
    # Lower case; every match holds one of them. The triggers themselves, but for a pass whose pattern also
    # matches without its trigger (a query parameter after '&' or ';'): it runs over all of a text that holds
    # its trigger anywhere, so the lines of a text skipped must lack all of these.
    match_needs: tuple[str, ...]


# A log line's leading ISO 8601 timestamp, followed by a space, with the newline before it (a literal first
# character, which the regex engine finds fast; the first line, before any newline, stays with the text before).
# No pass matches inside one (its characters are digits, "-", ":", "T" or " ", ".", ",", "+", "Z", which begin
# no pattern but the address and phone ones, and those turn it away: no ":" group is long enough, no "+" is
# followed by a digit 1-9 and two digit groups) and none reaches from the message into it (every look-behind
# sees the space, no pattern crosses it), so a log is redacted as its timestamps, unchanged, and the text
# between them (``Redactor._redact_messages``).
_ISO_TIMESTAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})?"
)
_LEADING_TIMESTAMP = re.compile(rf"(\n{_ISO_TIMESTAMP})(?= )")
# A JSON value that is a timestamp alone is as inert (bundles hold thousands, each different).
_TIMESTAMP_VALUE = re.compile(_ISO_TIMESTAMP)
_TIMESTAMP_CHARACTERS = frozenset("0123456789-:T .,+Z")
_WHITE_SPACE = re.compile(r"\s")


def _sub_on_lines_with(
    triggers: tuple[str, ...], pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str], text: str, lower: str
) -> str:
    """``pattern.sub`` on the lines of ``text`` that hold a trigger (found in ``lower``, ``text`` lower-cased),
    joined so the pass runs once, and ``text`` itself when none does. Where triggers are dense, the whole text."""
    if len(lower) != len(text):  # a few characters grow when lower-cased ('İ'): offsets would not match
        return pattern.sub(replace, text)
    spans: dict[int, int] = {}  # line start -> its end (the newline's offset, or the text's end)
    dense = len(text) // _GATED_CHARACTERS_PER_TRIGGER
    for trigger in triggers:
        at = lower.find(trigger)
        while at != -1:
            if len(spans) > dense:
                return pattern.sub(replace, text)
            start = lower.rfind("\n", 0, at) + 1
            end = lower.find("\n", at)
            if end == -1:
                end = len(lower)
            spans[start] = end
            at = lower.find(trigger, end)
    if not spans:
        return text
    starts = sorted(spans)
    redacted = pattern.sub(replace, "\n".join([text[start : spans[start]] for start in starts])).split("\n")
    pieces: list[str] = []
    done = 0
    for start, line in zip(starts, redacted, strict=True):
        pieces += (text[done:start], line)
        done = spans[start]
    pieces.append(text[done:])
    return "".join(pieces)


_CountsAdded = tuple[tuple[str, int], ...]
# Tuples, not unions: ``isinstance(x, dict | list)`` builds the union at every call (twice the time, and the JSON
# walks make it for every value).
_CONTAINERS = (dict, list)
_SEQUENCES = (list, tuple)


def _literal_spellings(value: str, kind: str) -> set[str]:
    """How a learned value is written: as it is, inside a JSON string, a hostname in either case too."""
    forms = {value, json.dumps(value)[1:-1]}
    if kind == "hostname":
        forms |= {value.lower(), value.upper()}
    return forms


class _KeyPlan(NamedTuple):
    """What a JSON key says of the value under it (JSON documents repeat the same few keys thousands of times)."""

    secret_kind: str | None  # a secret of this kind: removed
    identifier: Callable[[str], str] | None  # an identifier: this pseudonym function
    learned_kind: str | None  # an identifying value learned as this kind (``Redactor.learn``)


def _added(before: dict[str, int], after: Counter[str]) -> _CountsAdded:
    """What ``after`` counts more than ``before``, a copy of it taken earlier (counts only grow)."""
    if before == dict(after):  # a Counter's own == runs in Python
        return ()
    return tuple((kind, count - before.get(kind, 0)) for kind, count in after.items() if count != before.get(kind, 0))


def _joined(parts: list[str], originals: list[str], redacted: list[str]) -> str:
    """``parts`` (text and timestamps alternating, ``_LEADING_TIMESTAMP.split``) with each text replaced by its
    redaction (``redacted[i]`` of ``originals[i]``), joined."""
    by_original = dict(zip(originals, redacted, strict=True))
    texts = parts.copy()
    texts[::2] = map(by_original.__getitem__, parts[::2])
    return "".join(texts)


class Redactor:
    """Redacts text and JSON with one household's pseudonym key, counting what it did."""

    def __init__(self, key: bytes, *, extra_secret_keys: Iterable[str] = (), keep_private_ips: bool = False) -> None:
        if not key:
            raise ValueError("the pseudonym key must not be empty")
        self._key = key
        self._extra_secret_keys = {_normalise_key(name) for name in extra_secret_keys}
        self._keep_private_ips = keep_private_ips
        self._replaced: Counter[str] = Counter()
        self._removed: Counter[str] = Counter()
        # Pseudonyms this redactor produced: met again (another file, a second pass), they stay as they are.
        self._produced: set[str] = set()
        self._cache: dict[tuple[str, str], tuple[str, str | None]] = {}
        # Original values learned under identifying keys -> kind; replaced wherever else they occur.
        self._literals: dict[str, str] = {}
        self._literal_pattern: re.Pattern[str] | None = None
        self._literal_spellings: dict[str, str] = {}
        self._literals_clear_of_timestamps = True
        self.literal_generation = 0  # grows whenever a value is learned
        self._passes = self._pass_table()
        self._any_trigger = re.compile(
            "|".join(re.escape(trigger) for text_pass in self._passes for trigger in text_pass.triggers)
        )
        self._addresses: dict[str, tuple[str, str | None]] = {}
        self._learned_pseudonyms: dict[str, Callable[[str], str]] = {
            "ssid": self.pseudonym_ssid,
            "hostname": self.pseudonym_hostname,
            "serial": self.pseudonym_serial,
            "phone": self.pseudonym_phone,
            "email": self.pseudonym_email,
        }
        # A MAC's pseudonym digits (two keyed hashes), the same for each of its spellings.
        self._mac_digit_cache: dict[str, str] = {}
        self._ip_texts: dict[str, bool] = {}
        # Short strings (JSON values) repeat: their redaction and what it counted, valid while nothing new is learned.
        self._short_plain: dict[str, str] = {}
        self._short_counted: dict[str, tuple[str, _CountsAdded, _CountsAdded]] = {}
        self._key_plans: dict[str, _KeyPlan] = {}
        # How many times the text being redacted occurs in the text it stands for: every count is made that often
        # (a log's repeated messages are redacted once, ``_redact_messages``).
        self._occurrences = 1

    # -- pseudonyms ---------------------------------------------------------------------------

    def _digest(self, kind: str, normalised: str) -> bytes:
        return hmac.digest(self._key, f"{kind}\x00{normalised}".encode(), "sha256")

    def _pseudonym(self, cache_kind: str, value: str, compute: Callable[[str], tuple[str, str | None]]) -> str:
        """Memoised ``compute(value)`` -> (result, kind counted or None when left unchanged)."""
        if value in self._produced:
            return value
        cached = self._cache.get((cache_kind, value))
        if cached is None:
            cached = self._cache[(cache_kind, value)] = compute(value)
            if cached[1] is not None:
                self._produced.add(cached[0])
        result, kind = cached
        if kind is not None:
            self._replaced[kind] += self._occurrences
        return result

    def _mac_digits(self, hex12: str) -> str:
        """12 pseudonym hex digits: 02 (locally administered), two from the whole MAC, three from its last
        three bytes alone, so a name carrying only the MAC's tail ('tasmota_A4CF12') gets the same tail."""
        digits = self._mac_digit_cache.get(hex12)
        if digits is None:
            digits = self._mac_digit_cache[hex12] = (
                "02" + self._digest("mac", hex12).hex()[:4] + self._mac_tail(hex12[6:])
            )
        return digits

    def _mac_tail(self, hex6: str) -> str:
        return self._digest("mac-tail", hex6).hex()[:6]

    def pseudonym_mac(self, mac: str) -> str:
        """A MAC in any spelling -> the pseudonym in the same spelling (separator, case)."""
        return self._pseudonym("mac", mac, self._compute_mac)

    def _compute_mac(self, mac: str) -> tuple[str, str | None]:
        hex12 = _HEX_RUN.sub("", mac.lower().replace("%3a", ":"))
        if len(hex12) != 12:
            return mac, None
        digits = _same_case(self._mac_digits(hex12), mac)
        separator = _HARDWARE_SEPARATOR.search(mac)
        if separator is None:
            return digits, "mac"
        if mac.count(".") == 2 and len(mac) == 14:  # Cisco 'a4cf.1234.5678'
            return ".".join(digits[i : i + 4] for i in range(0, 12, 4)), "mac"
        return separator[0].join(digits[i : i + 2] for i in range(0, 12, 2)), "mac"

    def _pseudonym_mac_tail(self, hex6: str) -> str:
        return self._pseudonym(
            "mac-tail", hex6, lambda value: (_same_case(self._mac_tail(value.lower()), value), "mac")
        )

    def _pseudonym_eui64(self, value: str) -> str:
        def compute(original: str) -> tuple[str, str | None]:
            hex16 = _HEX_RUN.sub("", original.lower().replace("%3a", ":"))
            digits = _same_case("02" + self._digest("eui64", hex16).hex()[:14], original)
            separator = _HARDWARE_SEPARATOR.search(original)
            if separator is None:
                return digits, "eui64"
            return separator[0].join(digits[i : i + 2] for i in range(0, 16, 2)), "eui64"

        return self._pseudonym("eui64", value, compute)

    def pseudonym_ip(self, text: str) -> str:
        """Pseudonymise an IPv4/IPv6 address; addresses that identify nobody are returned unchanged."""
        return self._pseudonym("ip", text, self._compute_ip)

    def _compute_ip(self, text: str) -> tuple[str, str | None]:
        address_text, _, zone = text.partition("%")
        if "." in address_text and ":" not in address_text:
            # '192.168.001.020' is still an address to a person reading it (and to some parsers).
            octets = address_text.split(".")
            if len(octets) == 4 and all(octet.isdecimal() and int(octet) <= 255 for octet in octets):
                address_text = ".".join(str(int(octet)) for octet in octets)
        try:
            address = ipaddress.ip_address(address_text)
        except ValueError:
            return text, None
        if address.is_loopback or address.is_unspecified or address.is_multicast or address_text in _NETMASK_V4:
            return text, None
        if self._keep_private_ips and (address.is_private or address.is_link_local):
            return text, None
        digest = self._digest(f"ipv{address.version}", address.compressed)
        if address.version == 4:
            if address.is_private or address.is_link_local:
                # 10.0.0.0/8 keeps "it is on the LAN" visible; never loopback.
                return f"10.{digest[0]}.{digest[1]}.{digest[2] or 1}", "ipv4"
            # 198.18.0.0/15 (benchmarking, RFC 2544): public-looking, never routed to anyone real.
            return f"198.{18 + (digest[0] & 1)}.{digest[1]}.{digest[2] or 1}", "ipv4"
        groups = ":".join(digest[i : i + 2].hex() for i in range(0, 8, 2))
        return f"fd00::{groups}" + (f"%{zone}" if zone else ""), "ipv6"

    def pseudonym_email(self, email: str) -> str:
        return self._pseudonym(
            "email",
            email,
            lambda value: (f"user-{self._digest('email', value.lower()).hex()[:10]}@example.invalid", "email"),
        )

    def pseudonym_hostname(self, name: str, keep_suffix: str = "") -> str:
        if self._is_ip(name):
            return self.pseudonym_ip(name)
        if not keep_suffix:
            local = _LOCAL_NAME.fullmatch(name)
            if local:
                name, keep_suffix = local[1], local[2].lower()
        suffix = f".{keep_suffix}" if keep_suffix else ""
        return self._pseudonym(
            "hostname" + suffix,
            name,
            lambda value: (
                f"host-{self._digest('hostname', value.lower().rstrip('.')).hex()[:10]}{suffix}",
                "hostname",
            ),
        )

    def pseudonym_ssid(self, ssid: str) -> str:
        if not ssid:
            return ssid
        return self._pseudonym("ssid", ssid, lambda value: (f"ssid-{self._digest('ssid', value).hex()[:10]}", "ssid"))

    def pseudonym_serial(self, serial: str) -> str:
        return self._pseudonym(
            "serial", serial, lambda value: (f"serial-{self._digest('serial', value.upper()).hex()[:10]}", "serial")
        )

    def pseudonym_phone(self, phone: str) -> str:
        def compute(value: str) -> tuple[str, str | None]:
            digits = "".join(c for c in value if c.isdigit())
            return f"phone-{self._digest('phone', digits).hex()[:10]}", "phone"

        return self._pseudonym("phone", phone, compute)

    def _is_ip(self, text: str) -> bool:
        """Whether a host name is an IP address (memoised: a name recurs at every occurrence, and the ValueError
        that says no costs microseconds)."""
        known = self._ip_texts.get(text)
        if known is None:
            try:
                ipaddress.ip_address(text.partition("%")[0])
                known = True
            except ValueError:
                known = False
            self._ip_texts[text] = known
        return known

    # -- learned values -------------------------------------------------------------------------

    def learn(self, kind: str, value: str) -> None:
        """Remember an identifying value (ssid, hostname, serial, phone) to replace wherever else it occurs."""
        value = value.strip()
        if (
            len(value) < _MIN_LITERAL
            or value in self._literals
            or value in self._produced
            or value.isdigit()
            or value.lower() in _protected_words()
            or "\n" in value
        ):
            return
        self._literals[value] = kind
        self._literal_pattern = None
        self.literal_generation += 1
        # Timestamps are inert (``_TIMESTAMP_VALUE``) while no learned value can match in one, or from a log's
        # leading one into its message: while each has a character no timestamp has before its first white space.
        if any(
            _TIMESTAMP_CHARACTERS.issuperset(_WHITE_SPACE.split(spelling, maxsplit=1)[0])
            for spelling in _literal_spellings(value, kind)
        ):
            self._literals_clear_of_timestamps = False
        self._short_plain.clear()
        self._short_counted.clear()

    def _literal_regex(self) -> re.Pattern[str] | None:
        if self._literal_pattern is None and self._literals:
            spellings: dict[str, str] = {}
            for value, kind in self._literals.items():
                for form in _literal_spellings(value, kind):
                    spellings.setdefault(form, value)
            self._literal_spellings = spellings
            self._literal_pattern = re.compile(_trie_pattern(list(spellings)))
        return self._literal_pattern

    def _replace_literal(self, match: re.Match[str]) -> str:
        original = self._literal_spellings[match[0]]
        return self._pseudonym_for(self._literals[original], original)

    def _pseudonym_for(self, kind: str, value: str) -> str:
        return self._learned_pseudonyms[kind](value)

    def replace_learned(self, text: str) -> str:
        """Replace the learned values in ``text`` (a pass of its own, for text redacted before they were learned)."""
        pattern = self._literal_regex()
        return pattern.sub(self._replace_literal, text) if pattern is not None else text

    # -- text ---------------------------------------------------------------------------------

    def count_removed(self, kind: str) -> None:
        """Record a secret (or a whole file) removed without a replacement value."""
        self._removed[kind] += self._occurrences

    def _remove(self, kind: str) -> str:
        self.count_removed(kind)
        return REDACTED

    def _url_credentials(self, match: re.Match[str]) -> str:
        self._removed["url_credentials"] += self._occurrences
        host = match["host"]
        if host.startswith("["):
            return f"://[{self.pseudonym_ip(host[1:-1])}]"
        return "://" + self.pseudonym_hostname(host)

    def _query_parameter(self, match: re.Match[str]) -> str:
        name, value = match["name"], match["value"]
        kind = self._secret_kind(name) or _SECRET_QUERY_NAMES.get(_normalise_key(name))
        if kind is None or value == REDACTED:
            return match[0]
        return f"{match['lead']}{name}={self._remove(kind)}"

    def _key_value_secret(self, match: re.Match[str]) -> str:
        quote, value = _unquote(match["value"])
        if value == REDACTED:
            return match[0]
        kind = secret_kind(match["name"]) or "password"
        return f"{match['name']}{match['sep']}{quote}{self._remove(kind)}{quote}"

    def _ssid(self, match: re.Match[str]) -> str:
        if match["colon"] is not None:
            quote, value = _unquote(match["line"])
            separator = match["colon"]
        else:
            quote, value = _unquote(match["value"])
            separator = match["sep"]
        self.learn("ssid", value)
        return f"{match['name']}{separator}{quote}{self.pseudonym_ssid(value)}{quote}"

    def _serial(self, match: re.Match[str]) -> str:
        value = match["value"]
        if value.startswith("serial-") or value == REDACTED:
            return match[0]
        self.learn("serial", value)
        return f"{match['name']}{match['sep']}{self.pseudonym_serial(value)}"

    def _address(self, match: re.Match[str]) -> str:
        # The same addresses recur thousands of times in a bundle: remember each one's answer (and the kind it
        # counts) for the kinds that do not depend on what surrounds them.
        value = match[0]
        known = self._addresses.get(value)
        if known is not None:
            result, counted = known
            if counted is not None:
                self._replaced[counted] += self._occurrences
            return result
        kind = match.lastgroup
        if kind in ("hex12", "hex6"):
            return self._address_in_context(kind, value, match)
        before = dict(self._replaced)  # a Counter's copy and subtraction run in Python
        result = self._context_free_address(kind, value)
        counted = next((name for name, count in self._replaced.items() if count != before.get(name, 0)), None)
        self._addresses[value] = (result, counted)
        return result

    def _context_free_address(self, kind: str | None, value: str) -> str:
        if kind == "mac":
            return (
                self.pseudonym_mac(value)
                if len(_HEX_RUN.sub("", value.lower().replace("%3a", ":"))) == 12
                else (self._pseudonym_eui64(value))
            )
        if kind == "ipv4" or kind == "ipv6":
            return self.pseudonym_ip(value)
        if kind == "cisco":
            return self.pseudonym_mac(value)
        if kind == "eui64":
            return value[:2] + self._pseudonym_eui64(value[2:])
        return value if value in self._produced else self.pseudonym_phone(value)  # mobile

    def _address_in_context(self, kind: str, value: str, match: re.Match[str]) -> str:
        if kind == "hex12":
            if value in self._produced:
                return value
            start = match.start()
            before = match.string[max(0, start - 12) : start]
            if (
                any(c in "abcdefABCDEF" for c in value)
                or before[-1:] in ("-", "_")
                or _MAC_KEYWORD_BEFORE.search(before)
            ):
                return self.pseudonym_mac(value)
            return value
        # hex6: a MAC tail at the end of a device name
        start = match.start()
        word = _NAME_BREAK.split(match.string[max(0, start - 24) : start - 1])[-1].lower()
        if any(c.isdigit() for c in value) or word.startswith(_MAC_TAIL_PREFIXES):
            return self._pseudonym_mac_tail(value)
        return value

    def _local_host(self, match: re.Match[str]) -> str:
        if match[0] in self._produced or match["name"] in self._produced:
            return match[0]
        return self.pseudonym_hostname(match["name"], keep_suffix=match["suffix"].lower())

    def _pass_table(self) -> tuple[_TextPass, ...]:
        """The text passes in the order they run: a pass runs only where one of its triggers is."""
        whole, lines = PassScope.WHOLE_TEXT, PassScope.TRIGGER_LINES

        def gated(
            triggers: tuple[str, ...],
            pattern: re.Pattern[str],
            replace: Callable[[re.Match[str]], str],
            scope: PassScope,
            match_needs: tuple[str, ...] | None = None,
        ) -> _TextPass:
            return _TextPass(triggers, pattern, replace, scope, triggers if match_needs is None else match_needs)

        return (
            gated(("://",), _URL_CREDENTIALS, self._url_credentials, whole),
            gated(("?",), _QUERY_PARAMETER, self._query_parameter, whole, match_needs=("?", "&", ";")),
            gated(
                ("authorization", "cookie"),
                _HEADER_SECRET,
                lambda m: f"{m['name']}{m['sep']}{self._remove('token')}",
                lines,
            ),
            gated(("bearer", "basic"), _BEARER, lambda m: f"{m['word']} {self._remove('token')}", whole),
            gated(("eyj",), _JWT, lambda m: self._remove("token"), whole),
            gated(_TEXT_SECRET_TRIGGERS, _KEY_VALUE_SECRET, self._key_value_secret, lines),
            gated(("ssid",), _SSID_TEXT, self._ssid, whole),
            gated(("serial", "sn", "s/n"), _SERIAL_TEXT, self._serial, whole),
            gated(("usb-",), _USB_SERIAL, lambda m: "usb-" + m["lead"] + self.pseudonym_serial(m["value"]), whole),
            gated(("@",), _EMAIL, lambda m: self.pseudonym_email(m[0]), lines),
            gated(("+", "("), _PHONE, self._phone, whole),
            gated(_LOCAL_TRIGGERS, _LOCAL_HOST, self._local_host, lines),
        )

    def redact_text(self, text: str) -> str:
        if "\n" in text:
            messages = self._repeated_messages(text)
            if messages is not None:
                return self._redact_messages(*messages)
        lower = text.lower()
        if "private key" in lower:  # the only pass that spans lines
            text = _PRIVATE_KEY_BLOCK.sub(lambda m: self._remove("key"), text)
            lower = text.lower()
        if "\n" not in text:
            if self._any_trigger.search(lower) is not None:  # most short texts (JSON values) hold none
                for triggers, pattern, replace, *_ in self._passes:
                    if any(trigger in lower for trigger in triggers):
                        text = pattern.sub(replace, text)
        else:
            text = self._gated_passes(text, lower)
        text = self.replace_learned(text)
        return _ADDRESS.sub(self._address, text)

    def _gated_passes(self, text: str, lower: str) -> str:
        """The trigger-gated passes over a long text. Where a pass's triggers are rare, it runs once over the
        lines that hold them, joined, so its cost follows the lines concerned and not the whole text; where they
        are dense, finding those lines costs more than the pass's scan of the whole text, which it then makes.
        No pass crosses a line."""
        for triggers, pattern, replace, scope, _ in self._passes:
            if scope is PassScope.TRIGGER_LINES:
                redacted = _sub_on_lines_with(triggers, pattern, replace, text, lower)
            elif any(trigger in lower for trigger in triggers):
                redacted = pattern.sub(replace, text)
            else:
                continue
            if redacted is not text:
                text, lower = redacted, redacted.lower()
        return text

    def _repeated_messages(self, text: str) -> tuple[list[str], Counter[str], list[str]] | None:
        """A log split at its lines' leading timestamps, ``[text before the first, timestamp, message, timestamp,
        message, ...]``, how often each distinct message occurs (in the order they first do) and those messages
        lower-cased; None where redacting the messages one by one would not pay (most differ) or could differ
        from redacting the text (a private key block spans lines; no timestamp holds those words)."""
        parts = _LEADING_TIMESTAMP.split(text)
        occurrences = Counter(parts[::2])
        if len(occurrences) * 2 > len(parts) // 2 + 1:
            return None
        lowered = [message.lower() for message in occurrences]
        if any("private key" in message for message in lowered):
            return None
        return parts, occurrences, lowered

    def _redact_messages(self, parts: list[str], occurrences: Counter[str], lowered: list[str]) -> str:
        """``redact_text`` of a log whose messages repeat (``_repeated_messages``), with each distinct message
        redacted once. The passes run in the same order over the same messages as over the whole text, each
        pass over every message before the next pass: a value an earlier pass learns or a pseudonym it makes
        meets the later passes as it would in the text, and what a message counts is counted as often as it
        occurs. Timestamps are left as they are; no pass matches in one (``_LEADING_TIMESTAMP``)."""
        distinct = list(occurrences)
        counts = list(occurrences.values())
        messages = distinct.copy()
        try:
            for triggers, pattern, replace, _, match_needs in self._passes:
                # the text's own gate: a trigger anywhere in it (a timestamp holds none but "+", whose pass
                # only matches where its trigger is)
                if match_needs is not triggers and not any(t in low for low in lowered for t in triggers):
                    continue
                for index, low in enumerate(lowered):
                    for need in match_needs:
                        if need in low:
                            break
                    else:
                        continue  # no match can be in this message
                    self._occurrences = counts[index]
                    redacted = pattern.sub(replace, messages[index])
                    if redacted is not messages[index]:
                        messages[index], lowered[index] = redacted, redacted.lower()
            literals = self._literal_regex()
            if literals is not None and not self._literals_clear_of_timestamps:
                self._occurrences = 1
                text = self.replace_learned(_joined(parts, distinct, messages))
                return _ADDRESS.sub(self._address, text)
            for index, message in enumerate(messages):
                self._occurrences = counts[index]
                if literals is not None:
                    message = literals.sub(self._replace_literal, message)
                messages[index] = _ADDRESS.sub(self._address, message)
        finally:
            self._occurrences = 1
        return _joined(parts, distinct, messages)

    def _phone(self, match: re.Match[str]) -> str:
        value = match[0]
        # fewer than 8 digits is no phone number; more than 15 is several run together: replaced all the same
        if sum(c.isdigit() for c in value) < 8 or value in self._produced:
            return value
        return self.pseudonym_phone(value)

    # -- JSON ---------------------------------------------------------------------------------

    def _secret_kind(self, key: str) -> str | None:
        return "secret" if _normalise_key(key) in self._extra_secret_keys else secret_kind(key)

    def _identifier_function(self, key: str) -> Callable[[str], str] | None:
        normalised = _normalise_key(key)
        if normalised in _MAC_KEYS:
            return self._mac_value
        if normalised in _SSID_KEYS:
            return self.pseudonym_ssid
        if normalised in _HOST_KEYS:
            return self.pseudonym_hostname
        if normalised in _SERIAL_KEYS:
            return self.pseudonym_serial
        if normalised in _PHONE_KEYS:
            return self.pseudonym_phone
        if normalised in _EMAIL_KEYS:
            return self._email_value
        return None

    def _key_plan(self, key: str) -> _KeyPlan:
        plan = self._key_plans[key] = _KeyPlan(
            self._secret_kind(key), self._identifier_function(key), _LEARNED_KEY_KINDS.get(_normalise_key(key))
        )
        return plan

    def _email_value(self, value: str) -> str:
        return self.pseudonym_email(value) if "@" in value else self.redact_text(value)

    def _mac_value(self, value: str) -> str:
        compact = value.lower().removeprefix("0x")
        if re.fullmatch(r"(?i)[0-9a-f]{2}([:-]?)(?:[0-9a-f]{2}\1){4}[0-9a-f]{2}", value):
            return self.pseudonym_mac(value)
        if re.fullmatch(r"[0-9a-f]{16}", compact):
            return value[: len(value) - 16] + self._pseudonym_eui64(value[len(value) - 16 :])
        return self.redact_text(value)

    def redact_json(self, value: Any) -> Any:
        """A redacted deep copy of a JSON value (dicts, lists, str, numbers, bools, None)."""
        return self._redact_value(value, None)

    def learn_json(self, value: Any) -> None:
        """Learn the identifying values of a JSON document (SSIDs, hostnames, serials, phones) before redacting."""
        if isinstance(value, dict):
            plans = self._key_plans
            for key, item in value.items():
                text_key = str(key)
                kind = (plans.get(text_key) or self._key_plan(text_key)).learned_kind
                if kind is not None and isinstance(item, str):
                    self.learn(kind, item)
                elif kind is not None and isinstance(item, list):
                    for element in item:
                        if isinstance(element, str):
                            self.learn(kind, element)
                elif isinstance(item, _CONTAINERS):
                    self.learn_json(item)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, _CONTAINERS):
                    self.learn_json(item)

    def _redact_short(self, text: str) -> str:
        """``redact_text`` for short strings, memoised with the counts it adds (``_short_plain`` holds those that
        count nothing, looked up first by the JSON walk)."""
        if len(text) > 256:
            return self.redact_text(text)
        cached = self._short_counted.get(text)
        if cached is None and self._literals_clear_of_timestamps and _TIMESTAMP_VALUE.fullmatch(text):
            self._short_plain[text] = text
            return text
        if cached is None:
            generation = self.literal_generation
            replaced, removed = dict(self._replaced), dict(self._removed)
            result = self.redact_text(text)
            replaced_delta, removed_delta = _added(replaced, self._replaced), _added(removed, self._removed)
            if generation != self.literal_generation or len(self._short_plain) + len(self._short_counted) >= 100_000:
                return result
            if replaced_delta or removed_delta:
                self._short_counted[text] = (result, replaced_delta, removed_delta)
            else:
                self._short_plain[text] = result
            return result
        result, replaced_delta, removed_delta = cached
        for kind, count in replaced_delta:
            self._replaced[kind] += count
        for kind, count in removed_delta:
            self._removed[kind] += count
        return result

    def _redact_value(self, value: Any, identifier: Callable[[str], str] | None) -> Any:
        if isinstance(value, str):
            if identifier:
                return identifier(value)
            known = self._short_plain.get(value)
            return self._redact_short(value) if known is None else known
        if isinstance(value, _SEQUENCES):
            return [self._redact_value(item, identifier) for item in value]
        if isinstance(value, dict):
            result = {}
            plans, short_plain = self._key_plans, self._short_plain  # the same dicts all along (learning clears them)
            for key, item in value.items():
                text_key = str(key)
                kind, identifier_of_key, _ = plans.get(text_key) or self._key_plan(text_key)
                new_key = short_plain.get(text_key)
                if new_key is None:
                    new_key = self._redact_short(text_key)
                if kind is not None and item not in (None, "", [], {}):
                    result[new_key] = self._remove(kind)
                elif identifier_of_key is None and isinstance(item, str):  # most values: no call for them
                    known = short_plain.get(item)
                    result[new_key] = self._redact_short(item) if known is None else known
                else:
                    result[new_key] = self._redact_value(item, identifier_of_key)
            return result
        if identifier is not None and isinstance(value, int) and not isinstance(value, bool):
            # a serial or phone number written as a JSON number is still one
            redacted = identifier(str(value))
            return value if redacted == str(value) else redacted
        return value

    def redact_trigger(self, trigger: Trigger) -> Trigger:
        """The manifest's trigger with its signature and summary redacted (they name devices by their ids)."""
        return trigger.model_copy(
            update={
                "signature": None if trigger.signature is None else self.redact_text(trigger.signature),
                "summary": None if trigger.summary is None else self.redact_text(trigger.summary),
            }
        )

    def summary(self) -> RedactionSummary:
        return RedactionSummary(
            replaced=dict(sorted(self._replaced.items())), removed=dict(sorted(self._removed.items()))
        )


_LEARNED_KEY_KINDS = {
    **{key: "ssid" for key in _SSID_KEYS},
    **{key: "hostname" for key in _HOST_KEYS},
    **{key: "serial" for key in _SERIAL_KEYS},
    **{key: "phone" for key in _PHONE_KEYS},
}


def _json_text(value: Any, *, indent: int | None = None) -> str:
    """``json.dumps(value, ensure_ascii=False)``, compact or indented, written by pydantic-core's encoder (C
    speed; ``json.dumps`` with an indent is pure Python). The same text but for an exponent's spelling
    (``1e-7`` for ``1e-07``), the same value; a lone surrogate, which UTF-8 cannot carry, goes to ``json``."""
    try:
        return pydantic_core.to_json(value, indent=indent).decode()
    except pydantic_core.PydanticSerializationError:
        return json.dumps(value, ensure_ascii=False, indent=indent, separators=None if indent else (",", ":"))


def _redact_jsonl(lines: list[Any | str], redactor: Redactor) -> str:
    out = []
    for line in lines:
        if isinstance(line, str):  # not JSON (a torn last line, say): still redacted, never lost
            out.append(redactor.redact_text(line))
        else:
            out.append(_json_text(redactor.redact_json(line)))
    return "".join(line + "\n" for line in out)


def _parse_jsonl(text: str) -> list[Any | str]:
    parsed: list[Any | str] = []
    for line in text.splitlines():
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append(line)
    return parsed


_NOT_JSON = object()


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _NOT_JSON


def _suffix(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return base[base.rfind(".") :].lower() if "." in base else ""


def redact_name(name: str, redactor: Redactor) -> str:
    """A member name with its identifiers replaced; still a valid relative name (no '/', '..' introduced)."""
    redacted = "/".join(redactor.redact_text(part) for part in name.split("/"))
    return redacted.replace("\\", "_")


def redact_files(files: Mapping[str, bytes], redactor: Redactor) -> dict[str, bytes]:
    """Redact every file (and its name) by its type; unredactable binaries are dropped (known kinds) or refused.

    JSON documents are read first so that what they say under identifying keys (the SSID, the hub's hostname,
    a serial) is known before any file is redacted; values learned later in free text get a final pass over
    the files redacted before.
    """
    decoded: dict[str, tuple[str, Any]] = {}
    for name, data in files.items():
        suffix = _suffix(name)
        if suffix in DROPPED_BINARY_SUFFIXES:
            redactor.count_removed(DROPPED_BINARY_SUFFIXES[suffix])
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RedactionError(f"{name!r} is binary and cannot be redacted; it was not bundled") from exc
        parsed: Any = _NOT_JSON
        if suffix == ".json":
            parsed = _parse_json(text)
            if parsed is not _NOT_JSON:
                redactor.learn_json(parsed)
        elif suffix == ".jsonl":
            parsed = _parse_jsonl(text)
            redactor.learn_json([line for line in parsed if not isinstance(line, str)])
        decoded[name] = (text, parsed)
    redacted: dict[str, tuple[str, int]] = {}
    for name, (text, parsed) in decoded.items():
        suffix = _suffix(name)
        generation = redactor.literal_generation  # what a file learns, its own earlier parts missed too
        if parsed is _NOT_JSON:
            out = redactor.redact_text(text)
        elif suffix == ".jsonl":
            out = _redact_jsonl(parsed, redactor)
        else:
            out = _json_text(redactor.redact_json(parsed), indent=2) + "\n"
        redacted[name] = (out, generation)
    final = redactor.literal_generation
    result: dict[str, bytes] = {}
    for name, (out, generation) in redacted.items():
        if generation != final:
            out = redactor.replace_learned(out)
        new_name = redact_name(name, redactor)
        if new_name in result:  # two names that differed only by a secret: keep both files
            new_name = next(f"{new_name}.{n}" for n in range(2, len(redacted) + 2) if f"{new_name}.{n}" not in result)
        result[new_name] = out.encode("utf-8")
    return result


def redact_customer_text(text: str, redactor: Redactor) -> str:
    """Customer-entered text (intake, replies, a screenshot's description) under the same rules as bundles."""
    return redactor.redact_text(text)
