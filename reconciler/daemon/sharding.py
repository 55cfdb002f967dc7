"""Controller sharding: ``--shard I/N`` reconciles shard I's share of the work items.

Used by :mod:`reconciler.daemon.loop` to filter the targets. Like Argo CD's controller
sharding, N daemons (each with its own leader lease, see :func:`lease_name_for`) split
the environments between them. Every daemon lists the same work items from the same
repository and computes the same assignment (:func:`assign`): rendezvous hashing with
bounded loads. Each key ranks the shards by a stable hash (SHA-256 of key and shard, never
Python's randomized ``hash``) and takes the first that still has room, a shard holding at
most ``ceil(keys / N)``; so three environments on three shards are one each (a plain hash
put ``dev``, ``staging`` and ``prod`` all on shard 1), and adding or removing a key moves
few others.

The key hashed is the whole work item (``"exp@exp/lr-sweep"``), so the branches of a
pattern environment spread over the shards like any other environments. While daemons
disagree about the key set (one has fetched a new branch, the other not yet), a key may
briefly belong to two shards or none: a reconcile is idempotent (server-side apply, runs
named by their inputs, records keyed by run), so two daemons reconciling one environment
for a moment repeat nothing, and the next fetch settles it.
"""

from __future__ import annotations

import hashlib
import math
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

    def select(self, keys: Iterable[str]) -> list[str]:
        """Return the keys of ``keys`` this shard owns, in their order (see :func:`assign`).

        ``keys`` must be every work item the set of daemons shares, not a subset.
        """
        keys = list(keys)
        if self.count == 1:
            return keys
        owner = assign(keys, self.count)
        return [key for key in keys if owner[key] == self.index]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def assign(keys: Iterable[str], count: int) -> dict[str, int]:
    """Return each key's shard (``0 .. count-1``): rendezvous hashing with bounded loads.

    Keys are placed in the order of their own hash (so no name is favoured), each on the
    highest-ranked shard for it (:func:`rank`) that holds fewer than ``ceil(len / count)``
    keys. Deterministic for a given key set, whatever order the keys come in; duplicates
    count once.
    """
    unique = sorted(set(keys), key=lambda key: (_digest(key), key))
    capacity = max(1, math.ceil(len(unique) / count))
    load = [0] * count
    owner: dict[str, int] = {}
    for key in unique:
        shard = next(s for s in rank(key, count) if load[s] < capacity)
        owner[key] = shard
        load[shard] += 1
    return owner


def rank(key: str, count: int) -> list[int]:
    """Return the shards in ``key``'s order of preference (highest rendezvous score first)."""
    return sorted(range(count), key=lambda shard: (_digest(f"{shard}\0{key}"), shard), reverse=True)


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


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
