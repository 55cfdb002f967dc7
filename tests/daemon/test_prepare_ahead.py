"""The daemon prepares the environments a fetch moved ahead of their reconciles, one at a time.

``wiring.PrepareAhead`` on its own (the engine's side, that a reconcile then finds the commit
prepared, is ``tests/engine/test_scoped_pass.py``): keys are prepared in order, a later
request replaces what is left of the earlier one, and a failure does not stop the thread.
"""

from __future__ import annotations

import threading

from reconciler.cli import wiring


class Recorder:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.done = threading.Event()

    def __call__(self, key: str) -> None:
        self.keys.append(key)
        if key == "blocks":
            self.started.set()
            assert self.release.wait(30)
        if key == "fails":
            raise RuntimeError("the commit does not render")
        if key == "last":
            self.done.set()


def test_keys_are_prepared_in_order_and_a_failure_is_not_the_end() -> None:
    rec = Recorder()
    ahead = wiring.PrepareAhead(rec)
    ahead.request(["dev", "fails", "prod", "last"])
    assert rec.done.wait(30)
    assert rec.keys == ["dev", "fails", "prod", "last"]


def test_a_later_request_replaces_what_is_left_of_the_earlier_one() -> None:
    rec = Recorder()
    ahead = wiring.PrepareAhead(rec)
    ahead.request(["blocks", "stale-1", "stale-2"])
    assert rec.started.wait(30)
    ahead.request(["staging", "last"])  # a newer push, while "blocks" is being prepared
    rec.release.set()
    assert rec.done.wait(30)
    assert rec.keys == ["blocks", "staging", "last"]
