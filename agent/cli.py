"""``homediag-agent``: exit 0 on success, non-zero with a one-line reason on stderr."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.errors import HomediagError

from .config import load_config

COMMAND_MODULES = ("enroll", "bundle", "discover", "run", "diagnose", "consent", "web")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=os.environ.get("HOMEDIAG_CONFIG"),
        help="agent YAML configuration (default: $HOMEDIAG_CONFIG)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def chosen_commands(argv: Sequence[str]) -> tuple[str, ...]:
    """The command modules to import for ``argv``: only the named one when there is one.

    Each command module brings its own libraries (the page's aiohttp and jinja2, rich, zeroconf…); the
    long-running ``run`` must not carry those of the others. Without a known command (help, a typo), all.
    """
    peek = argparse.ArgumentParser(add_help=False)
    _add_common(peek)
    peek.add_argument("command", nargs="?")
    known, _rest = peek.parse_known_args(argv)
    return (known.command,) if known.command in COMMAND_MODULES else COMMAND_MODULES


def build_parser(commands: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="homediag-agent", description="homediag hub agent")
    _add_common(parser)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in commands:
        module = importlib.import_module(f"agent.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(chosen_commands(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(args.config)
        return int(args.handler(args, config) or 0)
    except HomediagError as exc:
        # The contract is one line: a wrapped library message (pydantic's, say) can span several.
        reason = " ".join(str(exc).split()) or exc.code
        print(f"homediag-agent: {reason}", file=sys.stderr)
        return 2
    except OSError as exc:  # the system refused (a full or read-only disk, permissions): one line, not a trace
        where = f": {exc.filename}" if exc.filename else ""
        print(f"homediag-agent: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
