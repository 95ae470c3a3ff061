"""The diagnosis scenario suite as figures: accuracy over the lab scenarios, false-healthy count, time per diagnosis.

``python -m bench.scenarios``: runs ``lab.scenarios`` (the same scenarios as tests/scenarios) in three lab homes
and prints one line per scenario, then accuracy = correct root cause / scenarios, how many faults were
wrongly called healthy, and the wall time of each diagnosis (live ones include their fresh checks and a
few seconds of discovery).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from lab.home import LabHome
from lab.scenarios import Outcome, bundle_scenarios, hub_scenarios, live_scenarios, new_home


def _factory(labs: list[LabHome]):  # type: ignore[no-untyped-def]
    def make(*args, **kwargs):  # type: ignore[no-untyped-def]
        lab = LabHome(*args, **kwargs)
        labs.append(lab)
        return lab.__enter__()

    return make


def main() -> None:
    outcomes: list[Outcome] = []
    for run in (bundle_scenarios, live_scenarios, hub_scenarios):
        labs: list[LabHome] = []
        with tempfile.TemporaryDirectory(prefix="homediag-scenarios-") as tmp:
            try:
                lab, agent = new_home(_factory(labs), Path(tmp))
                try:
                    outcomes += list(run(lab, agent))
                finally:
                    agent.close()
            finally:
                for lab in labs:
                    lab.close()
    for outcome in outcomes:
        mark = "ok " if outcome.correct else "BAD"
        print(f"{mark} {outcome.scenario:<50} expected {outcome.expected:<24} got {outcome.verdict:<24} {outcome.seconds:6.2f} s")
    correct = sum(o.correct for o in outcomes)
    false_healthy = sum(1 for o in outcomes if o.verdict == "healthy" and o.expected != "healthy")
    print(f"accuracy {correct}/{len(outcomes)} = {correct / len(outcomes):.0%}; false healthy: {false_healthy}; "
          f"diagnosis time max {max(o.seconds for o in outcomes):.2f} s")


if __name__ == "__main__":
    main()
