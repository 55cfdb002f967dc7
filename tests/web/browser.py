"""Chromium for the browser tests: Debian's ``chromium`` driven by Python ``playwright``.

No browser is ever downloaded: playwright launches the system binary
(``/usr/bin/chromium``, or ``$RECONCILER_CHROMIUM``). Without it, or without playwright,
the tests are skipped with the reason (``.ci/run`` installs both, so CI runs them). The
flags keep Chromium quiet on a closed network: no background requests, no component
updates, no QUIC, no sync.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """Return the Chromium binary to drive, or None if there is none."""
    wanted = os.environ.get("RECONCILER_CHROMIUM", "/usr/bin/chromium")
    if Path(wanted).exists():
        return wanted
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (skips when Chromium or playwright is not installed)."""
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium: install Debian's chromium (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Console:
    """Console errors and uncaught exceptions of a page, collected as they happen."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text} at {msg.location}")
