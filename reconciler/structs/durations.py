"""Durations: the one parser of ``30s``, ``5m``, ``1h30m``, ``500ms`` and plain seconds.

Used by the command-line options that take a duration (``sandbox --step-delay``, the
daemon's ``--interval`` and ``--resync``, ``ui --refresh``) and by spec validation, which
first holds a spec's ``timeout`` to its stricter written form (whole ``h``, ``m``, ``s``
units in that order: :func:`reconciler.specs.units.spec_duration`).
"""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, *, allow_zero: bool = False) -> float:
    """Return the seconds of ``30s``, ``5m``, ``1h30m``, ``500ms`` or plain seconds (``45``).

    Raises ValueError naming the value for anything else, for a negative value, and for
    zero unless ``allow_zero``.
    """
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        pos, seconds = 0, 0.0
        for m in _PART.finditer(value):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if pos != len(value) or not value:
            raise ValueError(f"{text!r}: expected a duration like 30s, 5m, 1h30m") from None
    if seconds < 0 or (seconds == 0 and not allow_zero) or seconds != seconds:
        raise ValueError(f"{text!r}: a duration must be positive")
    return seconds
