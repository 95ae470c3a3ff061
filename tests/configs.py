"""The one place tests build agent and collector configurations: only what a test is about is spelled out.

Sections are deep-merged over the defaults a test area needs, so ``agent_config(tmp_path, broker={"url": u})``
is the whole configuration of an agent watching one broker. The presets name the choices tests keep making.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from collector.config import CollectorConfig
from shared.settings import deep_merge

# Reconnect at once: a broker restarted by the test is back within a tenth of a second.
FAST_RECONNECT: Mapping[str, float] = {"reconnect_min_s": 0.1, "reconnect_max_s": 0.5}
# No mDNS or ARP: tests never scan real interfaces.
NO_LAN_SCAN: Mapping[str, bool] = {"mdns": False, "arp": False}
# The one-click page on a free loopback port.
LOCAL_PAGE: Mapping[str, Any] = {"host": "127.0.0.1", "port": 0}


def agent_settings(state_dir: Path | None = None, **sections: Any) -> dict[str, Any]:
    """The settings as a plain mapping (for tests that also write them to a YAML file for a subprocess)."""
    settings: dict[str, Any] = {} if state_dir is None else {"state_dir": str(state_dir)}
    return deep_merge(settings, sections)


def agent_config(state_dir: Path | None = None, **sections: Any) -> AgentConfig:
    return AgentConfig.model_validate(agent_settings(state_dir, **sections))


def collector_config(tmp_path: Path, **sections: Any) -> CollectorConfig:
    """Data under ``tmp_path/collector``; bundles verified in a thread, which keeps these tests quick (the
    end-to-end tests run the default worker processes)."""
    defaults = {"data_dir": str(tmp_path / "collector"), "ingest": {"verify_workers": 0}}
    return CollectorConfig.model_validate(deep_merge(defaults, sections))
