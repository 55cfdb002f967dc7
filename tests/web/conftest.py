"""Fixtures of the web UI tests: one running daemon world per module (see ``worlds``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.web import worlds


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[worlds.DaemonWorld]:
    """The daemon serving the example's dev environment, its runs finished."""
    world = worlds.start_daemon_world(tmp_path_factory.mktemp("ui"))
    try:
        world.wait(lambda: worlds.settled(world), "dev's runs to finish and resnet50 to serve")
        yield world
    finally:
        world.stop()
