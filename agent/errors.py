"""The agent package's exceptions: one base, narrow subclasses."""

from __future__ import annotations

from shared.errors import HomediagError


class AgentError(HomediagError):
    """Base of every error the agent raises itself."""

    code = "agent_error"


class ConfigError(AgentError):
    code = "config_invalid"


class NotEnrolled(AgentError):
    code = "not_enrolled"


class CollectorUnavailable(AgentError):
    """The collector could not be reached or answered 5xx: try again later."""

    code = "collector_unavailable"


class CollectorRejected(AgentError):
    """The collector answered with a final 4xx; ``code`` is the collector's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"collector refused ({status} {code}): {message}")
        self.status = status
        self.code = code
