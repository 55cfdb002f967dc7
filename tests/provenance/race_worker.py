"""A separate process writing records through its own ProvenanceStore (for race tests).

Usage: ``python race_worker.py REPO STATE_DIR BRANCH GO_FILE REMOTE|- RECORD.yaml...``.
Waits until GO_FILE exists (so every worker starts at once), writes each record, and
prints one JSON line per record: ``{"path", "outcome", "commit", "message", "attempts"}``.
With ``RACE_LOG=FILE`` in the environment, the store's log (each lost push) goes to FILE.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from reconciler.provenance.records import RunRecord
from reconciler.provenance.store import ProvenanceStore, RetryPolicy


def main(argv: list[str]) -> int:
    import logging
    import os

    if os.environ.get("RACE_LOG"):
        logging.basicConfig(level=logging.INFO, filename=os.environ["RACE_LOG"])
    repo, state, branch, go, remote, *files = argv
    store = ProvenanceStore(
        Path(repo),
        remote=None if remote == "-" else remote,
        state_dir=Path(state),
        retry=RetryPolicy(attempts=40, initial=0.02, maximum=0.4),
    )
    records = [RunRecord.from_yaml(Path(f).read_text(), path=f) for f in files]
    deadline = time.monotonic() + 30
    while not Path(go).exists():
        if time.monotonic() > deadline:
            return 3
        time.sleep(0.002)
    for rec in records:
        r = store.write(branch, rec)
        print(
            json.dumps(
                {
                    "path": r.path,
                    "outcome": str(r.outcome),
                    "commit": r.commit,
                    "message": r.message,
                    "attempts": r.attempts,
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
