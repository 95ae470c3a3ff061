"""HTTP to a helpdesk's API: one session, its rate limit kept, every failure converted once into ``DeliveryFailed``.

A helpdesk that answers 429 (or 503) with ``Retry-After`` is not asked again before then — not by this job nor by
any other job for the same helpdesk; the outbox schedules the retry no sooner. Other 5xx answers and network
errors are retried with backoff; 4xx answers are the helpdesk refusing the request itself and are not retried.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from ..notify.senders import DeliveryFailed
from ..state import Clock

RETRYABLE_CLIENT_ERRORS = frozenset({408, 409, 423, 425, 429})
DEFAULT_RATE_LIMIT_WAIT_S = 60.0  # a 429 without Retry-After


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdecimal():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


class HelpdeskHttp:
    """Requests to one helpdesk, no closer together than ``min_interval_s`` and never while it asked us to wait."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        headers: Mapping[str, str],
        *,
        min_interval_s: float,
        timeout_s: float,
        clock: Clock,
    ) -> None:
        self._session, self._base = session, base_url.rstrip("/")
        self._headers = dict(headers)
        self._min_interval_s, self._timeout = min_interval_s, aiohttp.ClientTimeout(total=timeout_s)
        self._clock = clock  # the outbox's clock: a Retry-After pause ends when the outbox's retry comes due
        self._next_at = 0.0  # monotonic: the earliest moment of the next request
        self._paused_until: datetime | None = None  # the helpdesk's Retry-After
        self._lock = asyncio.Lock()

    async def _turn(self) -> None:
        async with self._lock:
            now = self._clock()
            if self._paused_until is not None and self._paused_until > now:
                wait = (self._paused_until - now).total_seconds()
                raise DeliveryFailed("the helpdesk asked us to wait", retry_after_s=wait, deferred=True)
            delay = self._next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next_at = time.monotonic() + self._min_interval_s

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The answer's JSON (None for an empty body); raises ``DeliveryFailed`` for anything but 2xx."""
        await self._turn()
        try:
            async with self._session.request(
                method,
                self._base + path,
                json=json_body,
                data=data,
                params=params,
                headers={**self._headers, **(headers or {})},
                timeout=self._timeout,
            ) as answer:
                body = await answer.read()
                if answer.status < 300:
                    return json.loads(body) if body.strip() else None
                wait = retry_after_seconds(answer.headers.get("Retry-After"), self._clock())
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryFailed(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        except ValueError as exc:  # a 2xx whose body is not JSON
            raise DeliveryFailed(f"{method} {path}: the answer is not JSON") from exc
        status = answer.status
        detail = f"{method} {path}: HTTP {status} {body[:200].decode(errors='replace')}"
        if status in (429, 503):
            wait = DEFAULT_RATE_LIMIT_WAIT_S if wait is None and status == 429 else wait
            if wait is not None:
                self._paused_until = self._clock() + timedelta(seconds=wait)
            raise DeliveryFailed(detail, retry_after_s=wait)
        raise DeliveryFailed(detail, permanent=400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS)
