"""The diagnosis scenario suite as figures: the bundle figure and the "click at any moment" figure, apart.

``python -m bench.scenarios [--seed N] [--save FILE] [--skip-bundles]``: runs ``lab.scenarios`` (the same
scenarios as tests/scenarios) in three lab homes and prints one line per scenario, then accuracy = correct root
cause / scenarios, how many faults were wrongly called healthy, and the wall time of each diagnosis (live ones
include their fresh checks and a few seconds of discovery). Then a fourth home runs every fault kind once with
real one-clicks during and right after them (``lab.scenarios.moment_scenarios``), and the recording is clicked
at moments drawn at random around each fault (``lab.moments``; the seed is printed): clicks, right, false
healthy. ``--save`` keeps the recording (tests/scenarios replays the one stored there).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections import Counter
from pathlib import Path

from lab.home import LabHome
from lab.moments import Recording, clicks, summary
from lab.scenarios import Outcome, bundle_scenarios, hub_scenarios, live_scenarios, moment_scenarios, new_home
from shared.profiles import load_profiles


def _factory(labs: list[LabHome]):  # type: ignore[no-untyped-def]
    def make(*args, **kwargs):  # type: ignore[no-untyped-def]
        lab = LabHome(*args, **kwargs)
        labs.append(lab)
        return lab.__enter__()

    return make


def _in_a_home(run, *args):  # type: ignore[no-untyped-def]
    labs: list[LabHome] = []
    with tempfile.TemporaryDirectory(prefix="homediag-scenarios-") as tmp:
        try:
            lab, agent = new_home(_factory(labs), Path(tmp))
            try:
                result = run(lab, agent, *args)
                return list(result) if not isinstance(result, Recording) else result
            finally:
                agent.close()
        finally:
            for lab in labs:
                lab.close()


def bundle_figure() -> None:
    outcomes: list[Outcome] = []
    for run in (bundle_scenarios, live_scenarios, hub_scenarios):
        outcomes += _in_a_home(run)
    for outcome in outcomes:
        mark = "ok " if outcome.correct else "BAD"
        print(
            f"{mark} {outcome.scenario:<50} expected {outcome.expected:<24} got {outcome.verdict:<24} {outcome.seconds:6.2f} s"
        )
    correct = sum(o.correct for o in outcomes)
    false_healthy = sum(1 for o in outcomes if o.verdict == "healthy" and o.expected != "healthy")
    print(
        f"bundles and scenarios: accuracy {correct}/{len(outcomes)} = {correct / len(outcomes):.0%}; "
        f"false healthy: {false_healthy}; diagnosis time max {max(o.seconds for o in outcomes):.2f} s"
    )


def moment_figure(seed: int, save: Path | None, replay: Path | None) -> None:
    rng = random.Random(seed)
    recording = Recording.load(replay) if replay else _in_a_home(moment_scenarios, rng)
    if save is not None:
        recording.save(save)
    made = clicks(recording, load_profiles(), seed)
    wrong = [c for c in made if not c.right]
    for c in wrong:
        print(
            f"BAD click {c.fault:<22} {c.phase:<16} {c.offset_s:+8.1f} s expected {sorted(c.expected)} got {c.verdict}"
            f"{' (real)' if c.real else ''}"
        )
    by_fault = Counter(c.fault for c in made)
    print("clicks per fault: " + ", ".join(f"{kind} {count}" for kind, count in by_fault.items()))
    print(summary(made, seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=random.randrange(2**32))
    parser.add_argument("--save", type=Path, help="keep the moment home's recording here (gzip JSON)")
    parser.add_argument("--replay", type=Path, help="click a saved recording instead of running the moment home")
    parser.add_argument("--skip-bundles", action="store_true", help="only the click-at-any-moment figure")
    args = parser.parse_args()
    print(f"seed {args.seed}")
    if not args.skip_bundles and args.replay is None:
        bundle_figure()
    moment_figure(args.seed, args.save, args.replay)


if __name__ == "__main__":
    main()
