"""Sharding (stable assignment) and log lines (JSON and text, trace ids per reconcile)."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from reconciler.daemon import logs, sharding


def test_every_key_belongs_to_exactly_one_shard_and_shards_are_balanced() -> None:
    keys = [f"env-{i}" for i in range(1000)] + ["exp@exp/lr-sweep", "prod"]
    picked = [sharding.Shard(i, 4).select(keys) for i in range(4)]
    assert sorted(k for p in picked for k in p) == sorted(keys)  # each exactly once
    assert max(len(p) for p in picked) == 251  # ceil(1002 / 4): no shard holds more
    assert min(len(p) for p in picked) >= 248


def test_three_environments_on_three_shards_are_one_each() -> None:
    # A plain hash put all three on shard 1 (README's benchmark of --shard I/3).
    picked = [sharding.Shard(i, 3).select(["dev", "staging", "prod"]) for i in range(3)]
    assert sorted(len(p) for p in picked) == [1, 1, 1]
    assert sorted(k for p in picked for k in p) == ["dev", "prod", "staging"]


def test_a_new_key_moves_few_others() -> None:
    before = sharding.assign([f"env-{i}" for i in range(300)], 3)
    after = sharding.assign([f"env-{i}" for i in range(301)], 3)
    moved = [k for k in before if before[k] != after[k]]
    assert len(moved) <= 3, moved  # a plain modulo of sorted positions would move ~200


def test_the_assignment_is_stable_across_processes_and_releases() -> None:
    # SHA-256 based, not Python's randomized hash(), independent of the keys' order: these
    # values must never change, or a rolling upgrade would hand environments to two shards.
    keys = ["prod", "canary", "exp@exp/a", "dev", "staging"]
    assert sharding.assign(keys, 3) == sharding.assign(list(reversed(keys)), 3)
    assert sharding.assign(keys, 3) == {
        "prod": 2,
        "canary": 0,
        "staging": 1,
        "dev": 2,
        "exp@exp/a": 0,
    }


def test_parse_shard() -> None:
    assert sharding.parse_shard("2/3") == sharding.Shard(2, 3)
    for bad in ("3/3", "1", "a/b", "-1/2", "0/0"):
        with pytest.raises(ValueError, match="--shard"):
            sharding.parse_shard(bad)


def test_each_shard_has_its_own_lease() -> None:
    assert sharding.lease_name_for("reconciler-leader", sharding.Shard()) == "reconciler-leader"
    assert (
        sharding.lease_name_for("reconciler-leader", sharding.Shard(1, 3))
        == "reconciler-leader-shard-1-of-3"
    )


def test_daemons_split_by_env_each_have_their_own_lease() -> None:
    lease = sharding.lease_name_for
    assert lease("reconciler-leader", sharding.Shard(), ["prod"]) == "reconciler-leader-prod"
    assert lease("reconciler-leader", sharding.Shard(), ["prod", "dev", "prod"]) == (
        "reconciler-leader-dev-prod"
    )
    assert lease("reconciler-leader", sharding.Shard(0, 2), ["dev"]) == (
        "reconciler-leader-shard-0-of-2-dev"
    )
    odd = lease("reconciler-leader", sharding.Shard(), ["exp@exp/lr-sweep"])
    assert (
        odd.startswith("reconciler-leader-envs-")
        and len(odd) == len("reconciler-leader-envs-") + 10
    )
    assert odd != lease("reconciler-leader", sharding.Shard(), ["exp@exp/lr"])


@pytest.fixture
def capture() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    level = logging.getLogger().level
    handler = logs.setup_logging("json", stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(level)


def test_json_lines_carry_env_trace_id_and_extra_fields(capture: io.StringIO) -> None:
    log = logging.getLogger("reconciler.engine")
    with logs.reconcile_context("prod") as trace:
        log.info("applied %d objects", 3, extra={"commit": "0a1b2c3", "run": "resnet50-7f3a"})
    log.warning("outside")
    first, second = (json.loads(line) for line in capture.getvalue().splitlines())
    assert first["msg"] == "applied 3 objects"
    assert first["level"] == "info"
    assert first["logger"] == "reconciler.engine"
    assert (first["env"], first["commit"], first["run"]) == ("prod", "0a1b2c3", "resnet50-7f3a")
    assert first["trace_id"] == trace and len(trace) == 16
    assert first["ts"].endswith("Z")
    assert "env" not in second and "trace_id" not in second


def test_parallel_reconciles_get_their_own_trace_ids(capture: io.StringIO) -> None:
    log = logging.getLogger("reconciler.daemon")
    barrier = threading.Barrier(2)

    def work(env: str) -> None:
        with logs.reconcile_context(env):
            barrier.wait()
            log.info("reconciling")
            barrier.wait()
            log.info("reconciled")

    threads = [threading.Thread(target=work, args=(env,)) for env in ("prod", "staging")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = [json.loads(line) for line in capture.getvalue().splitlines()]
    traces: dict[str, set[str]] = {}
    for line in lines:
        traces.setdefault(line["env"], set()).add(line["trace_id"])
    assert all(len(t) == 1 for t in traces.values())  # one trace per reconcile
    assert traces["prod"] != traces["staging"]


def test_exceptions_are_one_json_line(capture: io.StringIO) -> None:
    try:
        raise RuntimeError("engine bug")
    except RuntimeError:
        logging.getLogger("x").exception("reconcile raised")
    lines = capture.getvalue().splitlines()
    assert len(lines) == 1
    error = json.loads(lines[0])["error"]  # a field, never a raw traceback
    assert (error["type"], error["message"]) == ("RuntimeError", "engine bug")
    assert error["stack"][-1]["function"] == "test_exceptions_are_one_json_line"


def test_text_format_and_replacing_the_handler() -> None:
    stream = io.StringIO()
    level = logging.getLogger().level
    logs.setup_logging("json", stream=io.StringIO())
    handler = logs.setup_logging("text", stream=stream)  # replaces, does not add
    try:
        with logs.reconcile_context("prod", trace_id="abc"):
            logging.getLogger("reconciler.daemon").info("reconciled", extra={"commit": "c0ffee"})
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)
    line = stream.getvalue().strip()
    assert "INFO" in line and "reconciler.daemon: reconciled" in line
    assert line.endswith("env=prod commit=c0ffee trace_id=abc")
    assert sum(h.get_name() == "reconciler" for h in logging.getLogger().handlers) == 0


def test_unknown_log_format() -> None:
    with pytest.raises(ValueError, match="log format"):
        logs.setup_logging("xml")  # type: ignore[arg-type]
