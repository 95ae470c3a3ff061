"""The timeline chart: swimlanes for the hub link, gateway, DNS, internet, broker and each device, outages
shaded, reboots and faults marked. Pure: timeline events in, SVG text out (rendered on the server)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from shared.models import EventKind, EventState, TimelineEvent

NETWORK_LANES = (
    ("hub_link", EventKind.HUB_LINK),
    ("gateway", EventKind.GATEWAY),
    ("dns", EventKind.DNS),
    ("internet", EventKind.INTERNET),
    ("broker", EventKind.BROKER),
)
LANE_H, LABEL_W, WIDTH, TOP = 26, 170, 1100, 28
DOWN = {EventState.DOWN, EventState.OFFLINE, EventState.REFUSED}  # refused: the broker runs but will not let the hub in
UP = {EventState.UP, EventState.ONLINE, EventState.ACCEPTED}


def _spans(events: list[TimelineEvent], start: datetime, end: datetime) -> list[tuple[datetime, datetime, str]]:
    """(from, to, how it went down) for each span a lane was down, clipped to the chart."""
    spans: list[tuple[datetime, datetime, str]] = []
    since: TimelineEvent | None = None
    for event in events:
        if event.state in DOWN and since is None:
            since = event
        elif event.state in UP and since is not None:
            spans.append((since.ts, event.ts, since.state or EventState.DOWN))
            since = None
    if since is not None:
        spans.append((since.ts, end, since.state or EventState.DOWN))
    return [(max(a, start), min(b, end), how) for a, b, how in spans if b >= start and a <= end]


def timeline_svg(
    events: Sequence[TimelineEvent],
    start: datetime,
    end: datetime,
    device_names: dict[str, str] | None = None,
    zone: str = "UTC",
    word: Callable[[str], str] = str,
) -> str:
    """Times read in ``zone`` (the reader's); the axis carries dates when the window spans more than one day.
    ``word`` names the network lanes and the marks in the reader's language."""
    names = device_names or {}
    tz = ZoneInfo(zone)

    def at(moment: datetime, fmt: str = "%H:%M:%S") -> str:
        return moment.astimezone(tz).strftime(fmt)

    tick_format = "%m-%d %H:%M" if start.astimezone(tz).date() != end.astimezone(tz).date() else "%H:%M:%S"
    end = max(end, start + timedelta(seconds=1))
    span = (end - start).total_seconds()
    plot_w = WIDTH - LABEL_W - 10

    def x(moment: datetime) -> float:
        return LABEL_W + plot_w * min(max((moment - start).total_seconds() / span, 0.0), 1.0)

    ordered = sorted(events, key=lambda e: e.ts)
    lanes: list[tuple[str, list[TimelineEvent]]] = [
        (lane, [e for e in ordered if e.kind is kind]) for lane, kind in NETWORK_LANES
    ]
    devices = sorted({e.device_id for e in ordered if e.device_id})
    for device in devices:
        lanes.append((names.get(device, device), [e for e in ordered if e.device_id == device]))
    height = TOP + LANE_H * len(lanes) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" data-start="{start.isoformat()}" data-end="{end.isoformat()}" role="img" '
        f'aria-label="timeline from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}">'
    ]  # styled by ui.css
    for tick in range(7):
        moment = start + timedelta(seconds=span * tick / 6)
        tx = x(moment)
        parts.append(f'<line x1="{tx:.1f}" y1="{TOP - 6}" x2="{tx:.1f}" y2="{height - 24}" stroke="#eee"/>')
        parts.append(
            f'<text class="tick" x="{tx:.1f}" y="{height - 10}" text-anchor="middle">{at(moment, tick_format)}</text>'
        )
    parts.append(
        f'<text class="tick zone" x="{LABEL_W - 8}" y="{height - 10}" text-anchor="end">{escape(at(start, "%Z"))}</text>'
    )
    for index, (label, lane_events) in enumerate(lanes):
        y = TOP + index * LANE_H
        lane_id = escape(label, quote=True)
        parts.append(f'<g class="lane" data-lane="{lane_id}">')
        shown = escape(word(label) if index < len(NETWORK_LANES) else label)
        parts.append(f'<text class="lane-label" x="4" y="{y + 17}">{shown}</text>')
        parts.append(f'<rect x="{LABEL_W}" y="{y + 4}" width="{plot_w}" height="{LANE_H - 8}" fill="#e7f5ec"/>')
        for a, b, how in _spans(lane_events, start, end):
            parts.append(
                f'<rect class="outage" x="{x(a):.1f}" y="{y + 4}" width="{max(2.0, x(b) - x(a)):.1f}" '
                f'height="{LANE_H - 8}" fill="#e0533d"><title>{shown} {escape(word(how))} {at(a)}–{at(b)}</title></rect>'
            )
        for event in lane_events:
            if event.kind in (EventKind.DEVICE_REBOOT, EventKind.HUB_BOOT):
                px = x(event.ts)
                parts.append(
                    f'<path class="reboot" d="M{px:.1f},{y + 3} l5,9 l-10,0 z" fill="#1d4ed8">'
                    f"<title>{escape(word('reboot'))} {at(event.ts)} {escape(str(event.detail.get('reason') or ''))}</title></path>"
                )
        parts.append("</g>")
    for event in ordered:
        if event.kind is EventKind.FAULT and event.state is EventState.CLOSED:
            px = x(event.ts)
            signature = escape(str(event.detail.get("signature", "fault")))
            parts.append(
                f'<line class="fault" x1="{px:.1f}" y1="{TOP - 8}" x2="{px:.1f}" y2="{height - 24}" stroke="#7c3aed" '
                f'stroke-dasharray="4 3"><title>{escape(word("fault"))} {signature}</title></line>'
            )
            parts.append(f'<text class="tick" x="{px + 3:.1f}" y="{TOP - 10}" fill="#7c3aed">{signature}</text>')
    parts.append("</svg>")
    return "".join(parts)
