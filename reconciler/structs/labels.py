"""Label and annotation keys the reconciler sets and reads (design.md, "Runs" and "Applying")."""

from __future__ import annotations

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "reconciler"
FIELD_MANAGER = "reconciler"

ENV = "reconciler.ml/env"
PIPELINE = "reconciler.ml/pipeline"
RUN = "reconciler.ml/run"
STEP = "reconciler.ml/step"
MODEL = "reconciler.ml/model"
"""Annotation on the serving object: the model URI it serves."""
ATTEMPT = "reconciler.ml/attempt"
COMMIT = "reconciler.ml/commit"
BRANCH = "reconciler.ml/branch"
"""Annotation on a branch environment's Namespace: the branch that owns it."""
SPEC_HASH = "reconciler.ml/applied-hash"
"""Annotation: hash of the desired state last applied, to skip unchanged objects."""

# ApplySet (KEP-3659)
APPLYSET_PART_OF = "applyset.kubernetes.io/part-of"
APPLYSET_ID = "applyset.kubernetes.io/id"
APPLYSET_TOOLING = "applyset.kubernetes.io/tooling"
APPLYSET_CONTAINS_GROUP_KINDS = "applyset.kubernetes.io/contains-group-kinds"
APPLYSET_ADDITIONAL_NAMESPACES = "applyset.kubernetes.io/additional-namespaces"

QUEUE_NAME = "kueue.x-k8s.io/queue-name"
