"""README's "First day" walkthrough, run as written: every ``$ command`` of its console
blocks goes through bash in the directory the walkthrough is in, with the project's
``reconciler``, ``git``, ``dvc`` and ``kubectl`` on PATH and KUBECONFIG pointing at the
sandbox (the walkthrough starts one with ``reconciler sandbox``; the test's fixture stands
in for it), and what it prints must be the lines shown under it. Commit shas differ from
run to run (they carry the time), so 12- and 40-digit shas, times and durations are
compared as placeholders; run ids, names, counts and every word are compared as they are.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## First day: your own repository"
BIN = Path(sys.executable).parent


@dataclass
class Step:
    command: str
    expected: list[str]


def walkthrough() -> list[Step]:
    """Return the ``$ command`` lines of the section's console blocks and their output."""
    lines = README.read_text().splitlines(keepends=True)
    start = lines.index(SECTION + "\n")
    fenced, end = False, len(lines)
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("```"):
            fenced = not fenced
        elif not fenced and lines[i].startswith("## "):  # the next section, outside code
            end = i
            break
    section = "".join(lines[start:end])
    steps: list[Step] = []
    for block in re.findall(r"```console\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append(Step(line[2:], []))
            else:
                assert steps, f"output before any command: {line!r}"
                steps[-1].expected.append(line)
    return steps


def normalise(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        line = re.sub(r"\b[0-9a-f]{40}\b|\b[0-9a-f]{12}\b|\b[0-9a-f]{10}\b", "<sha>", line)
        line = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\dZ", "<time>", line)
        line = re.sub(r"\b(\d+h)?(\d+m)?\d+(\.\d+)?(ms|s)\b", "<duration>", line)
        out.append(" ".join(line.split()))  # table columns are as wide as their content
    while out and not out[-1]:
        out.pop()
    return out


def test_the_first_day_walkthrough_prints_what_the_readme_shows(
    tmp_path: Path, sandbox: Any
) -> None:
    steps = walkthrough()
    assert [s.command.split()[:2] for s in steps][:2] == [
        ["reconciler", "init"],
        ["cd", "ml-pipelines"],
    ]
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(sandbox.kubeconfig),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
        "COLUMNS": "100",
    }
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    cwd = tmp_path
    for step in steps:
        if step.command.startswith("cd "):
            cwd = (cwd / step.command[3:].strip()).resolve()
            continue
        proc = subprocess.run(
            ["bash", "-c", step.command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        shown = proc.stdout.splitlines()
        assert proc.returncode in (0, 2), f"$ {step.command}\n{proc.stdout}{proc.stderr}"
        assert normalise(shown) == normalise(step.expected), (
            f"$ {step.command}\n--- README\n"
            + "\n".join(step.expected)
            + "\n--- printed\n"
            + proc.stdout
            + proc.stderr
        )


def test_init_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    proc = subprocess.run(
        [str(BIN / "reconciler"), "init", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert f"error: {tmp_path}: not an empty directory" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
