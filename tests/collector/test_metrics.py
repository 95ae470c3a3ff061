"""Prometheus metrics on /metrics: what an upload and the SLA scanner count, and who may scrape."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.models import Role
from collector.state import SCANNER

from .conftest import NOW, Collector

TOKEN = "metrics-token-0123456789"


async def _scrape(collector: Collector, headers: dict[str, str] | None = None) -> tuple[int, dict[str, float]]:
    answer = await collector.client.get("/metrics", headers=headers or {})
    if answer.status != 200:
        return answer.status, {}
    assert answer.content_type == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(await answer.text()):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return 200, samples


async def test_a_scrape_after_uploads_counts_them_by_outcome(collector: Collector) -> None:
    agent = await collector.enrol("hh-a")
    data = agent.bundle(start=NOW)
    assert (await collector.upload(data))[0] == 201
    assert (await collector.upload(data))[0] == 200  # a replay
    other = agent.bundle(start=NOW, bundle_id=uuid.UUID((await collector.upload(data))[1]["bundle_id"]), files={})
    assert (await collector.upload(other))[0] == 409

    status, metrics = await _scrape(collector)
    assert status == 200
    assert metrics['homediag_collector_uploads_total{code="",outcome="stored"}'] == 1
    assert metrics['homediag_collector_uploads_total{code="",outcome="replayed"}'] == 2
    assert metrics['homediag_collector_uploads_total{code="bundle_conflict",outcome="refused"}'] == 1
    assert metrics["homediag_collector_verification_seconds_count"] == 1
    assert metrics["homediag_collector_verification_queue_depth"] == 0
    assert metrics["homediag_collector_outbox_pending_jobs"] == 0
    assert metrics['homediag_collector_sla_events_total{kind="sla_breached"}'] == 0


async def test_sla_breaches_are_counted_when_the_scanner_records_them(collector: Collector) -> None:
    eve = collector.user("eve", Role.ENGINEER)
    intake = {"household": "hh-a", "device": "plug", "symptom": "clicks", "when": "now", "priority": "P1"}
    assert (await collector.call("POST", "/api/v1/tickets", eve, json=intake))[0] == 201
    collector.clock.advance(45 * 60)  # past the P1's first response target
    recorded = await collector.client.app[SCANNER].scan()
    _, metrics = await _scrape(collector)
    counted = sum(
        metrics[f'homediag_collector_sla_events_total{{kind="{kind}"}}'] for kind in ("sla_warning", "sla_breached")
    )
    assert recorded >= 1 and counted == recorded
    assert metrics['homediag_collector_sla_events_total{kind="sla_breached"}'] >= 1


@pytest.mark.parametrize("config_overrides", [{"metrics": {"token": TOKEN}}])
async def test_with_a_token_only_its_bearer_may_scrape(collector: Collector) -> None:
    assert (await _scrape(collector))[0] == 403  # loopback alone is not enough then
    assert (await _scrape(collector, {"Authorization": "Bearer wrong-token-0123456789"}))[0] == 403
    user = collector.user("eve", Role.ADMIN)
    assert (await _scrape(collector, {"Authorization": f"Bearer {user}"}))[0] == 403  # a user's token is not it
    assert (await _scrape(collector, {"Authorization": f"Bearer {TOKEN}"}))[0] == 200


@pytest.mark.parametrize("config_overrides", [{"web": {"trusted_proxies": ["127.0.0.1/32"]}}])
async def test_without_a_token_a_client_behind_a_proxy_may_not_scrape(collector: Collector) -> None:
    assert (await _scrape(collector, {"X-Forwarded-For": "203.0.113.9"}))[0] == 403
    assert (await _scrape(collector, {"X-Forwarded-For": "127.0.0.1"}))[0] == 200


@pytest.mark.parametrize("config_overrides", [{"metrics": {"enabled": False}}])
async def test_metrics_can_be_turned_off(collector: Collector, config_overrides: dict[str, Any]) -> None:
    assert (await _scrape(collector))[0] == 404
