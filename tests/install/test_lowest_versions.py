"""The lowest versions CI tests with are the lower bounds pyproject.toml declares.

``.ci/lowest-constraints.txt`` pins every runtime dependency at its declared lower bound
(the lowest release of that bound: kubernetes ``>=30`` is 30.1.0, there is no 30.0.0);
``.ci/run`` installs them in ``.venv-lowest`` and runs ``.ci/lowest-tests.txt``. A bound
raised or lowered in one file and not the other fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_RELEASE = {"kubernetes": {"30": "30.1.0"}}
TRANSITIVE = {"pathspec"}
"""Pinned for a dependency's sake (dvc 3.50 cannot import pathspec 1.x), not declared."""
"""Where a declared bound has no release of its own (kubernetes 30.0.0 was never published)."""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_lower_bounds() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out: dict[str, str] = {}
    for req in project["dependencies"]:
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)", req)
        assert m, f"dependency without a lower bound: {req}"
        out[_norm(m.group(1))] = m.group(2)
    return out


def pinned() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (ROOT / ".ci" / "lowest-constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[_norm(name)] = version.strip()
    return out


def _same(bound: str, pin: str) -> bool:
    parts = bound.split(".")
    return pin.split(".")[: len(parts)] == parts and all(
        p == "0" for p in pin.split(".")[len(parts) :]
    )


def test_every_lower_bound_is_pinned_in_the_lowest_constraints() -> None:
    bounds, pins = declared_lower_bounds(), pinned()
    extra = set(pins) - set(bounds) - TRANSITIVE
    assert not extra, f"pinned but not a dependency: {extra}"
    for name, bound in bounds.items():
        assert name in pins, f"{name}>={bound} is not tested at its lower bound"
        pin = pins[name]
        expected = FIRST_RELEASE.get(name, {}).get(bound)
        assert pin == expected if expected else _same(bound, pin), (
            f"{name}: pyproject says >={bound}, .ci/lowest-constraints.txt pins {pin}"
        )


def test_the_lowest_test_list_names_existing_paths() -> None:
    lines = (ROOT / ".ci" / "lowest-tests.txt").read_text().split()
    assert lines
    for path in lines:
        assert (ROOT / path).exists(), path
