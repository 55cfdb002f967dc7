"""The daemon's live cache: lists served from memory, kept right by watches, over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconciler.apply import fields
from reconciler.apply.applysets import applyset_for
from reconciler.apply.manager import ResourceManager
from reconciler.apply.sync import SyncOptions, sync_objects
from reconciler.cluster import api, livecache
from reconciler.runs import trimming
from reconciler.structs import labels
from reconciler.structs.changesets import Action
from reconciler.structs.manifests import ObjectRef
from tests.apply import objects
from tests.apply.test_sync import counts, delta, writes

ENV, NS = "dev", "ml-dev"
APPLYSET = applyset_for(ENV, NS)
FAST = api.RetryPolicy(attempts=2, initial=0.01, maximum=0.05, timeout=10)
CM_PATH = f"/api/v1/namespaces/{NS}/configmaps"
JOB_PATH = f"/apis/batch/v1/namespaces/{NS}/jobs"


@pytest.fixture
def cache(sandbox: Any) -> Iterator[livecache.LiveCache]:
    c = livecache.LiveCache(sandbox.api_client(), wait=2.0)
    yield c
    c.close()


@pytest.fixture
def manager(sandbox: Any, cache: livecache.LiveCache) -> ResourceManager:
    return ResourceManager(sandbox.api_client(), retry=FAST, live_cache=cache)


def desired(data: str = "info") -> list[dict[str, Any]]:
    return [
        objects.namespace(NS, ENV),
        objects.configmap("settings", NS, ENV, {"LOG_LEVEL": data}),
        objects.configmap("other", NS, ENV),
        objects.service("resnet", NS, ENV),
    ]


def annotate_as_someone(sandbox: Any, path: str) -> None:
    """Another writer annotates the object at ``path`` (``seen: yes``, a merge patch)."""
    other = ResourceManager(sandbox.api_client(), retry=FAST, field_manager="someone")
    other.call(
        "PATCH",
        path,
        body={"metadata": {"annotations": {"seen": "yes"}}},
        content_type="application/merge-patch+json",
    )


def sync(manager: ResourceManager, objs: list[dict[str, Any]]) -> dict[str, Action]:
    result = sync_objects(manager, applyset=APPLYSET, desired=objs, options=SyncOptions())
    assert result.ok, result.changeset.entries
    return {str(e.subject): e.action for e in result.changeset.entries}


def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_settled_sync_lists_nothing_once_the_cache_holds_its_kinds(
    sandbox: Any, manager: ResourceManager, cache: livecache.LiveCache
) -> None:
    assert set(sync(manager, desired()).values()) == {Action.CREATED}
    sync(manager, desired())  # lists what the first could not (kinds the parent now names)
    before = counts(sandbox)
    again = sync(manager, desired())
    made = delta(before, counts(sandbox))
    assert set(again.values()) == {Action.UNCHANGED}
    assert made.get("LIST", 0) == 0 and writes(made) == 0, made
    assert cache.stats.hits > 0 and cache.size() >= 4


def test_our_own_write_is_what_the_next_pass_reads(
    manager: ResourceManager, cache: livecache.LiveCache
) -> None:
    sync(manager, desired())
    sync(manager, desired())
    changed = sync(manager, desired("debug"))
    assert changed["ConfigMap/ml-dev/settings"] is Action.CONFIGURED
    # At once, before anyone waits: the cache waits for its watch to deliver that write.
    assert set(sync(manager, desired("debug")).values()) == {Action.UNCHANGED}
    held = {o["metadata"]["name"]: o for o in cache.items(CM_PATH, APPLYSET.selector) or []}
    assert held["settings"]["data"] == {"LOG_LEVEL": "debug"}
    # Held between passes, an object keeps our applied fields as JSON text (what the drift
    # check reads, parsed when it runs) and other managers' names without their fields.
    for obj in held.values():
        entries = obj["metadata"]["managedFields"]
        ours = [e for e in entries if e["manager"] == labels.FIELD_MANAGER]
        assert ours and all(isinstance(e["fieldsV1"], str) for e in ours)
        assert all("fieldsV1" not in e for e in entries if e not in ours)
        assert fields.owned_fields(obj, labels.FIELD_MANAGER) == json.loads(ours[0]["fieldsV1"])


def test_a_change_by_someone_else_arrives_by_the_watch_and_is_repaired(
    sandbox: Any, manager: ResourceManager, cache: livecache.LiveCache
) -> None:
    sync(manager, desired())
    sync(manager, desired())
    other = ResourceManager(sandbox.api_client(), retry=FAST, field_manager="someone")
    other.call(
        "PATCH",
        f"{CM_PATH}/settings",
        body={"data": {"LOG_LEVEL": "trace"}},
        content_type="application/merge-patch+json",
    )
    other.call("DELETE", f"{CM_PATH}/other")

    def seen() -> bool:
        held = {o["metadata"]["name"]: o for o in cache.items(CM_PATH, APPLYSET.selector) or []}
        return "other" not in held and held["settings"]["data"]["LOG_LEVEL"] == "trace"

    until(seen)
    repaired = sync(manager, desired())
    assert repaired["ConfigMap/ml-dev/settings"] is Action.CONFIGURED
    assert repaired["ConfigMap/ml-dev/other"] is Action.CREATED
    assert set(sync(manager, desired()).values()) == {Action.UNCHANGED}


def test_a_prune_is_seen_and_the_pruned_object_is_not_served_again(
    manager: ResourceManager, cache: livecache.LiveCache
) -> None:
    sync(manager, desired())
    sync(manager, desired())
    fewer = [o for o in desired() if o["metadata"]["name"] != "other"]
    assert sync(manager, fewer)["ConfigMap/ml-dev/other"] is Action.DELETED
    names = {o["metadata"]["name"] for o in cache.items(CM_PATH, APPLYSET.selector) or []}
    assert names == {"settings"}
    assert "ConfigMap/ml-dev/other" not in sync(manager, fewer)


def test_an_awaited_version_that_never_comes_makes_the_read_list(
    sandbox: Any, cache: livecache.LiveCache
) -> None:
    manager = ResourceManager(
        sandbox.api_client(), retry=FAST, live_cache=livecache.LiveCache(
            sandbox.api_client(), wait=0.3
        ),
    )  # fmt: skip
    sync(manager, desired())
    items = manager.list("v1", "ConfigMap", namespace=NS, label_selector=APPLYSET.selector)
    held = manager.live_cache
    assert held is not None and held.items(CM_PATH, APPLYSET.selector) is not None
    future = dict(items[0], metadata={**items[0]["metadata"], "resourceVersion": "999999999"})
    waits = held.stats.waits
    held.expect_object(f"{CM_PATH}/{items[0]['metadata']['name']}", future)
    assert held.items(CM_PATH, APPLYSET.selector) is None  # waited 0.3 s, then gave up
    assert held.stats.waits == waits + 1
    again = manager.list("v1", "ConfigMap", namespace=NS, label_selector=APPLYSET.selector)
    assert {o["metadata"]["name"] for o in again} == {o["metadata"]["name"] for o in items}
    assert held.items(CM_PATH, APPLYSET.selector) is not None  # seeded again by that list
    held.close()


def test_a_watch_the_server_refuses_drops_its_collection(
    sandbox: Any, cache: livecache.LiveCache
) -> None:
    typed: Callable[[dict[str, Any]], dict[str, Any]] = dict
    assert cache.seed(CM_PATH, "a=b", [], "not-a-version", typed)
    until(lambda: cache.items(CM_PATH, "a=b") is None)
    assert cache.stats.dropped == 1


def test_a_collection_the_server_will_not_watch_is_listed_without_asking_every_pass(
    cache: livecache.LiveCache,
) -> None:
    typed: Callable[[dict[str, Any]], dict[str, Any]] = dict
    unserved = f"/api/v1/namespaces/{NS}/nonesuches"  # 404, as a watch without permission 403
    assert cache.seed(unserved, "a=b", [], "1", typed)
    until(lambda: cache.items(unserved, "a=b") is None)
    assert not cache.seed(unserved, "a=b", [], "1", typed)  # not again for a while
    assert cache.seed(CM_PATH, "a=b", [], "1", typed)  # others still are


def test_what_is_not_cached(cache: livecache.LiveCache) -> None:
    typed: Callable[[dict[str, Any]], dict[str, Any]] = dict
    assert not cache.seed(CM_PATH, "", [], "1", typed)  # unselected: every object of a kind
    assert not cache.seed(CM_PATH, "pipeline in (a,b)", [], "1", typed)
    assert not cache.seed(CM_PATH, "a!=b", [], "1", typed)
    assert not cache.seed(CM_PATH, "a=b", [], "", typed)  # no version to watch from
    small = livecache.LiveCache(cache.client, max_objects=1)
    two = [{"metadata": {"name": n, "namespace": NS}} for n in ("a", "b")]
    assert not small.seed(CM_PATH, "a=b", two, "1", typed)
    assert small.items(CM_PATH, "a=b") is None
    small.close()


def test_a_list_the_cache_does_not_keep_is_compacted_too(sandbox: Any) -> None:
    """Every list is compacted, not only what the cache holds: a pass holds it all at once."""
    small = livecache.LiveCache(sandbox.api_client(), max_objects=1)
    try:
        sync(ResourceManager(sandbox.api_client(), retry=FAST), desired())
        annotate_as_someone(sandbox, f"{CM_PATH}/settings")
        manager = ResourceManager(sandbox.api_client(), retry=FAST, live_cache=small)
        listed = manager.list("v1", "ConfigMap", namespace=NS, label_selector=APPLYSET.selector)
        assert len(listed) >= 2 and small.items(CM_PATH, APPLYSET.selector) is None
        entries = [e for o in listed for e in o["metadata"]["managedFields"]]
        ours = [e for e in entries if e["manager"] == manager.field_manager]
        theirs = [e for e in entries if e["manager"] != manager.field_manager]
        assert len(ours) == len(listed) and all(isinstance(e["fieldsV1"], str) for e in ours)
        assert len(theirs) == 1 and "fieldsV1" not in theirs[0]
    finally:
        small.close()


def test_a_collection_listed_trimmed_is_held_trimmed_its_watch_events_too(
    sandbox: Any, manager: ResourceManager, cache: livecache.LiveCache
) -> None:
    """What the engine's full pass lists of step objects is what the cache holds of them."""
    step = objects.job("p", "r1", "train", NS, ENV)
    sync(ResourceManager(sandbox.api_client(), retry=FAST), [*desired(), step])
    live = manager.list_live(APPLYSET, [("batch", "Job")], trim=trimming.trim)
    assert live.get(("batch", "Job", NS, "p-r1-train")) is not None
    held = cache.items(JOB_PATH, APPLYSET.selector) or []
    assert [o["metadata"]["name"] for o in held] == ["p-r1-train"]
    assert trimming.is_trimmed(held[0]) and "managedFields" not in held[0]["metadata"]
    assert held[0]["spec"] == {"suspend": True}  # what health reads of a Job's spec
    assert held[0]["metadata"]["labels"][labels.STEP] == "train"  # and its identity
    annotate_as_someone(sandbox, f"{JOB_PATH}/p-r1-train")

    def updated() -> bool:
        objs = cache.items(JOB_PATH, APPLYSET.selector) or []
        return bool(objs) and objs[0]["metadata"].get("annotations", {}).get("seen") == "yes"

    until(updated)
    (again,) = cache.items(JOB_PATH, APPLYSET.selector) or []
    assert trimming.is_trimmed(again) and "managedFields" not in again["metadata"]
    # The Job as the API server has it is whole.
    whole = manager.get(ObjectRef.of(step))
    assert whole is not None and not trimming.is_trimmed(whole)


def test_a_collection_watch_events_would_take_past_the_bound_is_dropped(
    sandbox: Any,
) -> None:
    """``max_objects`` holds after seeding too: growth by watch events does not pass it."""
    sync(ResourceManager(sandbox.api_client(), retry=FAST), desired())
    bounded = livecache.LiveCache(sandbox.api_client(), max_objects=2, wait=2.0)
    try:
        manager = ResourceManager(sandbox.api_client(), retry=FAST, live_cache=bounded)
        listed = manager.list("v1", "ConfigMap", namespace=NS, label_selector=APPLYSET.selector)
        assert len(listed) == 2 and bounded.size() == 2  # settings and other: kept
        other = ResourceManager(sandbox.api_client(), retry=FAST, field_manager="someone")
        extra = objects.configmap("third", NS, ENV)
        extra["metadata"]["labels"][labels.APPLYSET_PART_OF] = APPLYSET.id
        other.call("POST", CM_PATH, body=extra)

        until(lambda: bounded.items(CM_PATH, APPLYSET.selector) is None)
        assert bounded.size() == 0 and bounded.stats.dropped == 1
        # Read again: listed from the server (all three), and not kept past the bound.
        again = manager.list("v1", "ConfigMap", namespace=NS, label_selector=APPLYSET.selector)
        assert {o["metadata"]["name"] for o in again} == {"settings", "other", "third"}
        assert bounded.size() == 0
    finally:
        bounded.close()


def test_the_collections_of_a_gone_namespace_are_forgotten(
    manager: ResourceManager, cache: livecache.LiveCache
) -> None:
    sync(manager, desired())
    assert cache.items(CM_PATH, APPLYSET.selector) is not None
    cache.retain_namespaces([NS, "other"])
    assert cache.items(CM_PATH, APPLYSET.selector) is not None
    namespaces = cache.items("/api/v1/namespaces", APPLYSET.selector)
    cache.retain_namespaces(["other"])  # the environment's branch was deleted
    assert cache.items(CM_PATH, APPLYSET.selector) is None
    assert cache.items("/api/v1/namespaces", APPLYSET.selector) == namespaces  # cluster-wide
    assert namespaces is not None and cache.size() == len(namespaces)  # nothing else held


def test_selectors_and_paths() -> None:
    assert livecache.parse_selector("a=b,c=d") == {"a": "b", "c": "d"}
    assert livecache.parse_selector("a==b") is None
    assert livecache.parse_selector("a") is None
    assert livecache.collection_paths("/apis/apps/v1/namespaces/ns/deployments/web") == (
        "/apis/apps/v1/namespaces/ns/deployments",
        "/apis/apps/v1/deployments",
    )
    assert livecache.collection_paths("/api/v1/namespaces/ns/pods/p/status") == (
        "/api/v1/namespaces/ns/pods",
        "/api/v1/pods",
    )
    assert livecache.collection_paths("/api/v1/namespaces/ns") == ("/api/v1/namespaces",)
    assert livecache.collection_paths("/version") == ()
