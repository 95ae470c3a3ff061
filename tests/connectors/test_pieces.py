"""The connectors' pure pieces: Retry-After in both of its forms, signed download links, inbound parsing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from collector.config import HelpdeskConfig
from collector.connectors.downloads import download_url, link_valid
from collector.connectors.http import retry_after_seconds
from collector.connectors.inbound import parse_event
from collector.errors import BadRequest
from tests.collector.conftest import NOW


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("93", 93.0),
        ("0", 0.0),
        ("Tue, 24 Nov 2026 03:31:00 GMT", 60.0),  # an HTTP date (RFC 9110 §10.2.3), NOW is 03:30:00
        ("Tue, 24 Nov 2026 03:00:00 GMT", 0.0),  # in the past: now
        ("soon", None),
        ("", None),
        (None, None),
        ("-5", None),
    ],
)
def test_retry_after_in_both_forms(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, NOW) == seconds


def test_download_links_are_bound_to_their_bundle_and_expiry() -> None:
    key = b"k" * 32
    url = download_url("https://c.test/", key, "b-1", NOW + timedelta(hours=1))
    query = dict(part.split("=") for part in url.split("?", 1)[1].split("&"))
    assert url.startswith("https://c.test/api/v1/connectors/downloads/b-1?")
    assert link_valid(key, "b-1", query["expires"], query["signature"], NOW)
    assert not link_valid(key, "b-2", query["expires"], query["signature"], NOW)  # another bundle
    assert not link_valid(key, "b-1", str(int(query["expires"]) + 1), query["signature"], NOW)  # a longer life
    assert not link_valid(b"x" * 32, "b-1", query["expires"], query["signature"], NOW)  # another database's key
    assert not link_valid(key, "b-1", query["expires"], query["signature"], NOW + timedelta(hours=2))  # expired
    assert not link_valid(key, "b-1", "1e9", query["signature"], NOW)


def _helpdesk(kind: str, **extra: str) -> HelpdeskConfig:
    return HelpdeskConfig.model_validate(
        {
            "name": "d",
            "kind": kind,
            "url": "https://d.test",
            "token": "t",
            "user": "u@d.test",
            "inbound_secret": "s" * 16,
            "queue": "10",
            "request_type": "25",
            **extra,
        }
    )


def test_inbound_bodies_read_into_one_event() -> None:
    jira = _helpdesk("jira_service_management", household_field="customfield_1", ticket_field="customfield_2")
    event = parse_event(
        jira,
        b'{"issue": {"key": "SD-7", "fields": {"customfield_1": {"value": "hh-9"}, "customfield_2": "12",'
        b' "status": {"statusCategory": {"key": "done"}}}}}',
    )
    assert (event.remote_id, event.household, event.solved, event.ticket_id) == ("SD-7", "hh-9", True, 12)
    zendesk = _helpdesk("zendesk")
    event = parse_event(zendesk, b'{"ticket_id": 35436, "status": "Solved", "household": "hh-1"}')
    assert (event.remote_id, event.household, event.solved, event.ticket_id) == ("35436", "hh-1", True, None)
    for hostile in (b'{"ticket_id": "../x"}', b'{"ticket_id": "1", "household": "a\\u0000b"}', b"[]", b"{"):
        with pytest.raises(BadRequest):
            parse_event(zendesk, hostile)
