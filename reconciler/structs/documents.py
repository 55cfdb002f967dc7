"""YAML text of manifests: one place that dumps objects the way every command prints them."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any


def dump_yaml_documents(docs: Iterable[Any]) -> str:
    """Return a multi-document YAML string (block style, keys in insertion order)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    buf = io.StringIO()
    yaml.dump_all(list(docs), buf)
    return buf.getvalue()
