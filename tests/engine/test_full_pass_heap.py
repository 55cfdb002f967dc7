"""A full pass keeps what it lists out of the garbage collector's walks, and gives it back.

The daemon's heap (prepared commits, records, the listed objects of every environment)
would otherwise be walked by each full collection a pass triggers: the pass freezes what
the process holds after each large list (``cluster.api.decoded_bodies_frozen``) and the
collector gets it all back when the pass ends, so no cycle waits longer than a pass.
Real git, the example repository and the sandbox over HTTP.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import contexts
from reconciler.cluster import api
from reconciler.engine import Precedence
from tests.workflows.world import make_world


class _Observed(Precedence):
    """The daemon's precedence, noting what is frozen at each step boundary of a full pass."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen_at_boundaries: list[int] = []

    def wait(self) -> float:
        self.frozen_at_boundaries.append(gc.get_freeze_count())
        return super().wait()


def test_a_full_pass_freezes_what_it_listed_until_it_ends(
    tmp_path: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "LARGE_BODY", 0)  # the example's lists are small: every one counts
    world = make_world(tmp_path, sandbox)
    precedence = _Observed()
    world.ctx.precedence = precedence
    assert gc.get_freeze_count() == 0

    outcome = world.reconcile()

    assert outcome.ok
    # The boundaries after the listing (before tracking, before rendering) saw it frozen.
    assert max(precedence.frozen_at_boundaries) > 0
    assert gc.get_freeze_count() == 0  # given back when the pass ended


def test_a_one_shot_command_runs_without_the_collector_and_gives_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []

    @contexts.one_shot
    def command() -> int:
        seen.append(gc.isenabled())
        return 7

    assert gc.isenabled()
    try:
        assert command() == 7
        assert seen == [False]  # none of its walks during the command
        assert gc.isenabled()  # an in-process caller (a test's CliRunner) gets it back
        monkeypatch.setattr(contexts, "PROCESS_ENDS_WITH_COMMAND", True)
        assert command() == 7
        assert seen == [False, False]
        assert not gc.isenabled()  # the console script's process ends: no walk at its end
        gc.disable()
        monkeypatch.setattr(contexts, "PROCESS_ENDS_WITH_COMMAND", False)
        command()
        assert not gc.isenabled()  # off before the command: left off
    finally:
        gc.enable()
