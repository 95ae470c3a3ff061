"""Redaction throughput on a mixed bundle corpus, against sha256 over the same bytes in the same run.

The corpus is the planted-secret corpus of the tests (tests/shared/redaction_corpus.py) at bench size: a
household of 150 devices with its inventory, diagnosis, host and network facts, a timeline of availability
flaps and per-device logs in which every line carries identifiers or secrets. Prints MB/s, the sha256 MB/s,
their ratio, and the leaks left on the planted corpus (no assertion: the targets are read, not enforced).
Both rates are per CPU second of this process (``time.process_time``): on the shared build host a wall clock
mostly measures the other engineers' load (it gave 1.2-2.1 MB/s and a sha256 of 250-920 MB/s in one session).

    python -m bench.redact [--seed N]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time

from shared.redact import Redactor, redact_files
from tests.shared.redaction_corpus import make_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=random.randrange(2**32))
    parser.add_argument("--rounds", type=int, default=3, help="best of N")
    args = parser.parse_args()
    corpus = make_corpus(args.seed, devices=150, log_lines=600, flaps=12)
    data = b"".join(corpus.files.values())
    megabytes = len(data) / 1e6
    shares: dict[str, int] = {}
    for name, content in corpus.files.items():
        kind = "logs" if name.startswith("logs/") else name
        shares[kind] = shares.get(kind, 0) + len(content)
    print(
        f"seed {args.seed}: {megabytes:.1f} MB in {len(corpus.files)} files ("
        + ", ".join(f"{kind} {size / len(data):.0%}" for kind, size in sorted(shares.items()))
        + ")"
    )
    redact_s, hash_s = [], []
    for _ in range(args.rounds):
        started = time.process_time()
        redactor = Redactor(b"bench-household-key")
        redacted = redact_files(corpus.files, redactor)
        trigger = redactor.redact_trigger(corpus.trigger)
        redact_s.append(time.process_time() - started)
        started = time.process_time()
        hashlib.sha256(data).hexdigest()
        hash_s.append(time.process_time() - started)
    redact_rate, hash_rate = megabytes / min(redact_s), megabytes / min(hash_s)
    texts = [
        *(content.decode() for content in redacted.values()),
        *redacted,
        trigger.signature or "",
        trigger.summary or "",
    ]
    replaced, removed = corpus.expected_counts()
    summary = redactor.summary()
    print(f"redaction: {redact_rate:.1f} MB/s   sha256: {hash_rate:.0f} MB/s   ratio {redact_rate / hash_rate:.3f}")
    print(
        f"planted: {sum(replaced.values()) + sum(removed.values())}   leaks: {len(corpus.leaks(texts))}   "
        f"counts match: {(summary.replaced, summary.removed) == (dict(replaced), dict(removed))}"
    )


if __name__ == "__main__":
    main()
