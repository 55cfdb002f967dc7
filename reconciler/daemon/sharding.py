"""Controller sharding: ``--shard I/N`` reconciles only the keys that hash to shard I.

Used by :mod:`reconciler.daemon.loop` to filter the targets. Like Argo CD's controller
sharding, N daemons (each with its own leader lease, see :func:`lease_name_for`) split
the environments between them; every process computes the same assignment because the
hash is stable (SHA-256 of the work-item key, never Python's randomized ``hash``).

The key hashed is the whole work item (``"exp@exp/lr-sweep"``), so the branches of a
pattern environment spread over the shards like any other environments.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based); ``Shard(0, 1)`` owns everything."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: expected 0 <= I < N")

    def owns(self, key: str) -> bool:
        """Return True if ``key`` belongs to this shard."""
        return self.count == 1 or shard_of(key, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(key: str, count: int) -> int:
    """Return the shard (``0 .. count-1``) ``key`` belongs to."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(text: str) -> Shard:
    """Parse ``--shard I/N`` (``"0/3"``); raise ValueError with the expected form otherwise."""
    index_text, sep, count_text = text.partition("/")
    try:
        if not sep:
            raise ValueError
        return Shard(int(index_text), int(count_text))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/3") from None


_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def lease_name_for(base: str, shard: Shard, envs: Iterable[str] = ()) -> str:
    """Return the leader lease of a shard and an ``--env`` selection.

    ``base`` for every environment unsharded, ``base-shard-I-of-N`` for a shard; an
    ``--env`` selection adds its names (``base-dev-prod``), or a hash of them when they are
    not plain DNS labels or too long: daemons that split the environments by ``--env``
    each hold their own lease, as shards do.
    """
    name = base if shard.count == 1 else f"{base}-shard-{shard.index}-of-{shard.count}"
    chosen = sorted(set(envs))
    if not chosen:
        return name
    joined = "-".join(chosen)
    if all(_LABEL.match(e) for e in chosen) and len(name) + len(joined) < 63:
        return f"{name}-{joined}"
    digest = hashlib.sha256(",".join(chosen).encode("utf-8")).hexdigest()[:10]
    return f"{name}-envs-{digest}"
