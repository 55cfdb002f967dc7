"""Parsed and printed documents: plain data out of a YAML parser, and YAML text of manifests.

:func:`plain` is the one conversion of parsed YAML (ruamel's commented maps and sequences)
into the plain dicts and lists every layer works with; :func:`dump_yaml_documents` prints
objects the way every command does.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any


def plain(obj: Any) -> Any:
    """Return parsed YAML as plain dicts (keys as ``str``) and lists; scalars as they are."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj


def dump_yaml_documents(docs: Iterable[Any]) -> str:
    """Return a multi-document YAML string (block style, keys in insertion order)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    buf = io.StringIO()
    yaml.dump_all(list(docs), buf)
    return buf.getvalue()
