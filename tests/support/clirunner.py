"""A click CliRunner that keeps stderr apart on every supported click (8.1 and later).

click 8.2 separates ``result.stderr`` always; 8.1 only with ``mix_stderr=False`` (a
parameter 8.2 removed). ``result.output`` is stdout and stderr together from 8.2, stdout
alone on 8.1: tests read ``result.stdout`` and ``result.stderr``.
"""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner


def cli_runner(**kwargs: Any) -> CliRunner:
    """Return a CliRunner whose results have ``stdout`` and ``stderr`` apart."""
    try:
        return CliRunner(mix_stderr=False, **kwargs)  # type: ignore[call-arg]
    except TypeError:  # click >= 8.2: always apart
        return CliRunner(**kwargs)
