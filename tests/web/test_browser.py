"""The web UI in a real browser: click-through, keyboard, live update after a push, no errors.

Headless Debian Chromium driven by playwright (see ``browser``), against the real daemon
serving the example's finished runs (see ``worlds``). Screenshots of the pages go to the
test's temporary directory, and to ``docs/`` with ``UPDATE_SCREENSHOTS=1`` (the README's).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.web.browser import Console, browser  # noqa: F401  (fixture)
from tests.web.worlds import DaemonWorld

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs"
VIEWPORT = {"width": 1100, "height": 680}
PAGES = [
    "/",
    "/envs/dev",
    "/envs/dev/changes",
    "/envs/dev/pipelines/resnet50",
    "/envs/dev/pipelines/resnet50/runs",
    "/envs/dev/pipelines/llm-finetune",
    "/failures",
    "/review",
    "/review?range=main..main",
]


README_SHOTS = {"web-environments", "web-pipeline", "web-runs"}


def shoot(page: Any, name: str, tmp_path: Path) -> None:
    """Save a screenshot of the viewport (the README's to ``docs/`` too, when asked)."""
    page.screenshot(path=str(tmp_path / f"{name}.png"))
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" and name in README_SHOTS:
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / f"{name}.png"))


@pytest.fixture
def page(browser: Any) -> Any:  # noqa: F811
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB", timezone_id="UTC")
    p = context.new_page()
    p.set_default_timeout(90_000)
    yield p
    context.close()


def test_click_through_environment_pipeline_run_record(
    ui: DaemonWorld, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    page.goto(ui.url + "/")
    assert page.locator("h1").inner_text() == "Environments"
    shoot(page, "web-environments", tmp_path)
    page.get_by_role("link", name="dev", exact=True).click()
    page.wait_for_url(re.compile(r"/envs/dev$"))
    assert "ml-dev" in page.locator("dl.facts").inner_text()
    shoot(page, "web-environment", tmp_path)
    page.get_by_role("link", name="resnet50", exact=True).click()
    page.wait_for_url(re.compile(r"/pipelines/resnet50$"))
    graph = page.locator("svg.dag")
    assert graph.is_visible()
    assert "evaluate Succeeded" in (graph.get_attribute("aria-label") or "")
    assert "promoted" in page.locator("dl.facts").inner_text()
    shoot(page, "web-pipeline", tmp_path)
    page.get_by_role("link", name=re.compile("every run of resnet50")).click()
    page.wait_for_url(re.compile(r"/pipelines/resnet50/runs$"))
    assert page.locator("svg.chart").first.is_visible()
    shoot(page, "web-runs", tmp_path)
    page.locator("table.grid tbody th a").first.click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f]{8}$"))
    facts = page.locator("dl.facts").inner_text()
    assert "experiments/resnet50" in facts and "runs/dev/resnet50/" in facts
    page.locator("dl.facts a.sha").first.click()
    page.wait_for_url(re.compile(r"/commits/[0-9a-f]{40}$"))
    assert "pipelines/resnet50.yaml" in page.locator("ul.paths").inner_text()
    assert console.errors == []


def test_no_console_errors_on_any_page(ui: DaemonWorld, page: Any, tmp_path: Path) -> None:
    console = Console(page)
    for path in PAGES:
        response = page.goto(ui.url + path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("load")
    page.goto(ui.url + "/failures")
    shoot(page, "web-failures", tmp_path)
    assert console.errors == []


def test_keyboard_access(ui: DaemonWorld, page: Any) -> None:
    page.goto(ui.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == "/envs/dev":
            break
    else:
        pytest.fail("the dev link cannot be reached with Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/envs/dev$"))
    page.locator("#q").focus()
    page.keyboard.type("resnet")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=resnet"))
    rows = page.locator("table.grid tbody tr")
    assert rows.count() == 1 and "resnet50" in rows.first.inner_text()
    outline = page.evaluate(
        "(() => { const a = document.querySelector('main a'); a.focus();"
        " return getComputedStyle(a).outlineStyle; })()"
    )
    assert outline != "none"


def test_live_update_after_a_push(ui: DaemonWorld, page: Any) -> None:
    console = Console(page)
    page.goto(ui.url + "/envs/dev")
    old_run = page.locator("tr", has_text="resnet50").locator("code").first.inner_text()
    page.evaluate("window.__notReloaded = true")
    ui.push("pipelines/resnet50.yaml", "lr: 0.01", "lr: 0.03", "Try a higher learning rate")
    row = page.locator("tr", has_text="resnet50")
    page.wait_for_function(
        "old => { const r = [...document.querySelectorAll('tbody tr')]"
        ".find(t => t.textContent.includes('resnet50'));"
        " return r && !r.querySelector('code').textContent.includes(old); }",
        arg=old_run,
        timeout=60_000,
    )
    assert page.evaluate("window.__notReloaded") is True
    assert old_run not in row.locator("code").first.inner_text()
    assert console.errors == []
