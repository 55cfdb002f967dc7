"""Where the reconciler keeps what it derives: Git mirrors, content caches, the provenance outbox.

:func:`default_state_dir`, used by every command and by the daemon, so that
``RECONCILER_STATE_DIR`` means the same everywhere: two daemons given different values
share no mirror, cache or outbox (two processes building one mirror at once would race).
:func:`write_json` and :func:`read_json`: how a derived state file (the content caches'
tables, a kept export's ``written.json``) is written and read back.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

APP_NAME = "reconciler"


def default_state_dir() -> Path:
    """Return ``RECONCILER_STATE_DIR`` if set (``~`` expanded), else the user's cache
    directory for ``reconciler`` (``~/.cache/reconciler`` on Linux)."""
    env = os.environ.get("RECONCILER_STATE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` as compact JSON, atomically.

    Written to a temporary file beside it, then renamed: a reader (another process) sees
    the old file or the new one whole, never part of one. Raises OSError (and TypeError for
    data JSON cannot hold); the temporary file is removed then.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path, version: int) -> dict[str, Any] | None:
    """Return the mapping a state file holds if its ``format`` is ``version``.

    None if the file is missing or unreadable, is not a JSON object, or is of another
    version: derived state is derived again, never an error.
    """
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != version:
        return None
    return data
