"""``homediag-agent run``: the long-running agent until SIGTERM or SIGINT.

A bad configuration never gets this far (the CLI exits 2 with one line); a failure while starting the parts
is logged and exits 1, and so does a background task whose crash cannot be restarted in place (the runtime's
supervisor says which): systemd then starts a fresh agent. SIGTERM leaves through ``AgentRuntime.__aexit__``,
so the stop is recorded as clean.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from shared.aio import wait_first

from ..config import AgentConfig
from ..runtime import AgentRuntime

_LOGGER = logging.getLogger("agent.run")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run the agent: discovery, monitors, recorder, fault capture, outbox")
    parser.set_defaults(handler=run_agent)


def run_agent(args: argparse.Namespace, config: AgentConfig) -> int:
    logging.getLogger("agent").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    return asyncio.run(_run(config))


async def _run(config: AgentConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runtime = AgentRuntime(config)
    try:
        async with runtime:
            _LOGGER.info("agent running (state in %s)", config.state_dir)
            await wait_first(stop, runtime.supervisor.fatal)
            _LOGGER.info("agent stopping")
    except OSError as exc:
        _LOGGER.error("agent failed: %s", exc)
        return 1
    except Exception as exc:
        if not runtime.supervisor.fatal.is_set():
            raise
        # The crash that stopped the agent, raised again by its owner while stopping: logged with its traceback
        # when it happened.
        _LOGGER.error("agent stopped after a background task crashed: %s", exc)
    return 1 if runtime.supervisor.fatal.is_set() else 0
