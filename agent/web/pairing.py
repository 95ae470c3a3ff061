"""Pairing a phone with the one-click page, so that a neighbour on the same Wi-Fi cannot use it.

When the page listens beyond the hub's loopback, a visitor other than the hub itself needs a session, and a
session needs a pairing code: six digits from ``homediag-agent web pair`` (also printed as a one-time link),
valid for a few minutes and spent on first use. Wrong guesses count against every open code; after
``MAX_WRONG`` they are all void. Only hashes are stored (``<state_dir>/web-pairing.json``, mode 0600), so a
copy of the state directory opens nothing. The store is read at each request, so the CLI and the running agent
share it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shared.atomic_file import write_atomically

MAX_WRONG = 5
SESSION_DAYS = 30
COOKIE = "homediag_pair"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Code:
    code: str
    until: datetime


class PairingStore:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "web-pairing.json"

    def _load(self, now: datetime) -> dict[str, Any]:
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            saved = {}
        live = lambda items: [i for i in items if isinstance(i, dict) and datetime.fromisoformat(i["until"]) > now]  # noqa: E731
        try:
            return {
                "codes": live(saved.get("codes", [])),
                "sessions": live(saved.get("sessions", [])),
                "wrong": int(saved.get("wrong", 0)),
            }
        except (AttributeError, KeyError, TypeError, ValueError):
            return {"codes": [], "sessions": [], "wrong": 0}

    def _save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(state).encode())

    def new_code(self, minutes: float, now: datetime) -> Code:
        state = self._load(now)
        code = f"{secrets.randbelow(10**6):06d}"
        until = now + timedelta(minutes=minutes)
        state["codes"].append({"hash": _hash(code), "until": until.isoformat()})
        state["wrong"] = 0
        self._save(state)
        return Code(code, until)

    def pair(self, code: str, now: datetime) -> str | None:
        """A new session token for a right code (which is spent), or None."""
        state = self._load(now)
        given = _hash(code.strip())
        match = next((c for c in state["codes"] if hmac.compare_digest(c["hash"], given)), None)
        if match is None:
            state["wrong"] += 1
            if state["wrong"] >= MAX_WRONG:
                state["codes"] = []
            if self.path.exists():
                self._save(state)
            return None
        state["codes"].remove(match)
        token = secrets.token_urlsafe(32)
        state["sessions"].append({"hash": _hash(token), "until": (now + timedelta(days=SESSION_DAYS)).isoformat()})
        self._save(state)
        return token

    def valid(self, token: str | None, now: datetime) -> bool:
        if not token:
            return False
        given = _hash(token)
        return any(hmac.compare_digest(s["hash"], given) for s in self._load(now)["sessions"])
