import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import RedactionError
from shared.redact import REDACTED, Redactor, redact_files, secret_kind

SECRETS = [
    "hunter2",
    "s3cr3t-pw",
    "tok_ABCDEF123456",
    "MyWifiPassphrase",
    "eyJhbGciOiJIUzI1NiJ9.payload.sig",
    "sess-998877",
]
IDENTIFIERS = [
    "192.168.1.20",
    "192.168.1.1",
    "8.8.4.4",
    "fe80::1ff:fe23:4567:890a",
    "2001:db8::42",
    "00:11:22:33:44:55",
    "AA-BB-CC-DD-EE-01",
    "a0b1c2d3e4f5",
    "alice@example.com",
    "Lovely Home WiFi",
    "nas.local",
    "kitchen-pi",
]

PLANTED = {
    "inventory.json": json.dumps(
        {
            "devices": [
                {
                    "id": "d1",
                    "attributes": {
                        "whatever": "00:11:22:33:44:55",
                        "WiFi": {"SSId": "Lovely Home WiFi", "PSK": "MyWifiPassphrase"},
                    },
                    "hostname": "kitchen-pi",
                    "ips": ["192.168.1.20", "fe80::1ff:fe23:4567:890a"],
                    "mac": "a0b1c2d3e4f5",
                },
                {
                    "id": "d2",
                    "config": {"mqtt_password": "s3cr3t-pw", "api_key": "tok_ABCDEF123456", "keyid": "kept"},
                    "owner": "alice@example.com",
                    "stream": "rtsp://admin:hunter2@192.168.1.20:554/stream",
                },
            ]
        }
    ).encode(),
    "timeline.jsonl": (
        json.dumps({"kind": "gateway", "detail": {"gw": "192.168.1.1", "dns": "8.8.4.4", "v6": "2001:db8::42"}})
        + "\n"
        + json.dumps({"kind": "device", "detail": {"session": "sess-998877", "n": "AA-BB-CC-DD-EE-01"}})
        + "\n"
    ).encode(),
    "logs/agent.log": (
        b"connect rtsp://admin:hunter2@192.168.1.20:554/stream\n"
        b'wpa_passphrase=MyWifiPassphrase ssid="Lovely Home WiFi"\n'
        b"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig\n"
        b"mac a0b1c2d3e4f5 seen at nas.local from 00:11:22:33:44:55 mail alice@example.com password: s3cr3t-pw\n"
        b"loopback 127.0.0.1 ::1 mask 255.255.255.0 token=tok_ABCDEF123456\n"
    ),
}


def redacted_everything(key=b"household-key"):
    redactor = Redactor(key)
    out = redact_files(PLANTED, redactor)
    blob = b"\n".join(out.values()).decode() + redactor.summary().model_dump_json()
    return redactor, out, blob


def test_no_planted_original_survives_anywhere():
    redactor, out, blob = redacted_everything()
    for original in SECRETS + IDENTIFIERS:
        assert original.lower() not in blob.lower(), original
    assert "aa:bb:cc:dd:ee:01" not in blob.lower()
    summary = redactor.summary()
    assert summary.removed["url_credentials"] == 2
    assert set(summary.replaced) == {"mac", "ipv4", "ipv6", "email", "ssid", "hostname"}
    log = out["logs/agent.log"].decode()
    assert "127.0.0.1" in log and "::1" in log and "255.255.255.0" in log
    assert json.loads(out["inventory.json"])["devices"][1]["config"]["keyid"] == "kept"


def test_pseudonyms_are_consistent_across_files_and_shaped():
    redactor = Redactor(b"k")
    mac = redactor.pseudonym_mac("00:11:22:33:44:55")
    # the same digits whatever the spelling, written in the original's spelling
    assert mac.replace(":", "-") == redactor.pseudonym_mac("00-11-22-33-44-55")
    assert (
        mac.replace(":", "")
        == redactor.pseudonym_mac("001122334455")
        == redactor.pseudonym_mac("001122334455".upper()).lower()
    )
    assert mac.startswith("02:") and len(mac) == 17
    _, out, _ = redacted_everything(b"k")
    assert mac in out["inventory.json"].decode() and mac in out["logs/agent.log"].decode()
    private = redactor.pseudonym_ip("192.168.1.20")
    assert (
        private.startswith("10.")
        and private in out["logs/agent.log"].decode()
        and private in out["inventory.json"].decode()
    )
    assert redactor.pseudonym_ip("8.8.4.4").startswith(("198.18.", "198.19."))
    assert redactor.pseudonym_ip("2001:db8::42").startswith("fd00::")
    assert redactor.pseudonym_email("alice@example.com").endswith("@example.invalid")
    assert redactor.pseudonym_ssid("x").startswith("ssid-") and redactor.pseudonym_hostname("y").startswith("host-")
    assert Redactor(b"other").pseudonym_mac("00:11:22:33:44:55") != mac


def test_rtsp_url_keeps_scheme_and_port_drops_credentials():
    redactor = Redactor(b"k")
    text = redactor.redact_text("rtsp://admin:hunter2@192.168.1.20:554/stream")
    assert text == f"rtsp://{redactor.pseudonym_ip('192.168.1.20')}:554/stream"


def test_second_pass_keeps_pseudonyms():
    redactor = Redactor(b"k")
    once = redactor.redact_text("at 192.168.1.20 mac 00:11:22:33:44:55 host nas.local")
    assert redactor.redact_text(once) == once


def test_secret_keys():
    assert secret_kind("mqtt_password") == "password"
    assert secret_kind("WiFi-PSK") == "psk"
    assert secret_kind("key") == "key"
    assert secret_kind("keyid") is None and secret_kind("monkey") is None
    assert Redactor(b"k", extra_secret_keys=["pin"]).redact_json({"pin": "1234"}) == {"pin": REDACTED}


def test_binary_files_are_refused_or_dropped():
    redactor = Redactor(b"k")
    with pytest.raises(RedactionError):
        redact_files({"blob.bin": b"\xff\xfe\x00"}, redactor)
    assert redact_files({"capture.pcap": b"\xd4\xc3\xb2\xa1"}, redactor) == {}
    assert redactor.summary().removed == {"pcap": 1}


def test_keep_private_ips():
    assert Redactor(b"k", keep_private_ips=True).redact_text("192.168.1.20 8.8.8.8").startswith("192.168.1.20 198.")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(value=json_values, text=st.text())
def test_redaction_never_raises(value, text):
    redactor = Redactor(b"k")
    json.dumps(redactor.redact_json(value))
    redactor.redact_text(text)


filler = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
mac_contexts = st.sampled_from(
    [
        "mac:{}",
        "device {} seen",
        "shelly:shellyplus1pm-{}",
        "logs/mac_{}.log",
        "{}",
        "[{}]",
        "bssid={}",
        '"mac": "{}"',
        "id=mac:{};",
        "topic a/{}/b",
        "dev_{}",
        "x-{}-y",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    mac=st.binary(min_size=6, max_size=6),
    separator=st.sampled_from([":", "-", "_", "", ".", "%3A", "cisco"]),
    upper=st.booleans(),
    context=mac_contexts,
    before=filler,
    after=filler,
)
def test_a_mac_in_any_spelling_and_context_is_replaced(
    mac: bytes, separator: str, upper: bool, context: str, before: str, after: str
) -> None:
    digits = mac.hex().upper() if upper else mac.hex()
    if separator == "cisco":
        spelled = ".".join(digits[i : i + 4] for i in range(0, 12, 4))
    else:
        spelled = separator.join(digits[i : i + 2] for i in range(0, 12, 2))
    if separator == "" and digits.isdigit() and context in ("{}", "[{}]", "device {} seen", "topic a/{}/b"):
        return  # twelve bare digits with nothing naming them a MAC: a number, left alone (documented)
    redactor = Redactor(b"k")
    # the filler is separated by spaces: a MAC glued to other hex digits is no longer a MAC
    text = f"{before} {context.format(spelled)} {after}"
    redacted = redactor.redact_text(text)
    assert (
        spelled not in redacted.replace(f"{before} ", "", 1).rsplit(f" {after}", 1)[0] or spelled in redactor._produced
    )
    assert redactor.redact_text(redacted) == redacted  # a second pass keeps the pseudonyms


def test_a_value_learned_late_is_replaced_in_what_came_before() -> None:
    redactor = Redactor(b"k")
    files = {
        "a.log": b"joined Cosy Corner\n",
        "b.json": json.dumps({"note": "Cosy Corner is weak", "ssid": "x"}).encode(),
        "c.log": b"wifi: SSID: Cosy Corner\n",
    }
    out = b"".join(redact_files(files, redactor).values()).decode()
    assert "Cosy Corner" not in out and out.count(redactor.pseudonym_ssid("Cosy Corner")) == 3


def test_names_that_differ_only_by_a_secret_keep_both_files() -> None:
    out = redact_files({"logs/token=abc.log": b"one\n", "logs/token=xyz.log": b"two\n"}, Redactor(b"k"))
    assert sorted(out.values()) == [b"one\n", b"two\n"] and not any("abc" in n or "xyz" in n for n in out)
