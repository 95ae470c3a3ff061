"""Who may do what: bearer tokens resolve to a ``Principal``; access rules are pure functions over it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aiohttp import web

from .errors import Forbidden, NotFound, Unauthorized
from .models import Principal, Role
from .state import DB
from .store import Store

T = TypeVar("T")
STAFF = frozenset({Role.ENGINEER, Role.ADMIN})


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


PRINCIPAL = web.RequestKey("principal", Principal)


async def principal(request: web.Request) -> Principal:
    """The authenticated caller; 401 without a valid bearer token."""
    cached = request.get(PRINCIPAL)
    if cached is not None:
        return cached
    token = bearer_token(request)
    found = None if token is None else await request.app[DB].run(Store.principal_for_token, token)
    if found is None:
        raise _unauthorized()
    request[PRINCIPAL] = found
    return found


async def principal_and(request: web.Request, read: Callable[[Store], T]) -> tuple[Principal, T]:
    """The caller as ``principal`` finds it and ``read``'s answer, both from one trip to the store's thread: on
    a hot path (live requests) each trip is a thread hand-off the request waits for. ``read`` runs only for a
    valid token."""
    cached = request.get(PRINCIPAL)
    if cached is not None:
        return cached, await request.app[DB].run(read)
    token = bearer_token(request)

    def both(store: Store) -> tuple[Principal, T] | None:
        found = None if token is None else store.principal_for_token(token)
        return None if found is None else (found, read(store))

    answer = await request.app[DB].run(both)
    if answer is None:
        raise _unauthorized()
    request[PRINCIPAL] = answer[0]
    return answer


def _unauthorized() -> Unauthorized:
    return Unauthorized("a valid bearer token is required", code="unauthorized")


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        raise Forbidden(f"the {principal.role} role may not do this", code="role_forbidden")


def may_see_household(principal: Principal, household: str) -> bool:
    if principal.role in STAFF:
        return True
    return principal.role is Role.CUSTOMER and principal.household == household


def check_household(principal: Principal, household: str) -> None:
    """Someone else's household looks exactly like a missing one: no existence leak."""
    if not may_see_household(principal, household):
        raise NotFound("not found", code="not_found")


def household_filter(principal: Principal) -> str | None:
    """The household a listing is restricted to, or None for staff (everything)."""
    if principal.role in STAFF:
        return None
    if principal.role is Role.CUSTOMER and principal.household:
        return principal.household
    raise Forbidden(f"the {principal.role} role has no household listing", code="role_forbidden")


def may_see_ticket(principal: Principal, household: str, partner: str | None) -> bool:
    """Partners see only what is assigned to them; everyone else by household."""
    if principal.role is Role.PARTNER:
        return partner is not None and partner == principal.name
    return may_see_household(principal, household)
