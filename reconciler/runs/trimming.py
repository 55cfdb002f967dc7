"""Live step objects as a full pass holds them: without pod templates or ``managedFields``.

A settled environment's live objects are mostly the step objects of finished runs (three
Jobs per pipeline of three steps: 30,000 at 10,000 pipelines), and most of a decoded Job
is what no pass reads of it: its pod template and its ``managedFields``. A step object is
frozen once live (the sync never sends nor compares it: see
:func:`reconciler.engine.stages.sync`); what a pass reads of it is its identity, labels,
annotations, a Job's ``spec.suspend`` and ``status`` (health, run tracking, prune). Only
recording a finished run reads a template (the step's image, resources and env):
:func:`is_trimmed` tells the tracker to read that object again, whole, first (one GET per
step of a run that has just finished); one deleted since it was listed gets the templates
its run's spec renders for it (:func:`with_templates_of`).

:data:`STEP_TRIM` (:func:`trim`, and :func:`decode_job_page` for pages of Jobs) is what the
engine hands the manager for the members a full pass lists (the live cache then holds them
so too: the full pass is their only reader); :func:`trim_pod` for the Pods run tracking
lists when a run has finished.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.cluster import pages
from reconciler.structs import labels
from reconciler.structs.manifests import Manifest, group_kind_of

TEMPLATED_KINDS = {("batch", "Job"), ("kubeflow.org", "PyTorchJob")}
"""``(group, kind)`` of the step objects that carry pod templates (a TrainJob's trainer is
small and is what its record reads: it is kept)."""


JOB_SPEC_READ = frozenset({"suspend"})
"""The ``spec`` fields a trimmed Job keeps: health and the step phase read ``suspend``;
nothing else of a Job's ``spec`` outside its template is read (its selector, completions,
backoff limit: 0.7 KiB of the 4.7 KiB a trimmed Job is held in)."""


def trim(obj: Manifest) -> Manifest:
    """Drop a live step object's pod templates and ``managedFields``; return ``obj``.

    A Job keeps only the ``spec`` fields :data:`JOB_SPEC_READ` names; a PyTorchJob its
    replicas' other fields and its run policy.

    Mutates ``obj`` (a freshly decoded list item nobody else holds). Anything that is not a
    step object (no ``reconciler.ml/step`` label), or is not a Job or PyTorchJob, is left as
    it is; so is a malformed one (``spec`` not a mapping).
    """
    spec = _templated_spec(obj)
    if spec is None:
        return obj
    obj["metadata"].pop("managedFields", None)
    if obj.get("kind") == "Job":
        obj["spec"] = {k: v for k, v in spec.items() if k in JOB_SPEC_READ}
        return obj
    for holder in _template_holders(obj, spec):
        holder.pop("template", None)
    return obj


def trim_pod(pod: Manifest) -> Manifest:
    """Drop a listed Pod's ``spec`` and ``managedFields``; return ``pod`` (mutated).

    Recording a run reads of its pods only their labels (which step object owns them, which
    one is a PyTorchJob's master), ``creationTimestamp`` and ``status`` (the termination
    message, the image's digest); a full pass lists every Pod of the namespace when a run
    has finished (three per pipeline in a settled environment).
    """
    meta = pod.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    pod.pop("spec", None)
    return pod


def is_trimmed(obj: Manifest) -> bool:
    """True if ``obj`` is a step object without the pod template its kind always has.

    The API requires a Job's ``spec.template`` (and a PyTorchJob replica's), so a missing
    one means :func:`trim` dropped it.
    """
    spec = _templated_spec(obj)
    return spec is not None and any("template" not in h for h in _template_holders(obj, spec))


def with_templates_of(trimmed: Manifest, rendered: Manifest) -> Manifest:
    """Return a copy of the trimmed step object with the pod templates of ``rendered``.

    For a step object deleted between the list that trimmed it and the read that would have
    made it whole again: ``rendered`` is the same object rendered from its run's spec (what
    it was created from: its name carries the run id, a hash of those inputs), so its
    templates are the ones the object had. ``trimmed`` itself is returned, unchanged, when
    ``rendered`` is not that object (another kind, name or namespace) or lacks a template
    ``trimmed`` misses. Neither argument is modified.
    """
    meta, other = trimmed.get("metadata") or {}, rendered.get("metadata") or {}
    if (trimmed.get("kind"), meta.get("name"), meta.get("namespace")) != (
        rendered.get("kind"),
        other.get("name"),
        other.get("namespace"),
    ):
        return trimmed
    spec, source = _templated_spec(trimmed), rendered.get("spec")
    if spec is None or not isinstance(source, dict):
        return trimmed
    out_spec = dict(spec)
    if trimmed.get("kind") == "Job":
        if "template" not in source:
            return trimmed
        out_spec["template"] = source["template"]
    else:
        replicas, from_replicas = spec.get("pytorchReplicaSpecs"), source.get("pytorchReplicaSpecs")
        if not isinstance(replicas, dict) or not isinstance(from_replicas, dict):
            return trimmed
        filled = {}
        for role, replica in replicas.items():
            template = (from_replicas.get(role) or {}).get("template")
            if not isinstance(replica, dict) or template is None:
                return trimmed
            filled[role] = {**replica, "template": template}
        out_spec["pytorchReplicaSpecs"] = filled
    return {**trimmed, "spec": out_spec}


def _templated_spec(obj: Manifest) -> dict[str, Any] | None:
    """Return the ``spec`` of a step object whose kind carries pod templates, else None
    (not a step object, another kind, or a ``metadata``/``spec`` that is not a mapping)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or labels.STEP not in (meta.get("labels") or {}):
        return None
    if group_kind_of(obj) not in TEMPLATED_KINDS:
        return None
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else None


def _template_holders(obj: Manifest, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the mappings that hold the object's pod templates (the spec, or its replicas)."""
    if obj.get("kind") == "Job":
        return [spec]
    replicas = spec.get("pytorchReplicaSpecs")
    if not isinstance(replicas, dict):
        return []
    return [r for r in replicas.values() if isinstance(r, dict)]


# -- pages of Jobs, parsed trimmed ----------------------------------------------------------


def decode_job_page(raw: bytes) -> dict[str, Any]:
    """Parse a page of a Job list with each step Job as :func:`trim` would leave it.

    Returns what ``json.loads`` returns (``apiVersion``, ``kind``, ``metadata``, ``items``)
    but builds no pod template and no ``managedFields`` of a step Job: they are skipped
    while parsing (:mod:`reconciler.cluster.pages`; about a third of the time of parsing
    the page whole, and a fraction of its memory). An item that is not a step Job, or that
    :func:`~reconciler.cluster.pages.partial` refuses, is parsed whole (:func:`trim` leaves
    such items as they are, or trims them after). Raises ``ValueError`` for a body that is
    not a list.
    """
    return pages.parse_page(raw, _job_item)


def _job_item(raw: Any) -> Any:
    job = pages.partial(raw, JOB_SPEC_READ)
    if job is None or labels.STEP not in _labels_of(job):
        return pages.whole(raw)  # not a step Job: trim leaves it whole
    return job


def _labels_of(obj: Manifest) -> dict[str, Any]:
    found = obj["metadata"].get("labels")
    return found if isinstance(found, dict) else {}


class _StepTrim:
    """:func:`trim`, with :func:`decode_job_page` for pages of Jobs (see ``Trimmed``)."""

    pages: Mapping[tuple[str, str], Callable[[bytes], Any]] = {("batch", "Job"): decode_job_page}

    def __call__(self, obj: Manifest, /) -> Manifest:
        return trim(obj)


STEP_TRIM = _StepTrim()
"""What a full pass lists its members with: :func:`trim`, pages of Jobs parsed trimmed."""
