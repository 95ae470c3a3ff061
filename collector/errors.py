"""The collector's exceptions.

Every error the API returns is a ``CollectorError`` subclass with an HTTP ``status`` and a stable
``code``; the error middleware turns it into ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations


class CollectorError(Exception):
    """Base of every error raised by the collector."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str = "", *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message or self.code)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self)


class BadRequest(CollectorError):
    status = 400
    code = "bad_request"


class Unauthorized(CollectorError):
    status = 401
    code = "unauthorized"


class Forbidden(CollectorError):
    status = 403
    code = "forbidden"


class NotFound(CollectorError):
    status = 404
    code = "not_found"


class Conflict(CollectorError):
    status = 409
    code = "conflict"


class PayloadTooLarge(CollectorError):
    status = 413
    code = "bundle_too_large"


class RateLimited(CollectorError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StorageFailed(CollectorError):
    """The disk refused (full, read-only, failing): nothing was stored; the client should retry later."""

    status = 507
    code = "storage_failed"


class DatabaseUnavailable(CollectorError):
    """The database server cannot be reached (restarting, failing over, network): nothing was stored; retry later."""

    status = 503
    code = "database_unavailable"


class ConfigError(CollectorError):
    """The collector's configuration is invalid; raised at start-up."""

    code = "config_invalid"
