"""Benchmark: round-trip YAML loading (with positions) against the safe loader.

Run with ``pytest tests/bench -m bench -s``; prints seconds per MiB, asserts nothing timed.
"""

from __future__ import annotations

import io
import time

import pytest
from ruamel.yaml import YAML

from reconciler.specs import loading, validation
from tests.specs.samples import PIPELINE


@pytest.mark.bench
def test_loading_speed() -> None:
    stream = ("---\n" + PIPELINE) * 1000
    size = len(stream.encode())
    t0 = time.perf_counter()
    docs = loading.load_documents(stream.encode(), path="out.yaml", max_bytes=size)
    t_rt = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = list(YAML(typ="safe", pure=True).load_all(io.StringIO(stream)))
    t_safe = time.perf_counter() - t0
    t0 = time.perf_counter()
    for d in docs:
        validation.parse_pipeline(d, path="p.yaml", sha256="")
    t_validate = time.perf_counter() - t0
    mib = size / (1 << 20)
    print(
        f"\n{len(docs)} documents, {mib:.2f} MiB: load_documents {t_rt / mib:.2f} s/MiB, "
        f"ruamel safe (pure) {t_safe / mib:.2f} s/MiB, "
        f"parse_pipeline {1000 * t_validate / len(docs):.2f} ms/document"
    )
    assert len(docs) == len(plain) == 1000
