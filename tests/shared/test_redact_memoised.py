"""What a redactor remembers between texts (an address's answer and the kind it counted, a MAC's pseudonym digits,
whether a host name is an IP, the pseudonym function of a learned kind) must not change what it answers: a text
redacted after many others is redacted, and counted, as a fresh redactor would redact it."""

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.redact import Redactor

KEY = b"household-key"
# Few vendor prefixes and tails, so that different MACs share one half or the other (what a memo keyed by half a
# MAC would confuse); never locally administered, as a pseudonym's first byte (02) is.
HALVES = st.sampled_from(["a4cf12", "240ac4", "b8d61a"])
HEX_PAIRS = st.tuples(HALVES, st.one_of(HALVES, st.integers(0, 2**24 - 1).map("{:06x}".format))).map(
    lambda halves: [(halves[0] + halves[1])[i : i + 2] for i in range(0, 12, 2)]
)
MACS = st.builds(
    lambda pairs, separator, upper: separator.join(pairs).upper() if upper else separator.join(pairs),
    HEX_PAIRS,
    st.sampled_from([":", "-", "_", "%3A", ""]),
    st.booleans(),
)
CISCO = HEX_PAIRS.map(lambda pairs: ".".join("".join(pairs)[i : i + 4] for i in range(0, 12, 4)))
IPV4 = st.builds(
    lambda a, b, c: f"{a}.{b}.{c}.{(a + b + c) % 250 + 2}",
    st.sampled_from([10, 192, 81, 172]),
    *(st.integers(0, 255),) * 2,
)
HOSTS = st.builds(
    lambda name, suffix: name + suffix,
    st.sampled_from(["nas", "kitchen-pi", "hub", "10.0.0.9", "fe80::1", "printer.home"]),
    st.sampled_from(["", ".local", ".lan", ".fritz.box"]),
)
TEMPLATES = [
    "joined as {mac} from {ip}",
    "bssid={mac} cisco {cisco}",
    "mqtt://user:pw@{host}:1883 up",
    "neighbour {host} at {ip} (mac {mac})",
    "tasmota_{tail} via {ip}",
    "ssid: Cosy Corner, host {host}",
]
TEXTS = st.builds(
    lambda template, mac, cisco, ip, host: template.format(
        mac=mac, cisco=cisco, ip=ip, host=host, tail=cisco.replace(".", "")[-6:].upper()
    ),
    st.sampled_from(TEMPLATES),
    MACS,
    CISCO,
    IPV4,
    HOSTS,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXTS, min_size=1, max_size=12), st.booleans())
def test_a_text_is_redacted_as_by_a_fresh_redactor(texts: list[str], learn_host: bool) -> None:
    shared = Redactor(KEY)
    replaced: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for text in texts:
        fresh = Redactor(KEY)
        for redactor in (shared, fresh):
            redactor.learn("ssid", "Cosy Corner")
            if learn_host:
                redactor.learn("hostname", "kitchen-pi")
        assert shared.redact_text(text) == fresh.redact_text(text)
        replaced.update(fresh.summary().replaced)
        removed.update(fresh.summary().removed)
    assert shared.summary().replaced == dict(replaced)
    assert shared.summary().removed == dict(removed)


def test_every_spelling_of_a_mac_has_the_same_digits() -> None:
    redactor = Redactor(KEY)
    spellings = ["a4:cf:12:34:56:78", "A4-CF-12-34-56-78", "a4cf.1234.5678", "a4%3Acf%3A12%3A34%3A56%3A78"]
    digits = {
        "".join(
            c for c in redactor.redact_text(f"mac {spelling}")[4:].lower().replace("%3a", "") if c in "0123456789abcdef"
        )
        for spelling in spellings
    }
    assert len(digits) == 1
    (hex12,) = digits
    assert Redactor(KEY).redact_text("mac a4:cf:12:34:56:78") == "mac " + ":".join(
        hex12[i : i + 2] for i in range(0, 12, 2)
    )
