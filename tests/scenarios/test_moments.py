"""The one click at any moment, replayed over a real lab recording at moments drawn at random on every run.

``data/moments-*.json.gz`` was recorded by ``python -m bench.scenarios --skip-bundles --save FILE`` (the agent's
own recorder in the namespace home while ``lab.scenarios.moment_scenarios`` injected every fault kind, and the
verdicts of the real one-clicks run in the hub then). Every moment of every fault is drawn anew on each run (about
24 clicks per fault, two seconds in all); the seed is printed and ``HOMEDIAG_MOMENT_SEED`` replays one.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from lab.moments import EXPECTED, Recording, clicks, summary
from shared.profiles import load_profiles

RECORDINGS = sorted((Path(__file__).parent / "data").glob("moments-*.json.gz"))


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.name for p in RECORDINGS])
def test_the_one_click_is_right_at_random_moments_around_every_fault(path: Path) -> None:
    seed = int(os.environ.get("HOMEDIAG_MOMENT_SEED") or random.randrange(2**32))
    print(f"moment seed {seed} (HOMEDIAG_MOMENT_SEED={seed} replays it)")
    recording = Recording.load(path)
    assert {f.kind for f in recording.faults} <= set(EXPECTED) and len(recording.faults) >= 9
    made = clicks(recording, load_profiles(), seed)
    print(summary(made, seed))
    wrong = [
        (c.fault, c.phase, round(c.offset_s, 1), sorted(c.expected), c.verdict, c.real) for c in made if not c.right
    ]
    assert not wrong, f"seed {seed}: {wrong}"
    assert {c.phase for c in made} >= {"before", "during", "0-3 s after", "minutes after", "hours after"}
