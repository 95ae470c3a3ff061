"""``homediag-agent web pair``: a pairing code (and one-time link) for opening the one-click page on a phone.

Needed only when ``web.host`` lets the page be reached from the home network; the code is valid for
``--minutes`` and spent on first use.
"""

from __future__ import annotations

import argparse

from shared.models import utcnow

from ..config import AgentConfig
from ..web.pairing import PairingStore


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("web", help="the local one-click page")
    actions = parser.add_subparsers(dest="action", required=True)
    pair = actions.add_parser("pair", help="print a pairing code and a one-time link for a phone on the home network")
    pair.add_argument("--minutes", type=float, default=15.0, help="how long the code is valid (default 15)")
    pair.set_defaults(handler=run_pair)


def run_pair(args: argparse.Namespace, config: AgentConfig) -> int:
    code = PairingStore(config.state_dir).new_code(args.minutes, utcnow())
    host = config.web.host if config.web.host not in ("0.0.0.0", "::") else "<the hub's address>"
    print(f"pairing code: {code.code} (valid until {code.until:%H:%M} UTC, once)")
    print(f"one-time link: http://{host}:{config.web.port}/pair?code={code.code}")
    return 0
