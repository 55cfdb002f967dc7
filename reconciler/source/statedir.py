"""Where the reconciler keeps what it derives: Git mirrors, content caches, the provenance outbox.

One function, :func:`default_state_dir`, used by every command and by the daemon, so that
``RECONCILER_STATE_DIR`` means the same everywhere: two daemons given different values
share no mirror, cache or outbox (two processes building one mirror at once would race).
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "reconciler"


def default_state_dir() -> Path:
    """Return ``RECONCILER_STATE_DIR`` if set (``~`` expanded), else the user's cache
    directory for ``reconciler`` (``~/.cache/reconciler`` on Linux)."""
    env = os.environ.get("RECONCILER_STATE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
