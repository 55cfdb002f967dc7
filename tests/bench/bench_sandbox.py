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


def _deployment(i: int, image: str) -> dict[str, object]:
    labels = {"app": f"d{i:05d}"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"d{i:05d}", "namespace": "default", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "serve", "image": image}]},
            },
        },
    }


def _rolled_out(sb: Sandbox, key: str) -> int:
    return sum(
        1
        for d in sb.store.values(key)
        if (d.get("status") or {}).get("observedGeneration") == d["metadata"].get("generation")
        and (d.get("status") or {}).get("availableReplicas") == 1
    )


def test_bench_list_while_controllers_work_through_a_burst(tmp_path: Path) -> None:
    """A list served while the simulated controllers work through thousands of writes.

    What a no-op right after a large sync meets: the sync changed every serving object,
    and the controllers (threads of the same interpreter) roll each of them out while the
    no-op lists. Prints the list's time at rest and during the burst, and how long the
    controllers took to bring every Deployment back to rest. ``BENCH_BURST`` Deployments
    (default 3,000) among ``BENCH_AT_REST`` ConfigMaps nothing writes (default 30,000: a
    settled 10,000-pipeline sandbox holds over 100,000 objects, and its loops that walk
    the whole store walk those too).
    """
    count = int(os.environ.get("BENCH_BURST", "3000"))
    resting = int(os.environ.get("BENCH_AT_REST", "30000"))
    with Sandbox(step_delay=0.5) as sb:
        cm_rt = sb.registry.get("", "v1", "configmaps")
        assert cm_rt is not None
        for doc in yaml.safe_load_all(_configmaps(resting, "default")):
            sb.api.create(cm_rt, "default", doc, Params(user_agent="bench"))
        rt = sb.registry.get("apps", "v1", "deployments")
        assert rt is not None
        for i in range(count):
            sb.api.create(rt, "default", _deployment(i, "serve:1"), Params(user_agent="bench"))
        deadline = time.monotonic() + 600
        while _rolled_out(sb, rt.key) < count:
            assert time.monotonic() < deadline, "the Deployments never rolled out"
            time.sleep(0.2)
        url = f"{sb.url}/apis/apps/v1/namespaces/default/deployments"

        def timed_list() -> float:
            start = time.perf_counter()
            with urllib.request.urlopen(url, timeout=600) as resp:
                assert len(json.loads(resp.read())["items"]) == count
            return time.perf_counter() - start

        at_rest = [timed_list() for _ in range(3)]
        burst_started = time.perf_counter()
        patch = json.dumps({"spec": {"template": {"spec": {"containers": [
            {"name": "serve", "image": "serve:2"}]}}}}).encode()  # fmt: skip
        for i in range(count):
            sb.api.patch(
                rt, "default", f"d{i:05d}", "application/strategic-merge-patch+json", patch,
                "", Params(user_agent="bench"),
            )  # fmt: skip
        written = time.perf_counter() - burst_started
        during = []
        while _rolled_out(sb, rt.key) < count:
            during.append(timed_list())
            assert time.perf_counter() - burst_started < 900, "the burst never settled"
        settled = time.perf_counter() - burst_started
        print(
            f"\n{count:,} Deployments among {resting:,} ConfigMaps: list at rest median {statistics.median(at_rest):.3f} s;"
            f" {count:,} template writes {written:.1f} s, then {len(during)} lists while the"
            f" controllers rolled them out: first {during[0] if during else 0:.3f} s,"
            f" max {max(during, default=0):.3f} s; every Deployment at rest"
            f" {settled:.1f} s after the burst began"
        )
