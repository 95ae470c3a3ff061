"""What ``homediag-agent run`` loads: libraries needed only by other commands, by bundling or by the local page
stay out of a running hub's memory (issue 17's footprint; ``python -m bench.agent_footprint`` measures it)."""

from __future__ import annotations

import json
import subprocess
import sys

from agent.cli import COMMAND_MODULES, chosen_commands

LOADED = """
import json, sys
from agent.cli import build_parser, chosen_commands
build_parser(chosen_commands(sys.argv[1:]))
import agent.runtime
print(json.dumps(sorted(sys.modules)))
"""
# Loaded at their first use (a fault, a click, a result sent, a support request), not carried by a quiet hub.
AT_FIRST_USE = {"agent.diagnosis", "shared.profiles", "agent.selfcheck", "agent.bundler", "agent.commands.bundle"}


def _loaded(*argv: str) -> set[str]:
    """Every module loaded, by its full name."""
    done = subprocess.run([sys.executable, "-c", LOADED, *argv], capture_output=True, text=True, check=True, timeout=60)
    return set(json.loads(done.stdout))


def test_only_the_named_command_is_imported():
    assert chosen_commands(["-c", "agent.yaml", "-v", "run"]) == ("run",)
    assert chosen_commands(["--config=agent.yaml", "web", "pair"]) == ("web",)
    assert chosen_commands(["-h"]) == chosen_commands(["no-such-command"]) == chosen_commands([]) == COMMAND_MODULES


def test_the_running_agent_does_not_carry_what_it_does_not_use_yet():
    loaded = _loaded("-c", "agent.yaml", "run")
    # cryptography: first signature; aiohttp: first upload, or the page when enabled; jinja2: first page shown;
    # rich: other commands' output; redaction's patterns: first bundle.
    assert not {name.split(".")[0] for name in loaded} & {"cryptography", "aiohttp", "jinja2", "rich"}
    assert "shared.redact" not in loaded


def test_diagnosis_profiles_bundling_and_the_page_load_at_first_use():
    """The one-click page is on as a hub ships: its port is bound at start, its server loads at the first visitor
    (``agent.page_on_visit``; tests/diagnosis/test_page.py serves it from the running agent)."""
    loaded = _loaded("-c", "agent.yaml", "run")
    assert not loaded & (AT_FIRST_USE | {"agent.web", "shared.redact"}), loaded & AT_FIRST_USE
