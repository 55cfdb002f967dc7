"""A full pass holds step objects trimmed, and records finished runs from them read whole.

A settled environment's live objects are mostly finished step Jobs, and most of a Job is
its pod template and ``managedFields``, which no pass reads: the full pass drops them as
each page is decoded (``reconciler.runs.trimming``). Recording a run reads its step
objects again, whole, so its record still names each step's image and resources.
Real git, the example repository and the sandbox over HTTP.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from kubernetes import client

from reconciler import engine
from reconciler.engine import preparing, sources, stages
from reconciler.runs import trimming
from reconciler.structs import labels
from reconciler.structs.manifests import Manifest, ObjectRef
from tests.chaos import support
from tests.workflows.world import GOOD, NS, make_world

JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {
        "name": "p-r-train",
        "labels": {labels.STEP: "train", labels.PIPELINE: "p"},
        "managedFields": [{"manager": "reconciler", "fieldsV1": {"f:spec": {}}}],
    },
    "spec": {"backoffLimit": 2, "suspend": False, "template": {"spec": {"containers": []}}},
    "status": {"conditions": [{"type": "Complete", "status": "True"}]},
}


def all_recorded(out: engine.Outcome) -> bool:
    return all(p.status in ("Succeeded", "Failed", "Cancelled") for p in out.pipelines)


def test_a_step_job_keeps_only_what_a_pass_reads_suspend_labels_and_status() -> None:
    job = copy.deepcopy(JOB)
    assert not trimming.is_trimmed(job)
    assert trimming.trim(job) is job
    assert trimming.is_trimmed(job)
    assert job["spec"] == {"suspend": False}  # no template, no backoffLimit
    assert "managedFields" not in job["metadata"]
    assert job["metadata"]["labels"] == JOB["metadata"]["labels"]
    assert job["status"] == JOB["status"]


def test_a_pytorchjob_loses_every_replicas_template() -> None:
    job: Manifest = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "p-r-train", "labels": {labels.STEP: "train"}},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": {"spec": {}}},
                "Worker": {"replicas": 2, "template": {"spec": {}}},
            }
        },
    }
    trimming.trim(job)
    assert job["spec"]["pytorchReplicaSpecs"] == {
        "Master": {"replicas": 1},
        "Worker": {"replicas": 2},
    }
    assert trimming.is_trimmed(job)


def test_what_is_no_templated_step_object_is_left_as_it_is() -> None:
    plain = copy.deepcopy(JOB)
    del plain["metadata"]["labels"][labels.STEP]  # a Job of the overlay's own, not a step
    trainjob = copy.deepcopy(JOB)
    trainjob.update(apiVersion="trainer.kubeflow.org/v1alpha1", kind="TrainJob")
    deployment = copy.deepcopy(JOB)
    deployment.update(apiVersion="apps/v1", kind="Deployment")
    malformed = copy.deepcopy(JOB)
    malformed["spec"] = "not a mapping"
    for obj in (plain, trainjob, deployment, malformed):
        before = copy.deepcopy(obj)
        assert trimming.trim(obj) == before
        assert not trimming.is_trimmed(obj)


def _item(obj: Manifest) -> Manifest:
    """``obj`` as a list's item: no apiVersion or kind."""
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


def _typed_trimmed(item: Manifest) -> Manifest:
    return trimming.trim({"apiVersion": "batch/v1", "kind": "Job", **copy.deepcopy(item)})


def test_a_page_of_jobs_is_parsed_as_trim_would_leave_each_item() -> None:
    step = _item(JOB)
    no_status = _item(JOB) | {"status": None}
    plain = copy.deepcopy(step)  # not a step: whole, managedFields and template included
    del plain["metadata"]["labels"][labels.STEP]
    newer = copy.deepcopy(step)  # a metadata field this code does not know: parsed whole
    newer["metadata"]["someNewField"] = {"x": 1}
    top = copy.deepcopy(step) | {"extra": [1, 2]}  # likewise at the top
    malformed = copy.deepcopy(step) | {"spec": "not a mapping"}
    no_spec = {k: v for k, v in step.items() if k != "spec"}
    unicode = copy.deepcopy(step)
    unicode["metadata"]["annotations"] = {"note": "caf\u00e9 \u2603", "n": "1e400"}
    items = [step, no_status, plain, newer, top, malformed, no_spec, unicode]
    page = {
        "kind": "JobList",
        "apiVersion": "batch/v1",
        "metadata": {"resourceVersion": "42", "continue": "abc"},
        "items": items,
    }
    raw = json.dumps(page).encode()
    got = trimming.decode_job_page(raw)
    assert {k: v for k, v in got.items() if k != "items"} == {
        k: v for k, v in page.items() if k != "items"
    }
    assert len(got["items"]) == len(items)
    for before, after in zip(items, got["items"], strict=True):
        assert _typed_trimmed(after) == _typed_trimmed(before), before["metadata"]
    # What is a step Job comes without what trim drops; the rest exactly as sent.
    assert got["items"][0] == {k: v for k, v in _typed_trimmed(step).items() if k in step}
    assert "managedFields" not in got["items"][0]["metadata"]
    assert got["items"][2] == plain and got["items"][3] == newer and got["items"][4] == top
    assert got["items"][5] == malformed and got["items"][6] == no_spec
    assert trimming.decode_job_page(b'{"items": null}')["items"] == []


def test_a_body_that_is_no_list_is_a_value_error() -> None:
    for raw in (b"[1, 2]", b"not json", b'{"items": 3}'):
        try:
            trimming.decode_job_page(raw)
        except ValueError:
            continue
        raise AssertionError(f"{raw!r} was parsed")


def test_a_pod_keeps_its_labels_and_status_for_the_record() -> None:
    pod: Manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p-r-train-x1",
            "labels": {"job-name": "p-r-train"},
            "creationTimestamp": "2026-12-03T10:00:00Z",
            "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}],
        },
        "spec": {"containers": [{"name": "step", "image": "train:1"}]},
        "status": {"containerStatuses": [{"state": {"terminated": {"message": "{}"}}}]},
    }
    status_before = copy.deepcopy(pod["status"])
    assert trimming.trim_pod(pod) is pod
    assert set(pod) == {"apiVersion", "kind", "metadata", "status"}
    assert pod["metadata"] == {
        "name": "p-r-train-x1",
        "labels": {"job-name": "p-r-train"},
        "creationTimestamp": "2026-12-03T10:00:00Z",
    }
    assert pod["status"] == status_before


def test_a_full_pass_lists_steps_trimmed_and_records_their_images(
    tmp_path: Path, sandbox: Any
) -> None:
    world = make_world(tmp_path, sandbox)
    world.outcomes(GOOD)
    first = world.reconcile()
    runs = {p.name: p.run for p in first.pipelines}

    world.until(all_recorded)

    # Each step's record names the image and resources of its object's template.
    batch = client.BatchV1Api(world.api)
    for pipeline, steps in (
        ("fraud-detector", ["prepare", "train", "evaluate"]),
        ("llm-finetune", ["train"]),
    ):
        run = runs[pipeline]
        record = world.origin_record(f"experiments/{pipeline}", f"runs/dev/{pipeline}/{run}.yaml")
        assert [s.name for s in record.steps] == steps
        for step in record.steps:
            job = batch.read_namespaced_job(f"{pipeline}-{run}-{step.name}", NS)
            container = next(c for c in job.spec.template.spec.containers if c.name == "step")
            assert step.image == container.image and step.image
            assert step.resources and step.resources == world.api.sanitize_for_serialization(
                container.resources
            )
    resnet = world.origin_record(
        "experiments/resnet50", f"runs/dev/resnet50/{runs['resnet50']}.yaml"
    )
    train = next(s for s in resnet.steps if s.name == "train")  # a PyTorchJob's master
    assert train.image == "registry.example.com/vision/resnet-train:1.4.2"

    # What the full pass lists of them is trimmed; a plain list is whole.
    source = sources.resolve_source(world.ctx.repo, "dev", None, None)
    prepared = preparing.prepare(world.ctx, source, "dev")
    manager = world.ctx.manager_for(None)
    live = stages.list_live(manager, prepared)
    steps = [o for o in live.values() if stages.is_step_object(o)]
    assert {o["kind"] for o in steps} == {"Job", "PyTorchJob"}
    assert all(trimming.is_trimmed(o) for o in steps)
    assert all("managedFields" not in o["metadata"] for o in steps)
    # Pages of Jobs parsed trimmed (never built whole) hold what trimming each item gives.
    with_pages = manager.list("batch/v1", "Job", namespace=NS, trim=trimming.STEP_TRIM)
    each = manager.list("batch/v1", "Job", namespace=NS, trim=trimming.trim)
    assert len(with_pages) == len(each) >= 4 and with_pages == each
    assert all("template" in o["spec"] for o in manager.list("batch/v1", "Job", namespace=NS))
    # And the no-op pass over them writes nothing and records nothing again.
    writes = world.writes()
    again = world.reconcile()
    assert not again.records and again.changeset.counts()["unchanged"] >= len(steps)
    assert world.writes() == writes


def test_a_trimmed_step_gets_back_the_templates_of_the_same_object_rendered() -> None:
    trimmed = copy.deepcopy(JOB)
    trimmed["metadata"]["namespace"] = NS
    trimming.trim(trimmed)
    rendered = copy.deepcopy(JOB)
    rendered["metadata"]["namespace"] = NS
    template = {"spec": {"containers": [{"name": "step", "image": "train:2"}]}}
    rendered["spec"]["template"] = template
    before = copy.deepcopy(trimmed)
    whole = trimming.with_templates_of(trimmed, rendered)
    assert whole["spec"]["template"] == template and not trimming.is_trimmed(whole)
    assert whole["status"] == trimmed["status"] and whole["spec"]["suspend"] is False
    assert trimmed == before  # neither argument is modified
    other = copy.deepcopy(rendered)
    other["metadata"]["name"] = "p-r2-train"  # another run's object: not its template
    assert trimming.with_templates_of(trimmed, other) is trimmed
    torch = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "p-r-train", "namespace": NS, "labels": {labels.STEP: "train"}},
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1}, "Worker": {"replicas": 2}}},
    }
    rendered_torch = copy.deepcopy(torch)
    for role in ("Master", "Worker"):
        rendered_torch["spec"]["pytorchReplicaSpecs"][role]["template"] = {"role": role}
    whole_torch = trimming.with_templates_of(torch, rendered_torch)
    assert whole_torch["spec"]["pytorchReplicaSpecs"]["Worker"] == {
        "replicas": 2,
        "template": {"role": "Worker"},
    }
    del rendered_torch["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]
    assert trimming.with_templates_of(torch, rendered_torch) is torch


def test_a_step_deleted_between_the_list_and_its_record_is_recorded_with_its_image(
    tmp_path: Path, sandbox: Any
) -> None:
    """The full pass lists a finished step trimmed; by the time its run is recorded the Job
    is gone (deleted by hand, a TTL): the record still names the image and resources its
    run's spec gave it."""
    world = make_world(tmp_path, sandbox)
    world.outcomes(GOOD)
    first = world.reconcile()
    run = next(p.run for p in first.pipelines if p.name == "llm-finetune")
    name = f"llm-finetune-{run}-train"
    batch = client.BatchV1Api(world.api)

    def complete() -> bool:
        conditions = batch.read_namespaced_job_status(name, NS).status.conditions or []
        return any(c.type == "Complete" and c.status == "True" for c in conditions)

    assert support.wait_for(complete, 60)
    job = batch.read_namespaced_job(name, NS)
    container = next(c for c in job.spec.template.spec.containers if c.name == "step")
    source = sources.resolve_source(world.ctx.repo, "dev", None, None)
    prepared = preparing.prepare(world.ctx, source, "dev")
    manager = world.ctx.manager_for(None)
    live = stages.list_live(manager, prepared)
    listed = next(o for o in live.values() if o["metadata"]["name"] == name)
    assert trimming.is_trimmed(listed)
    batch.delete_namespaced_job(name, NS, propagation_policy="Background")
    assert support.wait_for(lambda: manager.get(ObjectRef.of(listed)) is None, 30)

    tracked = stages.track_runs(world.ctx, manager, source, prepared, live, dry_run=False)

    path = f"runs/dev/llm-finetune/{run}.yaml"
    assert path in tracked.records, tracked
    record = world.origin_record("experiments/llm-finetune", path)
    (step,) = record.steps
    assert step.name == "train" and step.image == container.image and step.image
    assert step.resources == world.api.sanitize_for_serialization(container.resources)
