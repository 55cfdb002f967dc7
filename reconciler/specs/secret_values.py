"""Spec check: no literal value in a Pipeline's spec may look like a credential.

Called by :func:`reconciler.specs.validation.parse_pipeline` on every pipeline (after the
overlay's patches), with the cross-field rules. The name check (``env: {WANDB_API_KEY: ...}``) lives in validation;
this one reads the values: every string under ``spec`` (env values, params, args,
command, URIs) is matched by :func:`reconciler.structs.secrets.find_secret` (token
prefixes, URLs with a password, long random strings). The error names the field and the
kind of credential, never the value.

Escape hatch: a value that only looks like a secret (a public dataset key, a long random
seed) is allowed when its key (env var, param name; for a list such as ``args``, the list's
key) is named in ``metadata.annotations["reconciler.ml/not-secret"]``, comma-separated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from reconciler.specs.loading import join_field
from reconciler.structs import secrets


def check(doc: Any, report: Callable[[str, str], None]) -> None:
    """Report every credential-looking string under ``doc["spec"]`` (a plain document)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("spec"), dict):
        return
    meta = doc.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    allowed = secrets.not_secret_names(annotations if isinstance(annotations, dict) else None)
    for field, key, text in _strings(doc["spec"], "spec", ""):
        kind = secrets.find_secret(text)
        if kind and key not in allowed:
            report(
                field,
                f"looks like {kind}: keep credentials in a Secret (secretEnv), or, if it is "
                f"not one, name {key!r} in metadata.annotations"
                f'["{secrets.NOT_SECRET_ANNOTATION}"]',
            )


def _strings(value: Any, field: str, key: str) -> Iterator[tuple[str, str, str]]:
    """Yield ``(field path, owning key, text)`` for every string leaf."""
    if isinstance(value, str):
        yield field, key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, join_field(field, str(k)), str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, join_field(field, i), key)
