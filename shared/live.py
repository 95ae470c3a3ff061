"""The live channel's contract: topic tree, request/response messages, limits.

An agent owns exactly one subtree, ``homediag/agents/<agent_id>/``:

- ``…/status`` — retained ``online``/``offline`` (the offline is the agent's will)
- ``…/req/<method>`` — requests from the collector (MQTT v5, with ResponseTopic + CorrelationData)
- ``…/resp/<relay>`` — the agent's answers; ``<relay>`` names the collector instance that asked

The broker's ACL (see ``collector/live_broker.py``) lets an agent read only its own ``req`` and write only its
own ``resp`` and ``status``; only the collector's relays may publish requests. Both ends also check what they
accept: a relay takes an answer only from the tree of the agent it asked, an agent answers only into its own.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

TOPIC_ROOT = "homediag/agents"
AGENT_ID_PREFIX = "agt_"  # every agent id the collector issues starts so; relay accounts never do
MAX_REQUEST_BYTES = 16 * 1024
MAX_RESPONSE_BYTES = 512 * 1024
STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"

METHODS = ("inventory", "device.state", "timeline.recent", "probe.run", "diagnose", "bundle.capture")

_TOPIC_WORD = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


class LiveErrorCode:
    """Stable codes carried by error answers."""

    CONSENT_REFUSED = "consent_refused"
    CONSENT_PENDING = "consent_pending"
    UNKNOWN_METHOD = "unknown_method"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    TOO_LARGE = "response_too_large"
    INTERNAL = "internal_error"


def check_topic_word(value: str, what: str) -> str:
    """Agent ids, methods and relay names become topic levels: no wildcards, no separators."""
    if not _TOPIC_WORD.match(value):
        raise ValueError(f"{what} {value!r} is not a valid topic level")
    return value


def agent_tree(agent_id: str) -> str:
    return f"{TOPIC_ROOT}/{check_topic_word(agent_id, 'agent id')}"


def status_topic(agent_id: str) -> str:
    return f"{agent_tree(agent_id)}/status"


def request_topic(agent_id: str, method: str) -> str:
    return f"{agent_tree(agent_id)}/req/{check_topic_word(method, 'method')}"


def response_topic(agent_id: str, relay: str) -> str:
    return f"{agent_tree(agent_id)}/resp/{check_topic_word(relay, 'relay')}"


def is_response_topic_of(topic: str, agent_id: str, relay: str | None = None) -> bool:
    """Whether ``topic`` is a response topic in ``agent_id``'s own tree (for ``relay``, when given)."""
    parsed = parse_agent_topic(topic)
    return (
        parsed is not None
        and parsed[0] == agent_id
        and parsed[1] == "resp"
        and parsed[2] is not None
        and "/" not in parsed[2]
        and (relay is None or parsed[2] == relay)
    )


def parse_agent_topic(topic: str) -> tuple[str, str, str | None] | None:
    """``homediag/agents/<id>/<kind>[/<rest>]`` → (id, kind, rest); None for anything else."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != TOPIC_ROOT:
        return None
    rest = "/".join(parts[4:]) or None
    return parts[2], parts[3], rest


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LiveRequest(_Message):
    method: str
    params: dict[str, Any] = Field(default_factory=dict)
    deadline: AwareDatetime
    requested_by: str | None = Field(default=None, description="the engineer, for the agent's own log")


class LiveError(_Message):
    code: str
    message: str


class LiveResponse(_Message):
    ok: bool
    result: Any = None
    error: LiveError | None = None

    @classmethod
    def failure(cls, code: str, message: str) -> LiveResponse:
        return cls(ok=False, error=LiveError(code=code, message=message))


class LiveGrant(BaseModel):
    """Support-broker credentials the collector issues to an agent at enrolment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    broker_url: str = Field(description="mqtt://host:port of the support broker as the agent reaches it")
    username: str
    password: str
