"""Benchmarks of the sandbox API server.

Run: ``pytest tests/bench/bench_sandbox.py -m bench -s``. Prints figures; asserts only
that the work was done (never a time). Targets on a 2-core machine: 1,000 objects in one
``kubectl apply --server-side`` under 10 s; a label-selected list out of 3,000 objects
under 0.2 s.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from reconciler.sandbox import Sandbox
from reconciler.sandbox.handlers import Params
from tests.conftest import kubectl_binary

pytestmark = pytest.mark.bench


def _configmaps(n: int, ns: str) -> str:
    docs = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"cm-{i:05d}",
                "namespace": ns,
                "labels": {"app": "bench", "shard": str(i % 10)},
            },
            "data": {"index": str(i), "payload": "x" * 64},
        }
        for i in range(n)
    ]
    return yaml.safe_dump_all(docs)


def test_bench_kubectl_apply_1000(tmp_path: Path) -> None:
    with Sandbox(step_delay=0.5) as sb:
        kubeconfig = sb.write_kubeconfig(tmp_path / "kc")
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}
        manifest = _configmaps(1000, "default")
        times = []
        for attempt in ("create", "no-op"):
            start = time.perf_counter()
            proc = subprocess.run(
                [kubectl_binary(), "apply", "--server-side", "-f", "-"],
                input=manifest,
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
            took = time.perf_counter() - start
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.count("serverside-applied") == 1000
            times.append(took)
            print(f"\nkubectl apply --server-side of 1,000 ConfigMaps ({attempt}): {took:.2f} s")
        assert len(sb.store.list("configmaps", "default")) == 1000


def test_bench_list_3000_with_label_selector(tmp_path: Path) -> None:
    with Sandbox(step_delay=0.5) as sb:
        rt = sb.registry.get("", "v1", "configmaps")
        assert rt is not None
        for doc in yaml.safe_load_all(_configmaps(3000, "default")):
            sb.api.create(rt, "default", doc, Params(user_agent="bench"))
        for selector, expected in (("shard%3D3", 300), ("app%3Dbench", 3000)):
            url = f"{sb.url}/api/v1/namespaces/default/configmaps?labelSelector={selector}"
            samples = []
            for _ in range(10):
                start = time.perf_counter()
                with urllib.request.urlopen(url) as resp:
                    body = json.loads(resp.read())
                samples.append(time.perf_counter() - start)
                assert len(body["items"]) == expected
            print(
                f"\nlist of 3,000 ConfigMaps, labelSelector={selector.replace('%3D', '=')} "
                f"({expected} items): median {statistics.median(samples) * 1000:.1f} ms, "
                f"max {max(samples) * 1000:.1f} ms"
            )
