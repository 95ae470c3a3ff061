"""``homediag-agent consent``: the customer's decision about remote access for support, on the hub.

``consent show`` prints it; ``consent set off|ask|allowed`` changes it; ``consent allow --minutes N`` grants a
temporary yes (ask mode). The running agent reads it at every live request, so a change applies at once.
"""

from __future__ import annotations

import argparse

from shared.models import utcnow

from ..config import AgentConfig
from ..live import Consent, ConsentStore


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("consent", help="remote access for support: show, set, or allow for a while")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("show").set_defaults(handler=run_consent)
    setter = actions.add_parser("set")
    setter.add_argument("mode", choices=("off", "ask", "allowed"))
    setter.set_defaults(handler=run_consent)
    allow = actions.add_parser("allow", help="allow remote access for a limited time")
    allow.add_argument("--minutes", type=float, default=60.0)
    allow.set_defaults(handler=run_consent)


def run_consent(args: argparse.Namespace, config: AgentConfig) -> int:
    store = ConsentStore(config.state_dir, config.live.consent)
    if args.action == "set":
        store.set(Consent(args.mode))
    elif args.action == "allow":
        store.grant(args.minutes, utcnow())
    consent = store.current()
    until = f" until {consent.granted_until:%Y-%m-%d %H:%M}Z" if consent.granted_until else ""
    print(
        f"remote access for support: {consent.mode}{until}; allowed now: {'yes' if consent.allows(utcnow()) else 'no'}"
    )
    return 0
