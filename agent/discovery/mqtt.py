"""The MQTT side of discovery: one connection to the home broker, every family's parser behind it.

The session (``shared.mqtt_session``) reconnects with backoff; each new session subscribes again to everything
followed so far, so retained messages re-synchronise the inventory. Messages read from the socket by the event
loop go into the session's bounded queue; when it is full, messages are dropped and counted rather than growing memory. A payload
that does not parse is counted per source and logged once, then at debug level.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Self

from shared.aio import cancel_and_wait, started
from shared.broker_url import parse_broker_url
from shared.models import EventKind, EventState, LogLine, TimelineEvent
from shared.mqtt_session import MqttProtocol, MqttSession, Reconnect

from ..clock import Clock
from ..config import AgentConfig
from ..evidence import EvidenceSink
from ..inventory import DeviceUpdate, InventoryStore
from . import esphome, homeassistant, shelly, tasmota, zigbee2mqtt
from .payload import MalformedPayload, availability, text

_LOGGER = logging.getLogger(__name__)
QUEUE_SIZE = 20_000
MAX_BRIDGES = 16
MAX_FOLLOWED = 10_000  # availability topics and topic aliases named by discovery configs, together
# The running agent's read window on the home broker's socket (``MqttSession`` ``hand_off_s``): a home's devices
# report in bursts, and reading each burst whole costs the hub's loop one wake-up for it instead of one every few
# messages. Discovery learns what the messages say this much later; the one click, which waits for its answers,
# hands off at once.
STEADY_HAND_OFF_S = 0.25

# Sequence, not list: each family's parser returns a list of its own narrower item type.
Parser = Callable[[str, bytes, datetime], Sequence[DeviceUpdate | LogLine]]


@dataclass(frozen=True)
class Followed:
    """An availability topic named by a device's discovery config (Home Assistant, a Tasmota custom FullTopic)."""

    key: str
    online: str
    offline: str
    source: str
    template: str | None = None  # Home Assistant's value_template, rendered on the payload first
    mode: str = "latest"  # how this device's availability topics combine: all, any, latest


@dataclass(frozen=True)
class Route:
    topic_filter: str
    source: str
    parse: Parser


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching (``+`` one level, ``#`` the rest), without building a matcher per call."""
    filter_levels, topic_levels = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels) or (level != "+" and level != topic_levels[index]):
            return False
    return len(filter_levels) == len(topic_levels)


def _family_routes(source: str, topic_filters: list[str], parse: Parser) -> list[Route]:
    """One parser behind several filters: a topic several of them match is still parsed once (``_match_routes``)."""
    return [Route(topic_filter, source, parse) for topic_filter in topic_filters]


def zigbee2mqtt_routes(base: str) -> list[Route]:
    return _family_routes(
        "zigbee2mqtt", zigbee2mqtt.subscriptions(base), lambda t, p, at: zigbee2mqtt.parse(t, p, at, base)
    )


def routes(config: AgentConfig) -> list[Route]:
    d = config.discovery
    table = [
        *_family_routes(
            "tasmota",
            tasmota.subscriptions(d.tasmota_discovery_prefix),
            lambda t, p, at: tasmota.parse(t, p, d.tasmota_discovery_prefix),
        ),
        *_family_routes("shelly", shelly.SUBSCRIPTIONS, lambda t, p, at: shelly.parse(t, p)),
    ]
    for base in dict.fromkeys(d.zigbee2mqtt_bases):
        table.extend(zigbee2mqtt_routes(base))
    home_assistant_status = f"{d.homeassistant_prefix}/status"  # Home Assistant's own birth, not an ESPHome node's
    table += _family_routes(
        "esphome", esphome.SUBSCRIPTIONS, lambda t, p, at: [] if t == home_assistant_status else esphome.parse(t, p, at)
    )
    table += _family_routes(
        "homeassistant",
        homeassistant.subscriptions(d.homeassistant_prefix),
        lambda t, p, at: homeassistant.parse(t, p, d.homeassistant_prefix),
    )
    return table


class MqttDiscovery:
    """Async context manager: the session loop and the consumer of incoming messages."""

    def __init__(
        self,
        config: AgentConfig,
        sink: EvidenceSink,
        inventory: InventoryStore,
        clock: Clock,
        *,
        hand_off_s: float = 0.0,
    ) -> None:
        broker = config.broker
        assert broker.url is not None
        self._config = config
        self._sink = sink
        self._inventory = inventory
        self._clock = clock
        self._routes = routes(config)
        self._filters = sorted({route.topic_filter for route in self._routes})
        self._bridge_bases = set(config.discovery.zigbee2mqtt_bases)
        if config.discovery.zigbee2mqtt_autodetect:
            self._filters.extend(zigbee2mqtt.INFO_FILTERS)
        self._follow: dict[str, dict[str, Followed]] = {}  # availability topic → device key → how to read it
        self._availability_seen: dict[str, dict[str, bool]] = {}  # device key → topic → last state there
        self._followed_last: dict[str, bytes] = {}  # each followed topic's last payload, for devices naming it later
        self._aliases: dict[str, str] = {}  # a custom Tasmota FullTopic's prefix → the default layout's
        self._config_follows: dict[str, list[str]] = {}  # a Home Assistant config topic → the topics it named
        self._node_claims: dict[str, str] = {}  # esphome:<node> → the Home Assistant device whose status topic it is
        self._routes_for = lru_cache(maxsize=8192)(self._match_routes)  # devices repeat their topics
        self.malformed: Counter[str] = Counter()
        self.refused: str | None = None  # why the broker refuses the session, while it does
        self.session = MqttSession(
            parse_broker_url(broker.url),
            client_id=broker.client_id or "",
            username=broker.username,
            password=broker.password,
            ca_file=broker.ca_file,
            protocol=MqttProtocol.V311,
            subscriptions=self._subscriptions,
            queue_size=QUEUE_SIZE,
            hand_off_s=hand_off_s,
            reconnect=Reconnect(broker.reconnect_min_s, broker.reconnect_max_s),
            clock=clock.now,
            on_login=self._login_answer,
            name="home broker session",
            logger=_LOGGER,
        )
        self.connected = self.session.connected
        self._consumer: asyncio.Task[None] | None = None

    @property
    def background_tasks(self) -> list[asyncio.Task[None]]:
        return [*self.session.background_tasks, *started(self._consumer)]

    async def __aenter__(self) -> Self:
        await self.session.__aenter__()
        self._consumer = asyncio.create_task(self._consume(), name="mqtt-discovery-consumer")
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await cancel_and_wait(self._consumer)
        finally:
            await self.session.__aexit__(*exc)

    def _subscriptions(self) -> list[tuple[str, int]]:
        """Everything followed so far: each new session subscribes to it again."""
        return [(topic, 0) for topic in [*self._filters, *self._follow, *(a + "+" for a in self._aliases)]]

    def _login_answer(self, refusal: str | None) -> None:
        """A broker that is up but will not let the hub in (a changed password, an ACL) blinds discovery without
        any outage: the timeline says so once when it starts (``refused``) and once when it ends (``accepted``)."""
        if refusal == self.refused:
            return
        was_refused, self.refused = self.refused is not None, refusal
        if refusal is not None or was_refused:
            self._sink.event(
                TimelineEvent(
                    ts=self._clock.now(),
                    kind=EventKind.BROKER,
                    state=EventState.REFUSED if refusal else EventState.ACCEPTED,
                    source="discovery.mqtt",
                    detail={"reason": refusal} if refusal else {},
                )
            )

    async def _consume(self) -> None:
        while True:
            message = await self.session.receive()
            try:
                self.handle(message.topic, message.payload, message.received_at)
            except Exception:  # a bug for one message must not end discovery for the rest of the run
                _LOGGER.exception("message on %s not handled", message.topic)

    def handle(self, topic: str, payload: bytes, at: datetime) -> None:
        """Route one message to the parsers whose subscriptions match; never raises for bad payloads."""
        if len(payload) > self._config.discovery.max_payload_bytes:
            self._malformed("oversized", topic, MalformedPayload(f"{len(payload)} bytes"))
            return
        followers = self._follow.get(topic)
        if followers:
            self._followed_last[topic] = payload
            for followed in list(followers.values()):
                self._availability(topic, followed, payload, at)
        if self._aliases:
            prefix, _, last = topic.rpartition("/")
            canonical = self._aliases.get(prefix + "/")
            if canonical is not None:
                topic = canonical + last  # a custom FullTopic's message, read as the default layout's
        if (
            self._config.discovery.zigbee2mqtt_autodetect
            and topic.endswith(zigbee2mqtt.INFO_SUFFIX)
            and topic[: -len(zigbee2mqtt.INFO_SUFFIX)] not in self._bridge_bases
        ):
            self._another_bridge(topic, payload)
        if not payload and topic in self._config_follows:
            self._unfollow(topic)
        for route in self._routes_for(topic):
            try:
                found = route.parse(topic, payload, at)
            except (MalformedPayload, ValueError, TypeError, KeyError, AttributeError) as exc:
                self._malformed(route.source, topic, exc)
                continue
            for item in found:
                if isinstance(item, LogLine):
                    self._sink.log(item)
                else:
                    self._apply(item, at, topic if route.source == "homeassistant" else None)

    def _match_routes(self, topic: str) -> tuple[Route, ...]:
        matched = {route.parse: route for route in self._routes if topic_matches(route.topic_filter, topic)}
        return tuple(matched.values())

    def _apply(self, update: DeviceUpdate, at: datetime, config_topic: str | None = None) -> None:
        if config_topic is not None:
            update = self._one_device_per_node(update)
        for event in self._inventory.observe(update, at):
            self._sink.event(event)
        if not update.attributes:
            return  # no availability topics or topic aliases named (a device's steady report)
        mode = update.attributes.get("availability_mode", "latest")
        for entry in update.attributes.get("availability", []):
            topic = entry.get("topic")
            if not isinstance(topic, str) or len(self._follow) + len(self._aliases) >= MAX_FOLLOWED:
                continue
            new_topic = topic not in self._follow
            followed = Followed(
                update.keys[0],
                entry.get("online", "online"),
                entry.get("offline", "offline"),
                update.source.split(".")[0],
                entry.get("template"),
                mode,
            )
            known = self._follow.setdefault(topic, {}).get(followed.key)
            self._follow[topic][followed.key] = followed
            if config_topic is not None and topic not in self._config_follows.get(config_topic, []):
                self._config_follows.setdefault(config_topic, []).append(topic)
            if new_topic:
                self.session.subscribe([(topic, 0)])
            elif known is None and topic in self._followed_last:
                # The retained state reached the devices that named this topic first; this one learns it now.
                self._availability(topic, followed, self._followed_last[topic], at)
        for alias, canonical in update.attributes.get("topic_aliases", {}).items():
            if alias not in self._aliases and len(self._follow) + len(self._aliases) < MAX_FOLLOWED:
                self._aliases[alias] = canonical
                self.session.subscribe([(alias + "+", 0)])

    def _one_device_per_node(self, update: DeviceUpdate) -> DeviceUpdate:
        """``<node>/status`` is an ESPHome node's own topic (``tele/<topic>/LWT`` a Tasmota device's); a gateway naming
        one such topic for all its child devices would join them all into one. The first device to name a node keeps
        it; later ones do not."""
        device = update.keys[0]
        kept = []
        for key in update.keys:
            if key.startswith(("esphome:", "tasmota:")):
                owner = self._node_claims.setdefault(key, device) if len(self._node_claims) < MAX_FOLLOWED else device
                if owner != device:
                    continue
            kept.append(key)
        return update if len(kept) == len(update.keys) else replace(update, keys=tuple(kept))

    def _unfollow(self, config_topic: str) -> None:
        """A deleted Home Assistant config: its availability topics say nothing any more (unless another config
        names them too)."""
        for topic in self._config_follows.pop(config_topic):
            still_named = any(topic in topics for topics in self._config_follows.values())
            if not still_named and self._follow.pop(topic, None) is not None:
                self._followed_last.pop(topic, None)
                self.session.unsubscribe(topic)

    def _another_bridge(self, topic: str, payload: bytes) -> None:
        """A Zigbee2MQTT bridge under a base topic not configured: follow it like a configured one."""
        base = zigbee2mqtt.announced_base(topic, payload)
        if base is None or len(self._bridge_bases) >= MAX_BRIDGES:
            return
        _LOGGER.info("following the Zigbee2MQTT bridge under %r", base)
        self._bridge_bases.add(base)
        added = zigbee2mqtt_routes(base)
        self._routes.extend(added)
        self._routes_for.cache_clear()
        self._filters.extend(route.topic_filter for route in added)
        # Retained bridge/devices, bridge/state and device states arrive again on the new subscription.
        self.session.subscribe([(route.topic_filter, 0) for route in added])

    def _availability(self, topic: str, followed: Followed, payload: bytes, at: datetime) -> None:
        try:
            if followed.template is None:
                state = availability(payload, followed.online, followed.offline)
            else:
                # Imported here: jinja2 is loaded only in homes whose devices use templates.
                from .templates import render_availability

                rendered = render_availability(followed.template, text(payload, 4096))
                state = None if rendered is None else availability(rendered.encode(), followed.online, followed.offline)
        except MalformedPayload as exc:
            self._malformed(followed.source, followed.key, exc)
            return
        if state is None:
            return
        seen = self._availability_seen.setdefault(followed.key, {})
        seen[topic] = state
        if followed.mode != "latest":
            # Until every topic has spoken, "all" knows only an offline and "any" only an online: no flap at start.
            states = [seen.get(t) for t, by_key in self._follow.items() if followed.key in by_key]
            decisive = followed.mode == "any"
            if decisive in states:
                state = decisive
            elif None in states:
                return
            else:
                state = not decisive
        self._apply(DeviceUpdate(keys=(followed.key,), source=f"{followed.source}.availability", available=state), at)

    def _malformed(self, source: str, topic: str, exc: Exception) -> None:
        self.malformed[source] += 1
        log = _LOGGER.warning if self.malformed[source] == 1 else _LOGGER.debug
        log("malformed %s message on %s: %s", source, topic, exc)
