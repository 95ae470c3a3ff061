"""Redaction applied by the agent before a bundle is signed.

Secrets (passwords, tokens, PSKs, URL credentials, cookies) are removed and replaced
by ``[REDACTED]``. Identifiers (MAC, IPv4, IPv6, e-mail, hostname, SSID) are replaced
by keyed pseudonyms: HMAC-SHA256 of the household's pseudonym key over the kind and
the normalised value, shaped so tools still parse them. The same value gets the same
pseudonym everywhere in a household; another household's key gives another one.
The rules and shapes are documented in docs/bundle-format.md.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from shared.errors import RedactionError
from shared.models import RedactionSummary

REDACTED = "[REDACTED]"

# Binary files we cannot redact are dropped and counted under ``removed``.
DROPPED_BINARY_SUFFIXES = {".pcap": "pcap", ".pcapng": "pcap"}

# Normalised key (lower case, without "_", "-", ".", " ") -> kind of secret removed.
_SECRET_KEYS = {
    "password": "password", "passwd": "password", "pass": "password", "pwd": "password",
    "passphrase": "password", "token": "token", "accesstoken": "token", "refreshtoken": "token",
    "authtoken": "token", "auth": "token", "authorization": "token", "bearer": "token",
    "secret": "secret", "clientsecret": "secret", "key": "key", "apikey": "key", "privatekey": "key",
    "psk": "psk", "wpa": "psk", "wpapsk": "psk", "wpapassphrase": "psk", "credential": "credentials",
    "credentials": "credentials", "cookie": "session", "setcookie": "session", "session": "session",
    "sessionid": "session",
}
# Keys ending like this are secrets too ("mqtt_password", "wifi_psk"), but "keyid" is not.
_SECRET_SUFFIXES = {
    "password": "password", "passwd": "password", "passphrase": "password", "token": "token",
    "secret": "secret", "apikey": "key", "privatekey": "key", "psk": "psk", "credentials": "credentials",
}
_MAC_KEYS = {"mac", "macs", "macaddress", "macaddr", "bssid", "hwaddr", "hwaddress"}
_SSID_KEYS = {"ssid", "ssids", "essid"}
_HOST_KEYS = {"hostname", "hn", "host", "hostnames", "fqdn"}

_TEXT_SECRET_WORDS = (
    r"wpa_passphrase|wpa_psk|passphrase|password|passwd|pwd|pass|psk|api[_-]?key|apikey|private[_-]?key"
    r"|access[_-]?token|refresh[_-]?token|auth[_-]?token|token|client[_-]?secret|secret|credentials?"
    r"|session[_-]?id"
)
_TEXT_SECRET_TRIGGERS = ("pass", "pwd", "psk", "key", "token", "secret", "credential", "session")
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@]+)@(?P<host>\[[0-9A-Fa-f:.]+\]|[^/\s:?#\[\]]+)"
)
# Only the secret word is matched, whatever precedes it ("mqtt_password", "Proxy-Authorization")
# stays in place: a scan anchored on the word is several times faster than one on the whole key,
# and an occasional over-match ("bypass=1") only over-redacts.
_HEADER_SECRET = re.compile(r"(?i)(?P<name>authorization|cookie)(?P<sep>[ \t]*:[ \t]*)[^\r\n]+")
_BEARER = re.compile(r"(?i)(?P<word>bearer|basic) +[A-Za-z0-9._~+/=-]{8,}")
_KEY_VALUE_SECRET = re.compile(
    r"(?i)(?P<name>" + _TEXT_SECRET_WORDS + r")"
    r"(?P<sep>[\"']?\s*[:=]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&\"'}\]]+)"
)
_SSID_TEXT = re.compile(r"(?i)\b(?P<name>e?ssid)(?P<sep>[\"']?\s*[:=]\s*|\s+)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;\"'}\]]+)")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_MAC = re.compile(r"(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:-])")
_BARE_MAC = re.compile(r"(?i)\b(?P<name>mac(?:[_ -]?addr(?:ess)?)?|bssid)(?P<sep>[\"']?\s*[:=]?\s*[\"']?)(?P<value>[0-9a-f]{12})\b")
_IPV6 = re.compile(r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%[0-9A-Za-z_.-]+)?(?![0-9A-Za-z:])")
_IPV4 = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?!\.?[0-9])")
_LOCAL_HOST = re.compile(r"(?i)(?<![A-Za-z0-9_.-])[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*\.(?P<suffix>local|lan|home)\b(?!-)")
_NETMASK_V4 = {str(ipaddress.IPv4Network(f"0.0.0.0/{bits}").netmask) for bits in range(33)}


_KEY_SEPARATORS = str.maketrans("", "", "-_. ")


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

    # -- pseudonyms ---------------------------------------------------------------------------

    def _digest(self, kind: str, normalised: str) -> bytes:
        return hmac.new(self._key, f"{kind}\x00{normalised}".encode(), hashlib.sha256).digest()

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
            self._replaced[kind] += 1
        return result

    def pseudonym_mac(self, mac: str) -> str:
        return self._pseudonym("mac", mac, self._compute_mac)

    def _compute_mac(self, mac: str) -> tuple[str, str | None]:
        digest = self._digest("mac", re.sub(r"[^0-9a-f]", "", mac.lower()))
        return "02:" + ":".join(f"{b:02x}" for b in digest[:5]), "mac"

    def pseudonym_ip(self, text: str) -> str:
        """Pseudonymise an IPv4/IPv6 address; addresses that identify nobody are returned unchanged."""
        return self._pseudonym("ip", text, self._compute_ip)

    def _compute_ip(self, text: str) -> tuple[str, str | None]:
        address_text, _, zone = text.partition("%")
        try:
            address = ipaddress.ip_address(address_text)
        except ValueError:
            return text, None
        if address.is_loopback or address.is_unspecified or address.is_multicast or text in _NETMASK_V4:
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
            "email", email, lambda value: (f"user-{self._digest('email', value.lower()).hex()[:10]}@example.invalid", "email")
        )

    def pseudonym_hostname(self, name: str, keep_suffix: str = "") -> str:
        if self._is_ip(name):
            return self.pseudonym_ip(name)
        suffix = f".{keep_suffix}" if keep_suffix else ""
        return self._pseudonym(
            "hostname" + suffix,
            name,
            lambda value: (f"host-{self._digest('hostname', value.lower().rstrip('.')).hex()[:10]}{suffix}", "hostname"),
        )

    def pseudonym_ssid(self, ssid: str) -> str:
        if not ssid:
            return ssid
        return self._pseudonym("ssid", ssid, lambda value: (f"ssid-{self._digest('ssid', value).hex()[:10]}", "ssid"))

    @staticmethod
    def _is_ip(text: str) -> bool:
        try:
            ipaddress.ip_address(text.partition("%")[0])
        except ValueError:
            return False
        return True

    # -- text ---------------------------------------------------------------------------------

    def count_removed(self, kind: str) -> None:
        """Record a secret (or a whole file) removed without a replacement value."""
        self._removed[kind] += 1

    def _remove(self, kind: str) -> str:
        self.count_removed(kind)
        return REDACTED

    def _url_credentials(self, match: re.Match[str]) -> str:
        self._removed["url_credentials"] += 1
        host = match["host"]
        if host.startswith("["):
            return f"{match['scheme']}[{self.pseudonym_ip(host[1:-1])}]"
        return match["scheme"] + self.pseudonym_hostname(host)

    def _key_value_secret(self, match: re.Match[str]) -> str:
        quote, _ = _unquote(match["value"])
        kind = secret_kind(match["name"]) or "password"
        return f"{match['name']}{match['sep']}{quote}{self._remove(kind)}{quote}"

    def _ssid(self, match: re.Match[str]) -> str:
        quote, value = _unquote(match["value"])
        return f"{match['name']}{match['sep']}{quote}{self.pseudonym_ssid(value)}{quote}"

    def _bare_mac(self, match: re.Match[str]) -> str:
        return f"{match['name']}{match['sep']}{self.pseudonym_mac(match['value'])}"

    def redact_text(self, text: str) -> str:
        # Line by line, running only the passes whose cheap literal trigger occurs in the line:
        # most log lines need two or three of the eleven passes.
        if "\n" not in text:
            return self._redact_line(text)
        return "".join(self._redact_line(line) for line in text.splitlines(keepends=True))

    def _redact_line(self, line: str) -> str:
        lower = line.lower()
        if "://" in line:
            line = _URL_CREDENTIALS.sub(self._url_credentials, line)
        if "authorization" in lower or "cookie" in lower:
            line = _HEADER_SECRET.sub(lambda m: f"{m['name']}{m['sep']}{self._remove('token')}", line)
        if "bearer" in lower or "basic" in lower:
            line = _BEARER.sub(lambda m: f"{m['word']} {self._remove('token')}", line)
        if any(word in lower for word in _TEXT_SECRET_TRIGGERS):
            line = _KEY_VALUE_SECRET.sub(self._key_value_secret, line)
        if "ssid" in lower:
            line = _SSID_TEXT.sub(self._ssid, line)
        if "@" in line:
            line = _EMAIL.sub(lambda m: self.pseudonym_email(m[0]), line)
        if "mac" in lower or "bssid" in lower:
            line = _BARE_MAC.sub(self._bare_mac, line)
        if ":" in line:
            line = _MAC.sub(lambda m: self.pseudonym_mac(m[0]), line)
            line = _IPV6.sub(lambda m: self.pseudonym_ip(m[0]), line)
        elif "-" in line:
            line = _MAC.sub(lambda m: self.pseudonym_mac(m[0]), line)
        if "." in line:
            line = _IPV4.sub(lambda m: self.pseudonym_ip(m[0]), line)
            if ".local" in lower or ".lan" in lower or ".home" in lower:
                line = _LOCAL_HOST.sub(lambda m: self.pseudonym_hostname(m[0], keep_suffix=m["suffix"].lower()), line)
        return line

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
        return None

    def _mac_value(self, value: str) -> str:
        if re.fullmatch(r"(?i)[0-9a-f]{2}([:-]?)(?:[0-9a-f]{2}\1){4}[0-9a-f]{2}", value):
            return self.pseudonym_mac(value)
        return self.redact_text(value)

    def redact_json(self, value: Any) -> Any:
        """A redacted deep copy of a JSON value (dicts, lists, str, numbers, bools, None)."""
        return self._redact_value(value, None)

    def _redact_value(self, value: Any, identifier: Callable[[str], str] | None) -> Any:
        if isinstance(value, str):
            return identifier(value) if identifier else self.redact_text(value)
        if isinstance(value, list | tuple):
            return [self._redact_value(item, identifier) for item in value]
        if isinstance(value, dict):
            result = {}
            for key, item in value.items():
                text_key = str(key)
                kind = self._secret_kind(text_key)
                new_key = self.redact_text(text_key)
                if kind is not None and item not in (None, "", [], {}):
                    result[new_key] = self._remove(kind)
                else:
                    result[new_key] = self._redact_value(item, self._identifier_function(text_key))
            return result
        return value

    def summary(self) -> RedactionSummary:
        return RedactionSummary(replaced=dict(sorted(self._replaced.items())), removed=dict(sorted(self._removed.items())))


def _redact_jsonl(text: str, redactor: Redactor) -> str:
    lines = []
    for line in text.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            # Not JSON (a torn last line, say): still redacted, never lost.
            lines.append(redactor.redact_text(line))
            continue
        lines.append(json.dumps(redactor.redact_json(parsed), ensure_ascii=False, separators=(",", ":")))
    return "".join(line + "\n" for line in lines)


def _redact_json_document(text: str, redactor: Redactor) -> str:
    try:
        parsed = json.loads(text)
    except ValueError:
        return redactor.redact_text(text)
    return json.dumps(redactor.redact_json(parsed), ensure_ascii=False, indent=2) + "\n"


def redact_files(files: Mapping[str, bytes], redactor: Redactor) -> dict[str, bytes]:
    """Redact every file by its type; unredactable binaries are dropped (known kinds) or refused."""
    result: dict[str, bytes] = {}
    for name, data in files.items():
        suffix = name[name.rfind(".") :].lower() if "." in name.rsplit("/", 1)[-1] else ""
        if suffix in DROPPED_BINARY_SUFFIXES:
            redactor.count_removed(DROPPED_BINARY_SUFFIXES[suffix])
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RedactionError(f"{name!r} is binary and cannot be redacted; it was not bundled") from exc
        if suffix == ".json":
            redacted = _redact_json_document(text, redactor)
        elif suffix == ".jsonl":
            redacted = _redact_jsonl(text, redactor)
        else:
            redacted = redactor.redact_text(text)
        result[name] = redacted.encode("utf-8")
    return result
