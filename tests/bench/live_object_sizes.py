"""Measure what listed live objects cost in memory, kind by kind, as the reconciler holds them.

Not a test: a measuring tool for a settled environment (``BENCH_HOLD=<file>`` in
bench_sync.py keeps its sandbox), or any cluster. For each kind of the environment's
ApplySet it lists the members once and prints, per object: the JSON the server sent, the
share of it that is ``managedFields``, the Python objects of the decoded JSON as they come
(tracemalloc), as a full pass holds them (:meth:`ResourceManager.list_resource` with the
engine's trim: step objects without pod templates or ``managedFields``,
:mod:`reconciler.runs.trimming`; every list's ``managedFields`` compacted:
:func:`reconciler.apply.fields.compact_managed_fields`), and as the daemon's live cache
holds them (the same, built here without the manager: the two columns should agree), and
as a full pass holds a member its in-sync memo knows (``in sync``: a thin copy,
:mod:`reconciler.apply.thin_copies`; this tool's manager has no memo, so the thin copies
are made here)::

    python tests/bench/live_object_sizes.py --kubeconfig <kubeconfig> --namespace bench-dev
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from kubernetes import config

from reconciler.apply import fields, thin_copies
from reconciler.apply.manager import ResourceManager
from reconciler.cluster import api
from reconciler.runs import trimming
from reconciler.structs import labels


def traced(make: Callable[[], list[Any]]) -> tuple[int, list[Any]]:
    """Return the bytes of Python objects ``make`` leaves alive, and what it made."""
    gc.collect()
    tracemalloc.start()
    made = make()
    gc.collect()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size, made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    args = parser.parse_args()
    client = config.new_client_from_config(config_file=args.kubeconfig)
    manager = ResourceManager(client)
    selector = f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"
    parents = manager.list(
        "v1", "ConfigMap", namespace=args.namespace, label_selector=labels.APPLYSET_ID
    )
    kinds = sorted(
        {
            (group, kind)
            for parent in parents
            for entry in parent["metadata"]["annotations"][
                labels.APPLYSET_CONTAINS_GROUP_KINDS
            ].split(",")
            if entry
            for kind, _, group in [entry.partition(".")]
        }
    )
    total = {"objects": 0, "json": 0, "decoded": 0, "held": 0, "cached": 0, "thin": 0}
    print(
        f"{'kind':36} {'objects':>8} {'JSON':>8} {'managedFields':>14} {'decoded':>9} "
        f"{'one pass':>9} {'cached':>9} {'in sync':>9}"
    )
    for group, kind in kinds:
        resource = manager.discovery.resource_for_group_kind(group, kind)
        if not resource.namespaced:
            continue
        path = resource.path(args.namespace)
        data = api.call(client, "GET", path, query=[("labelSelector", selector)]).data or {}
        raw = json.dumps(data, separators=(",", ":")).encode()
        items = data.get("items") or []
        if not items:
            continue
        n = len(items)
        managed = sum(
            len(json.dumps(i["metadata"].get("managedFields") or [], separators=(",", ":")))
            for i in items
        )
        decoded, _ = traced(lambda: json.loads(raw)["items"])  # noqa: B023
        held, listed = traced(
            lambda: manager.list_resource(
                resource,  # noqa: B023
                namespace=args.namespace,
                label_selector=selector,
                trim=trimming.trim,
            )
        )
        assert len(listed) == n
        cached, _ = traced(
            lambda: [
                fields.compact_managed_fields(
                    trimming.trim(resource.typed(i)),  # noqa: B023
                    labels.FIELD_MANAGER,
                )
                for i in json.loads(raw)["items"]  # noqa: B023
            ]
        )
        thin, _ = traced(
            lambda: [
                thin_copies.thin(trimming.trim(resource.typed(i)))  # noqa: B023
                for i in json.loads(raw)["items"]  # noqa: B023
            ]
        )
        print(
            f"{kind + ('.' + group if group else ''):36} {n:8d} {len(raw) / n:7.0f}B "
            f"{managed / n:13.0f}B {decoded / n / 1024:8.1f}K {held / n / 1024:8.1f}K "
            f"{cached / n / 1024:8.1f}K {thin / n / 1024:8.1f}K"
        )
        for key, value in (
            ("objects", n),
            ("json", len(raw)),
            ("decoded", decoded),
            ("held", held),
            ("cached", cached),
            ("thin", thin),
        ):
            total[key] += value
    n = total["objects"] or 1
    print(
        f"{'all':36} {total['objects']:8d} {total['json'] / n:7.0f}B {'':>14} "
        f"{total['decoded'] / n / 1024:8.1f}K {total['held'] / n / 1024:8.1f}K "
        f"{total['cached'] / n / 1024:8.1f}K {total['thin'] / n / 1024:8.1f}K   "
        f"(decoded {total['decoded'] / 2**20:.0f} MiB, one pass {total['held'] / 2**20:.0f} MiB, "
        f"cached {total['cached'] / 2**20:.0f} MiB, in sync {total['thin'] / 2**20:.0f} MiB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
