"""The chaos suite (``pytest -m chaos tests/chaos``): faults injected, invariants checked.

Every test here carries the ``chaos`` marker (outside the default run). Each case reports
its figures through the ``figures`` fixture; they are printed as one table at the end of
the run (with xdist too: they travel in the reports' ``user_properties``) and, when
``RECONCILER_CHAOS_FIGURES`` names a file, appended to it as JSON lines.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FIGURES_ENV = "RECONCILER_CHAOS_FIGURES"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.chaos)


class Figures(dict[str, Any]):
    """Figures of one chaos case: ``figures["kills"] = 22``; ``report()`` publishes them."""

    def __init__(self, item: pytest.Item) -> None:
        super().__init__()
        self.item = item

    def report(self) -> None:
        """Publish the figures (call at the end of the test body)."""
        case = self.item.name
        self.item.user_properties.append(("chaos", {"case": case, **self}))
        print(f"\n[chaos] {case}: " + ", ".join(f"{k}={v}" for k, v in self.items()))
        target = os.environ.get(FIGURES_ENV)
        if target:
            with open(target, "a", encoding="utf-8") as f:
                f.write(json.dumps({"case": case, **self}, default=str) + "\n")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    yield Figures(request.node)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows: list[dict[str, Any]] = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", ()):
                if key == "chaos" and getattr(report, "when", "call") == "call":
                    rows.append(value)
    if not rows:
        return
    terminalreporter.section("chaos figures")
    for row in sorted(rows, key=lambda r: r["case"]):
        rest = ", ".join(f"{k}={v}" for k, v in row.items() if k != "case")
        terminalreporter.write_line(f"{row['case']}: {rest}")
