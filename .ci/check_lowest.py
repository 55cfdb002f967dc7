"""Fail unless this virtualenv holds exactly the versions of .ci/lowest-constraints.txt.

Run by .ci/run in ``.venv-lowest``: pip could otherwise satisfy a constraint file that
drifted from pyproject.toml without anyone noticing.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent


def pinned() -> dict[str, str]:
    """Return ``{distribution: version}`` from the constraints file."""
    out: dict[str, str] = {}
    for line in (HERE / "lowest-constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[name.strip()] = version.strip()
    return out


def main() -> int:
    wrong = []
    for name, version in pinned().items():
        have = metadata.version(name)
        if have != version:
            wrong.append(f"{name}: {have} installed, {version} wanted")
        else:
            print(f"{name}=={have}")
    for line in wrong:
        print(f"error: {line}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
