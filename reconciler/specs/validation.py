"""Turn Pipeline and Environment documents into models, or into every error they contain.

Called by render (``render.overlays``) on each pipeline and environment after Kustomize,
by ``reconciler validate`` and by review. Input is a document from
``reconciler.specs.loading`` (ruamel types with positions) or plain JSON-like data
(Kustomize output); positions come from a :class:`~reconciler.specs.loading.Locator`,
which may be built from the source file when the data itself has none.

Validation is strict: unknown fields are errors, types are never coerced (``"4"`` is not
``4``; ``true`` is not ``"true"``), and every error of a document is reported at once as
``path:line:column: field.path: message``. A document that validates gives a model whose
invariants (see ``reconciler.specs.models``) the rest of the project trusts.

Naming rules (documented for users in the README):

- ``metadata.name`` of a Pipeline: a DNS-1035 label (lowercase letters, digits, ``-``,
  starting with a letter, since it names the serving Service), at most 40 characters.
- Environment names: a DNS-1123 label of at most 40 characters.
- Step names: DNS-1123 labels. A step's object is ``<pipeline>-<run>[-<attempt>]-<step>``
  (run id 8 characters, attempt suffix up to 3, e.g. ``-12``) and must fit in 63
  characters, so ``len(pipeline) + len(step) <= 50``; for ``runtime: kubeflow`` the
  training operator appends ``-worker-<i>`` to pod and Service names, so the budget
  shrinks by that suffix (``-worker-0`` is 9 characters).
- Branch patterns: ``*`` and ``?`` match within one path segment (never ``/``), ``**``
  matches across segments, ``[abc]``/``[!abc]`` are character classes; the pattern must
  match the whole branch name (``exp/*`` matches ``exp/a``, not ``exp/a/b``).
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ruamel.yaml.scalarbool import ScalarBoolean

from reconciler.specs import models
from reconciler.specs.loading import MAX_DEPTH, Locator, join_field
from reconciler.structs import quantities
from reconciler.structs.errors import SpecError, SpecErrors

# --- limits and naming budgets -------------------------------------------------------------

PIPELINE_NAME_MAX = 40
ENVIRONMENT_NAME_MAX = 40
OBJECT_NAME_MAX = 63
RUN_ID_LENGTH = 8
ATTEMPT_SUFFIX_MAX = 3
"""``-<N>`` appended to the run id for attempts 2..99 (``reconciler retry``)."""
STEP_NAME_BUDGET = OBJECT_NAME_MAX - RUN_ID_LENGTH - ATTEMPT_SUFFIX_MAX - 2
"""Characters left for ``len(pipeline) + len(step)`` (two dashes around the run name): 50."""
KUBEFLOW_REPLICA_PREFIX = "-worker-"
MAX_STEPS = 100
MAX_GPUS_PER_CONTAINER = 64
MAX_WORKERS = 256
MAX_RETRIES = 20
MAX_REPLICAS = 100
MAX_GPU_LIMIT = 4096
NAMESPACE_HASH_LENGTH = 8
NAMESPACE_LITERAL_MAX = OBJECT_NAME_MAX - NAMESPACE_HASH_LENGTH
"""Namespace patterns keep room for a hashed branch part: at most 55 literal characters."""

RESERVED_ENV = ("RUN_ID", "STEP", "PARAMS_JSON", "MODEL_OUTPUT")
RESERVED_ENV_PREFIX = "DATASET_"
STEP_RUNTIMES = ("job", "kubeflow")
SERVE_RUNTIMES = ("deployment", "kserve")
TOLERATION_OPERATORS = ("Exists", "Equal")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
OUTPUT_PLACEHOLDERS = ("{run}",)
PROVENANCE_PLACEHOLDERS = ("{pipeline}", "{source}")

# --- patterns (shared with reconciler.specs.schema; valid in Python and ECMA-262) --------

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_NAME = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
DATASET_NAME = r"^[A-Za-z0-9_]+$"
EXTENDED_RESOURCE = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    r"/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
DURATION = r"^(?=[0-9])(?!(0+[hms])+$)([0-9]{1,9}h)?([0-9]{1,9}m)?([0-9]{1,9}s)?$"
QUANTITY = (
    r"^(?!\+?0*\.?0*([eEnumkKMGTPi].*)?$)\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
    r"(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?$"
)
IMAGE = r"^[^\s]+$"
URI = r"^[A-Za-z][-A-Za-z0-9+.]*://[^\s]+$"
OUTPUT_URI = r"^[A-Za-z][-A-Za-z0-9+.]*://([^\s{}]|\{run\})+$"
"""A model URI whose only placeholder is ``{run}``."""
DATASET_PATH = r"^(?!/)(?!.*\\)(?!(.*/)?\.\.(/|$)).*\.dvc$"
"""A repository-relative pointer path: not absolute, no backslash, no ``..``, ends in .dvc."""
PROVENANCE_BRANCH = r"^([^{}]|\{pipeline\}|\{source\})+$"
NONBLANK = r"\S"
SECRET_ENV_NAME = (
    r"^(?!.*_(FILE|PATH|DIR|NAME)$)"
    r"(.*(PASSWORD|PASSWD|PASSPHRASE|SECRET|CREDENTIAL|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY"
    r"|AUTH_?KEY)|(.*_)?[^_]*TOKEN(_.*)?$)"
)
"""Env names that look like credentials, matched against the upper-cased name.

``TOKEN`` counts only at the end of a word (``HF_TOKEN``, ``AUTHTOKEN_X``), so
``TOKENIZERS_PARALLELISM`` and ``MAX_TOKENS`` are plain settings; names ending in
``_FILE``, ``_PATH``, ``_DIR`` or ``_NAME`` point at a secret rather than hold one.
"""

_compiled: dict[str, re.Pattern[str]] = {}


def _match(pattern: str, value: str) -> bool:
    """Search ``value`` for ``pattern`` as JSON Schema does (ECMA-262 ``$``: end only)."""
    compiled = _compiled.get(pattern)
    if compiled is None:
        compiled = _compiled[pattern] = re.compile(pattern)
    if pattern.endswith("$") and value.endswith("\n"):
        return False  # Python's $ also matches before a final newline; ECMA's does not
    return compiled.search(value) is not None


def looks_like_secret(name: str) -> bool:
    """True if an env var name looks like a credential (see ``SECRET_ENV_NAME``)."""
    return _match(SECRET_ENV_NAME, name.upper())


# --- durations and quantities -------------------------------------------------------------

_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1}
_QUANTITY_MAX = Decimal(2**63 - 1) / 1000  # Kubernetes keeps milli-units in an int64


def parse_duration(text: str) -> int:
    """Return the seconds of a duration such as ``30m``, ``6h``, ``1h30m`` or ``90s``.

    Units are ``h``, ``m``, ``s``, each at most once and in that order. Raises ValueError
    for anything else, including ``0s`` (a timeout of nothing) and plain numbers.
    """
    if not isinstance(text, str) or not _match(DURATION, text):
        raise ValueError(f"not a duration: {text!r}")
    total = 0
    for amount, unit in re.findall(r"([0-9]+)([hms])", text):
        total += int(amount) * _DURATION_UNITS[unit]
    return total


def format_duration(seconds: int) -> str:
    """Return the canonical text of a positive number of seconds (``5400`` -> ``1h30m``)."""
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


def parse_quantity(text: str) -> Decimal:
    """Return the value of a positive Kubernetes quantity (``500m``, ``2``, ``16Gi``, ``1e3``).

    Raises ValueError if ``text`` is not a quantity, is zero, or is larger than Kubernetes
    can store (2^63-1 milli-units).
    """
    if not isinstance(text, str) or not _match(QUANTITY, text):
        raise ValueError(f"not a positive Kubernetes quantity: {text!r}")
    parsed = quantities.quantity_value(text)
    if parsed is None:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    value = parsed
    if value <= 0:
        raise ValueError(f"quantity must be positive: {text!r}")
    if value > _QUANTITY_MAX:
        raise ValueError(f"quantity too large: {text!r}")
    return value


# --- git ref names and branch patterns ----------------------------------------------------


def ref_name_problem(name: str) -> str | None:
    """Return why ``name`` is not a valid branch name (git check-ref-format), or None."""
    if not name:
        return "is empty"
    if name.startswith("refs/"):
        return "give the branch name without 'refs/heads/'"
    if name.startswith("-"):
        return "must not start with '-'"
    if name == "@":
        return "must not be '@'"
    for ch in name:
        if ord(ch) < 0x20 or ord(ch) == 0x7F or ch in " ~^:?*[\\":
            return f"must not contain {ch!r}" if ch.isprintable() else "must not contain controls"
    if ".." in name:
        return "must not contain '..'"
    if "@{" in name:
        return "must not contain '@{'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "must not start or end with '/' or contain '//'"
    if name.endswith("."):
        return "must not end with '.'"
    for part in name.split("/"):
        if part.startswith("."):
            return "no path component may start with '.'"
        if part.endswith(".lock"):
            return "no path component may end with '.lock'"
    return None


_GLOB_TOKEN = re.compile(r"\*\*|\*|\?|\[!?\]?[^\]]*\]")


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    pos = 0
    for m in _GLOB_TOKEN.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        tok = m.group(0)
        if tok == "**":
            out.append(".*")
        elif tok == "*":
            out.append("[^/]*")
        elif tok == "?":
            out.append("[^/]")
        else:
            body = tok[1:-1]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            chars = body.replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
            chars = chars.replace("]", "\\]")
            out.append(f"(?!/)[{'^' if negate else ''}{chars}]")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out))


def _pattern_problem(pattern: str) -> str | None:
    """Return why a branch pattern is invalid, or None."""
    if pattern.count("[") != pattern.count("]"):
        return "has an unbalanced '[' ']'"
    sample = _GLOB_TOKEN.sub("x", pattern)
    if any(c in sample for c in "*?[]"):
        return "has a malformed wildcard"
    return ref_name_problem(sample)


def _short_branch(branch: str) -> str:
    return branch[len("refs/heads/") :] if branch.startswith("refs/heads/") else branch


def branch_matches(env: models.Environment, branch: str) -> bool:
    """True if ``branch`` belongs to the environment (equal name, or matches its pattern).

    ``branch`` is a short name (``exp/lr-sweep``); a ``refs/heads/`` prefix is dropped.
    Patterns are globs on the whole name: ``*``/``?`` never cross ``/``, ``**`` does.
    """
    branch = _short_branch(branch)
    if not env.is_pattern:
        return branch == env.branch
    return _glob_regex(env.branch).fullmatch(branch) is not None


def _pattern_prefix(pattern: str) -> str:
    """Return the literal text of a pattern before its first wildcard."""
    idx = min((pattern.index(c) for c in "*?[" if c in pattern), default=len(pattern))
    return pattern[:idx]


def branch_slug(env: models.Environment, branch: str) -> str:
    """Return the ``{branch}`` value of a branch: the part after the pattern's literal prefix.

    Lowercased, runs of characters outside ``[a-z0-9-]`` (and of ``-``) become one ``-``,
    leading and trailing ``-`` trimmed. May be empty (the caller adds a hash).
    """
    rest = _short_branch(branch)[len(_pattern_prefix(env.branch)) :]
    slug = re.sub(r"[^a-z0-9]+", "-", rest.lower())
    return slug.strip("-")


def namespace_for_branch(env: models.Environment, branch: str) -> str:
    """Return the namespace of one branch of an environment.

    For a fixed branch, the environment's namespace. For a pattern, its namespace with
    ``{branch}`` replaced by :func:`branch_slug` (``exp/*`` + ``exp/lr-sweep`` →
    ``lr-sweep``). If the slug is empty, or the namespace would exceed 63 characters, the
    slug is cut and suffixed with the first 8 hex digits of the branch name's sha256 (so
    distinct long branches keep distinct namespaces). Raises ValueError if the branch is
    not the environment's.
    """
    if not branch_matches(env, branch):
        raise ValueError(
            f"branch {branch!r} does not match environment {env.name!r} ({env.branch})"
        )
    if not env.is_pattern:
        return env.namespace
    slug = branch_slug(env, branch)
    literal = len(env.namespace) - len("{branch}")
    if not slug or literal + len(slug) > OBJECT_NAME_MAX:
        digest = hashlib.sha256(_short_branch(branch).encode()).hexdigest()[:NAMESPACE_HASH_LENGTH]
        room = OBJECT_NAME_MAX - literal - NAMESPACE_HASH_LENGTH - 1
        cut = slug[: max(room, 0)].rstrip("-")
        slug = f"{cut}-{digest}" if cut else digest
    return env.namespace.replace("{branch}", slug)


# --- the checker: typed readers that record errors ----------------------------------------

_MISSING: Any = object()


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, (date, datetime)):
        return "date (quote it)"
    return type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Checker:
    """Collects the errors of one document, each at its field's position."""

    def __init__(self, path: str, locator: Locator) -> None:
        self.path = path
        self.locator = locator
        self.errors: list[SpecError] = []

    def error(self, field: str, message: str) -> None:
        line, col = self.locator.position(field)
        self.errors.append(SpecError(self.path, line, col, field, message))

    # conversion to plain JSON-like data --------------------------------------------------

    def plain(self, value: Any, field: str = "", depth: int = 0) -> Any:
        """Return ``value`` as plain dict/list/str/int/float/bool/None (ruamel types dropped).

        Non-string keys are reported and dropped; dates and other values are kept as they
        are (a later type check names them).
        """
        if depth > MAX_DEPTH + 8:
            self.error(field, f"nested deeper than {MAX_DEPTH} levels")
            return None
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    self.error(field, f"key {k!r} must be a string, not {_type_name(k)} (quote it)")
                    continue
                key = str(k)
                out[key] = self.plain(v, join_field(field, key), depth + 1)
            return out
        if isinstance(value, (list, tuple)):
            return [self.plain(v, join_field(field, i), depth + 1) for i, v in enumerate(value)]
        if isinstance(value, (bool, ScalarBoolean)):
            return bool(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, str):
            return str(value)
        return value

    # shapes ------------------------------------------------------------------------------

    def mapping(
        self,
        value: Any,
        field: str,
        *,
        required: Sequence[str] = (),
        optional: Sequence[str] = (),
    ) -> dict[str, Any] | None:
        """Check a mapping with known keys; report missing required and unknown keys."""
        if not isinstance(value, dict):
            self.error(field, f"must be a mapping, not {_type_name(value)}")
            return None
        allowed = (*required, *optional)
        for key in value:
            if key not in allowed:
                self.error(join_field(field, key), _unknown_field_message(key, allowed))
        for key in required:
            if key not in value:
                self.error(join_field(field, key), "required field is missing")
        return value

    def string_map(self, value: Any, field: str) -> dict[str, Any] | None:
        """Check a mapping with free keys (values are checked by the caller)."""
        if not isinstance(value, dict):
            self.error(field, f"must be a mapping, not {_type_name(value)}")
            return None
        return value

    def sequence(self, value: Any, field: str) -> list[Any] | None:
        if not isinstance(value, list):
            self.error(field, f"must be a list, not {_type_name(value)}")
            return None
        return value

    # scalars -----------------------------------------------------------------------------

    def string(
        self,
        value: Any,
        field: str,
        *,
        pattern: str | None = None,
        what: str = "",
        max_len: int | None = None,
        nonempty: bool = True,
    ) -> str | None:
        """Check a string; ``what`` describes the pattern in the error message."""
        if not isinstance(value, str):
            hint = " (quote it)" if _is_number(value) or isinstance(value, bool) else ""
            self.error(field, f"must be a string, not {_type_name(value)}{hint}")
            return None
        if nonempty and not value.strip():
            self.error(field, "must not be empty")
            return None
        if max_len is not None and len(value) > max_len:
            self.error(field, f"{value!r} is {len(value)} characters, over the limit of {max_len}")
            return None
        if pattern is not None and not _match(pattern, value):
            self.error(field, f"{value!r} is not {what or 'valid'}")
            return None
        return value

    def string_list(self, value: Any, field: str) -> tuple[str, ...] | None:
        items = self.sequence(value, field)
        if items is None:
            return None
        out: list[str] = []
        ok = True
        for i, item in enumerate(items):
            s = self.string(item, join_field(field, i), nonempty=False)
            if s is None:
                ok = False
            else:
                out.append(s)
        return tuple(out) if ok else None

    def integer(self, value: Any, field: str, *, lo: int, hi: int) -> int | None:
        if not _is_int(value):
            self.error(field, f"must be an integer, not {_type_name(value)}")
            return None
        if not lo <= value <= hi:
            self.error(field, f"{value} is out of range {lo}..{hi}")
            return None
        return int(value)

    def number(self, value: Any, field: str) -> float | None:
        if not _is_number(value):
            self.error(field, f"must be a number, not {_type_name(value)}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.error(field, "must be a finite number")
            return None
        return float(value)

    def boolean(self, value: Any, field: str) -> bool | None:
        if not isinstance(value, bool):
            self.error(field, f"must be true or false, not {_type_name(value)}")
            return None
        return value

    def enum(self, value: Any, field: str, choices: Sequence[str]) -> str | None:
        if not isinstance(value, str) or value not in choices:
            shown = repr(value) if isinstance(value, str) else _type_name(value)
            self.error(field, f"{shown} is not one of: {', '.join(choices)}")
            return None
        return value

    def quantity(self, value: Any, field: str) -> str | None:
        """Check a Kubernetes quantity; YAML numbers are accepted and kept as text."""
        if _is_number(value):
            if isinstance(value, float) and not math.isfinite(value):
                self.error(field, "must be a finite quantity")
                return None
            text = str(value)
        elif isinstance(value, str):
            text = value
        else:
            self.error(field, f"must be a Kubernetes quantity, not {_type_name(value)}")
            return None
        try:
            parse_quantity(text)
        except ValueError as e:
            hint = ""
            m = re.fullmatch(r"[0-9.]+\s*([KMGTPE])i?B", text.strip(), flags=re.IGNORECASE)
            if m:
                hint = f" (write {m.group(1).upper()}i or {m.group(1).upper()}, without B)"
            self.error(field, f"{e}{hint}; e.g. 500m, 2, 16Gi")
            return None
        return text

    def duration(self, value: Any, field: str) -> int | None:
        if not isinstance(value, str):
            self.error(
                field, f"must be a duration such as 30m, 6h, 1h30m or 90s, not {_type_name(value)}"
            )
            return None
        try:
            return parse_duration(value)
        except ValueError:
            self.error(field, f"{value!r} is not a duration such as 30m, 6h, 1h30m or 90s")
            return None

    def labels(self, value: Any, field: str) -> tuple[tuple[str, str], ...]:
        """Check Kubernetes labels (or a nodeSelector): valid keys and values."""
        m = self.string_map(value, field)
        if m is None:
            return ()
        out: list[tuple[str, str]] = []
        for key, v in m.items():
            f = join_field(field, key)
            if not _label_key_ok(key):
                self.error(f, f"{key!r} is not a valid label key ([prefix/]name, name <= 63)")
                continue
            s = self.string(v, f, nonempty=False)
            if s is None:
                continue
            if len(s) > 63 or not _match(LABEL_VALUE, s):
                self.error(f, f"{s!r} is not a valid label value (<= 63 of [-A-Za-z0-9_.])")
                continue
            out.append((key, s))
        return tuple(sorted(out))

    def annotations(self, value: Any, field: str) -> None:
        m = self.string_map(value, field)
        if m is None:
            return
        for key, v in m.items():
            f = join_field(field, key)
            if not _label_key_ok(key):
                self.error(f, f"{key!r} is not a valid annotation key")
            self.string(v, f, nonempty=False)


def _label_key_ok(key: str) -> bool:
    prefix, sep, name = key.rpartition("/")
    if sep and (len(prefix) > 253 or not _match(DNS1123_SUBDOMAIN, prefix)):
        return False
    return len(name) <= 63 and _match(LABEL_NAME, name)


def _unknown_field_message(key: str, allowed: Sequence[str]) -> str:
    norm = {a.lower().replace("_", "").replace("-", ""): a for a in allowed}
    close = norm.get(key.lower().replace("_", "").replace("-", ""))
    if close is None:
        found = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
        close = found[0] if found else None
    if close is not None:
        return f"unknown field {key!r}; did you mean {close!r}?"
    return f"unknown field {key!r}; allowed: {', '.join(allowed)}"


# --- documents ----------------------------------------------------------------------------

_TOP = ("apiVersion", "kind", "metadata", "spec")
_METADATA = ("name", "labels", "annotations", "namespace")


@dataclass
class _Meta:
    name: str | None
    labels: tuple[tuple[str, str], ...]


def _document(c: _Checker, data: Any, kind: str) -> tuple[_Meta, dict[str, Any] | None]:
    """Check apiVersion, kind and metadata; return the metadata and the spec mapping."""
    if data is None:
        c.error("", f"the file is empty: expected a {kind}")
        return _Meta(None, ()), None
    top = c.mapping(data, "", required=_TOP)
    if top is None:
        return _Meta(None, ()), None
    if "apiVersion" in top and top["apiVersion"] != models.API_VERSION:
        shown = top["apiVersion"] if isinstance(top["apiVersion"], str) else None
        c.error(
            "apiVersion",
            f"must be {models.API_VERSION}" + (f", not {shown!r}" if shown is not None else ""),
        )
    if "kind" in top and top["kind"] != kind:
        shown = top["kind"] if isinstance(top["kind"], str) else _type_name(top["kind"])
        c.error("kind", f"must be {kind}, not {shown!r}")
    meta = _Meta(None, ())
    if "metadata" in top:
        m = c.mapping(top["metadata"], "metadata", required=("name",), optional=_METADATA[1:])
        if m is not None:
            if "labels" in m:
                meta.labels = c.labels(m["labels"], "metadata.labels")
            if "annotations" in m:
                c.annotations(m["annotations"], "metadata.annotations")
            if "namespace" in m:  # set by kustomize's `namespace:`; not used
                c.string(m["namespace"], "metadata.namespace", nonempty=False)
            if "name" in m:
                meta.name = _object_name(c, m["name"], kind)
    spec = None
    if "spec" in top:
        spec = c.string_map(top["spec"], "spec")
    return meta, spec


def _object_name(c: _Checker, value: Any, kind: str) -> str | None:
    field = "metadata.name"
    limit = PIPELINE_NAME_MAX if kind == "Pipeline" else ENVIRONMENT_NAME_MAX
    name = c.string(value, field, max_len=limit)
    if name is None:
        return None
    if kind == "Pipeline" and not _match(DNS1035_LABEL, name):
        c.error(
            field,
            f"{name!r} is not a DNS-1035 label (lowercase letters, digits and '-', "
            "starting with a letter: it names the serving Service)",
        )
        return None
    if kind != "Pipeline" and not _match(DNS1123_LABEL, name):
        c.error(field, f"{name!r} is not a DNS-1123 label (lowercase letters, digits and '-')")
        return None
    return name


# --- Pipeline -----------------------------------------------------------------------------

_SPEC = ("steps", "datasets", "params", "promote", "serve")
_STEP = (
    "name",
    "image",
    "command",
    "args",
    "env",
    "secretEnv",
    "resources",
    "needs",
    "workers",
    "runtime",
    "queue",
    "retries",
    "timeout",
    "output",
)
_RESOURCES = ("cpu", "memory", "gpus", "gpuType")
_SERVE = ("image", "replicas", "resources", "port", "autoscale", "ingress", "runtime")
_AUTOSCALE = ("minReplicas", "maxReplicas", "targetCPUUtilization")


def parse_pipeline(
    doc: Any, *, path: str, sha256: str, locator: Locator | None = None
) -> models.Pipeline:
    """Validate a Pipeline document and return its model.

    ``doc`` is a loaded document (ruamel types) or plain data (Kustomize output);
    ``locator`` gives positions when ``doc`` has none (built from the source file).
    ``metadata.namespace`` is accepted and ignored (Kustomize may set it). Raises
    SpecErrors with every error of the document. ``Pipeline.raw`` is the whole document
    as plain JSON data (apiVersion, kind, metadata, spec), for provenance.
    """
    c = _Checker(path, locator if locator is not None else Locator.of(doc))
    data = c.plain(doc)
    meta, spec = _document(c, data, "Pipeline")
    if spec is None:
        raise SpecErrors(c.errors)
    spec = c.mapping(spec, "spec", required=("steps",), optional=_SPEC[1:]) or {}
    datasets = _datasets(c, spec["datasets"]) if "datasets" in spec else ()
    params = _params(c, spec["params"]) if "params" in spec else ()
    steps = _steps(c, spec["steps"], meta.name) if "steps" in spec else ()
    promote = _promote(c, spec["promote"]) if "promote" in spec else None
    serve = _serve(c, spec["serve"]) if "serve" in spec else None
    if c.errors or meta.name is None:
        raise SpecErrors(c.errors)
    return models.Pipeline(
        name=meta.name,
        path=path,
        spec_sha256=sha256,
        labels=meta.labels,
        datasets=datasets,
        params=params,
        steps=steps,
        promote=promote,
        serve=serve,
        raw=data,
    )


def _datasets(c: _Checker, value: Any) -> tuple[tuple[str, str], ...]:
    field = "spec.datasets"
    m = c.string_map(value, field)
    if m is None:
        return ()
    out: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for name, ptr in m.items():
        f = join_field(field, name)
        if not _match(DATASET_NAME, name):
            c.error(
                f,
                f"dataset name {name!r} must match [a-z0-9_]+ (it becomes DATASET_<NAME>_URL)",
            )
            continue
        upper = name.upper()
        if upper in seen:
            c.error(f, f"dataset name {name!r} clashes with {seen[upper]!r} (names ignore case)")
            continue
        seen[upper] = name
        p = c.string(ptr, f)
        if p is None:
            continue
        if not _match(DATASET_PATH, p):
            c.error(
                f,
                f"{p!r} must be a relative path inside the repository ending in .dvc "
                "(e.g. datasets/train.dvc)",
            )
            continue
        out.append((name, p))
    return tuple(sorted(out))


def _params(c: _Checker, value: Any) -> tuple[tuple[str, Any], ...]:
    field = "spec.params"
    m = c.string_map(value, field)
    if m is None:
        return ()
    ok = True
    for key, v in m.items():
        ok = _json_value(c, v, join_field(field, key)) and ok
    return tuple(sorted(m.items())) if ok else ()


def _json_value(c: _Checker, value: Any, field: str) -> bool:
    """Check that a params value is JSON: scalars, lists and string-keyed maps of them."""
    if value is None or isinstance(value, (bool, str, int)):
        return True
    if isinstance(value, float):
        if not math.isfinite(value):
            c.error(field, "must be a finite number (JSON has no inf or nan)")
            return False
        return True
    if isinstance(value, list):
        ok = True
        for i, v in enumerate(value):
            ok = _json_value(c, v, join_field(field, i)) and ok
        return ok
    if isinstance(value, dict):
        ok = True
        for k, v in value.items():
            ok = _json_value(c, v, join_field(field, k)) and ok
        return ok
    c.error(
        field,
        f"must be a JSON value (string, number, boolean, null, list, map), not {_type_name(value)}",
    )
    return False


def _steps(c: _Checker, value: Any, pipeline: str | None) -> tuple[models.Step, ...]:
    field = "spec.steps"
    items = c.sequence(value, field)
    if items is None:
        return ()
    if not items:
        c.error(field, "must list at least one step")
        return ()
    if len(items) > MAX_STEPS:
        c.error(field, f"{len(items)} steps, over the limit of {MAX_STEPS}")
        return ()
    steps: list[models.Step | None] = []
    names: dict[str, int] = {}
    for i, item in enumerate(items):
        sf = join_field(field, i)
        steps.append(_step(c, item, sf, pipeline))
        raw_name = item.get("name") if isinstance(item, dict) else None
        if isinstance(raw_name, str) and _match(DNS1123_LABEL, raw_name):
            if raw_name in names:
                c.error(
                    join_field(sf, "name"),
                    f"duplicate step name {raw_name!r} (also spec.steps[{names[raw_name]}])",
                )
            else:
                names[raw_name] = i
    _check_needs(c, items, names)
    _check_output(c, items)
    if any(s is None for s in steps):
        return ()
    return tuple(s for s in steps if s is not None)


def _step(c: _Checker, value: Any, field: str, pipeline: str | None) -> models.Step | None:
    m = c.mapping(value, field, required=("name", "image"), optional=_STEP[2:])
    if m is None:
        return None
    n0 = len(c.errors)

    def f(key: str) -> str:
        return join_field(field, key)

    name = c.string(m.get("name"), f("name")) if "name" in m else None
    if name is not None and not _match(DNS1123_LABEL, name):
        c.error(f("name"), f"{name!r} is not a DNS-1123 label (lowercase letters, digits, '-')")
        name = None
    image = (
        c.string(
            m["image"], f("image"), pattern=IMAGE, what="a valid image reference (no whitespace)"
        )
        if "image" in m
        else None
    )
    command = c.string_list(m["command"], f("command")) if "command" in m else ()
    args = c.string_list(m["args"], f("args")) if "args" in m else ()
    env = _env(c, m["env"], f("env")) if "env" in m else ()
    secret_env = _secret_env(c, m["secretEnv"], f("secretEnv")) if "secretEnv" in m else ()
    if env and secret_env:
        both = sorted({k for k, _ in env} & {k for k, _ in secret_env})
        for k in both:
            c.error(join_field(f("secretEnv"), k), f"{k} is also set in env")
    resources = (
        _resources(c, m["resources"], f("resources")) if "resources" in m else models.Resources()
    )
    needs = _needs_list(c, m["needs"], f("needs")) if "needs" in m else ()
    workers = c.integer(m["workers"], f("workers"), lo=1, hi=MAX_WORKERS) if "workers" in m else 1
    runtime = c.enum(m["runtime"], f("runtime"), STEP_RUNTIMES) if "runtime" in m else "job"
    if workers is not None and workers > 1 and runtime == "job":
        c.error(f("workers"), f"workers: {workers} needs runtime: kubeflow (a Job has one worker)")
    queue = (
        c.string(
            m["queue"],
            f("queue"),
            pattern=DNS1123_LABEL,
            what="a LocalQueue name (DNS-1123 label)",
            max_len=63,
        )
        if "queue" in m
        else None
    )
    retries = c.integer(m["retries"], f("retries"), lo=0, hi=MAX_RETRIES) if "retries" in m else 0
    timeout = c.duration(m["timeout"], f("timeout")) if "timeout" in m else None
    output = _output(c, m["output"], f("output")) if "output" in m else None
    if name is not None and pipeline is not None:
        _check_name_budget(c, f("name"), pipeline, name, runtime, workers)
    if len(c.errors) > n0 or name is None or image is None:
        return None
    assert command is not None and args is not None and workers is not None
    assert runtime is not None and retries is not None and needs is not None
    return models.Step(
        name=name,
        image=image,
        command=command,
        args=args,
        env=env,
        secret_env=secret_env,
        resources=resources,
        needs=needs,
        workers=workers,
        runtime=runtime,  # type: ignore[arg-type]
        queue=queue,
        retries=retries,
        timeout_seconds=timeout,
        output=output,
    )


def _check_name_budget(
    c: _Checker, field: str, pipeline: str, step: str, runtime: str | None, workers: int | None
) -> None:
    budget = STEP_NAME_BUDGET
    why = f"'<pipeline>-<run>-<attempt>-<step>' must fit in {OBJECT_NAME_MAX} characters"
    if runtime == "kubeflow":
        replica = len(KUBEFLOW_REPLICA_PREFIX) + len(str(max((workers or 1) - 2, 0)))
        budget -= replica
        why += f", and kubeflow adds '{KUBEFLOW_REPLICA_PREFIX}<i>' ({replica} characters)"
    if len(pipeline) + len(step) > budget:
        c.error(
            field,
            f"step name {step!r} is too long: pipeline name ({len(pipeline)}) + step name "
            f"({len(step)}) must be at most {budget} characters ({why})",
        )


def _env(c: _Checker, value: Any, field: str) -> tuple[tuple[str, str], ...]:
    m = c.string_map(value, field)
    if m is None:
        return ()
    out: list[tuple[str, str]] = []
    for key, v in m.items():
        f = join_field(field, key)
        if not _env_name_ok(c, key, f):
            continue
        if looks_like_secret(key):
            c.error(f, f"looks like a secret: use secretEnv: {{{key}: {{secret: ..., key: ...}}}}")
            continue
        if not isinstance(v, str):  # never echo the value
            c.error(f, f"must be a string, not {_type_name(v)} (quote numbers and booleans)")
            continue
        out.append((key, v))
    return tuple(sorted(out))


def _env_name_ok(c: _Checker, key: str, field: str) -> bool:
    if not _match(ENV_NAME, key):
        c.error(field, f"{key!r} is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
        return False
    if key in RESERVED_ENV or key.startswith(RESERVED_ENV_PREFIX):
        c.error(
            field,
            f"{key} is set by the reconciler (reserved: {', '.join(RESERVED_ENV)}, "
            f"{RESERVED_ENV_PREFIX}*)",
        )
        return False
    return True


def _secret_env(c: _Checker, value: Any, field: str) -> tuple[tuple[str, models.SecretRef], ...]:
    m = c.string_map(value, field)
    if m is None:
        return ()
    out: list[tuple[str, models.SecretRef]] = []
    for key, v in m.items():
        f = join_field(field, key)
        if not _env_name_ok(c, key, f):
            continue
        ref = c.mapping(v, f, required=("secret", "key"))
        if ref is None:
            continue
        secret = (
            c.string(
                ref["secret"],
                join_field(f, "secret"),
                pattern=DNS1123_SUBDOMAIN,
                what="a Secret name (DNS-1123 subdomain)",
                max_len=253,
            )
            if "secret" in ref
            else None
        )
        skey = (
            c.string(
                ref["key"],
                join_field(f, "key"),
                pattern=SECRET_KEY,
                what="a Secret key ([-._a-zA-Z0-9]+)",
                max_len=253,
            )
            if "key" in ref
            else None
        )
        if secret is not None and skey is not None:
            out.append((key, models.SecretRef(secret=secret, key=skey)))
    return tuple(sorted(out, key=lambda kv: kv[0]))


def _resources(c: _Checker, value: Any, field: str) -> models.Resources:
    m = c.mapping(value, field, optional=_RESOURCES)
    if m is None:
        return models.Resources()
    cpu = c.quantity(m["cpu"], join_field(field, "cpu")) if "cpu" in m else None
    memory = c.quantity(m["memory"], join_field(field, "memory")) if "memory" in m else None
    gpus = (
        c.integer(m["gpus"], join_field(field, "gpus"), lo=0, hi=MAX_GPUS_PER_CONTAINER)
        if "gpus" in m
        else 0
    )
    gpu_type = None
    if "gpuType" in m:
        gpu_type = c.string(
            m["gpuType"],
            join_field(field, "gpuType"),
            pattern=LABEL_VALUE,
            what="a node label value ([-A-Za-z0-9_.], <= 63)",
            max_len=63,
        )
    return models.Resources(cpu=cpu, memory=memory, gpus=gpus or 0, gpu_type=gpu_type)


def _needs_list(c: _Checker, value: Any, field: str) -> tuple[str, ...] | None:
    names = c.string_list(value, field)
    if names is None:
        return None
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen:
            c.error(join_field(field, i), f"{n!r} is listed twice")
        seen.add(n)
    return names


def _check_needs(c: _Checker, items: list[Any], names: Mapping[str, int]) -> None:
    """Report unknown steps in ``needs`` and every cycle (once, at its first step)."""
    graph: dict[str, list[str]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        name, needs = item.get("name"), item.get("needs")
        if not isinstance(needs, list):
            continue
        deps: list[str] = []
        for j, n in enumerate(needs):
            if not isinstance(n, str):
                continue
            if n not in names:
                known = ", ".join(names) or "none"
                c.error(
                    join_field(join_field(f"spec.steps[{i}]", "needs"), j),
                    f"unknown step {n!r} (steps: {known})",
                )
            elif n == name:
                c.error(join_field(f"spec.steps[{i}]", "needs"), f"step {n!r} needs itself")
            else:
                deps.append(n)
        if isinstance(name, str) and names.get(name) == i:
            graph[name] = deps
    for cycle in _cycles(graph, order=list(names)):
        first = min(cycle[:-1], key=lambda s: names[s])
        start = cycle.index(first)
        loop = [*cycle[start:-1], *cycle[:start], first]
        c.error(f"spec.steps[{names[first]}].needs", f"cycle in needs: {' -> '.join(loop)}")


def _cycles(graph: Mapping[str, Sequence[str]], order: Sequence[str]) -> list[list[str]]:
    """Return one cycle per set of steps that form one (``[a, b, a]``), without recursion."""
    color: dict[str, int] = {}
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    for root in order:
        if color.get(root):
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, idx = stack.pop()
            if idx == 0:
                color[node] = 1
                path.append(node)
            deps = graph.get(node, ())
            if idx < len(deps):
                stack.append((node, idx + 1))
                nxt = deps[idx]
                state = color.get(nxt, 0)
                if state == 0:
                    stack.append((nxt, 0))
                elif state == 1:
                    cyc = [*path[path.index(nxt) :], nxt]
                    key = frozenset(cyc)
                    if key not in seen_sets:
                        seen_sets.add(key)
                        found.append(cyc)
            else:
                color[node] = 2
                path.pop()
    return found


def _output(c: _Checker, value: Any, field: str) -> str | None:
    uri = c.string(
        value, field, pattern=URI, what="a URI such as s3://bucket/models/{run}/ (scheme://...)"
    )
    if uri is None:
        return None
    if not _match(OUTPUT_URI, uri):
        c.error(field, f"{uri!r}: the only placeholder is {{run}}")
        return None
    return uri


def _check_output(c: _Checker, items: list[Any]) -> None:
    """Exactly one step has ``output``."""
    with_output = [i for i, item in enumerate(items) if isinstance(item, dict) and "output" in item]
    if not with_output:
        c.error("spec.steps", "no step has output: exactly one step must write the model")
    for i in with_output[1:]:
        first = items[with_output[0]].get("name")
        c.error(
            f"spec.steps[{i}].output",
            f"only one step may have output (step {first!r} already has it)"
            if isinstance(first, str)
            else f"only one step may have output (spec.steps[{with_output[0]}] already has it)",
        )


def _promote(c: _Checker, value: Any) -> models.Promote | None:
    field = "spec.promote"
    m = c.mapping(value, field, required=("metric", "min"))
    if m is None:
        return None
    metric = c.string(m["metric"], f"{field}.metric") if "metric" in m else None
    low = c.number(m["min"], f"{field}.min") if "min" in m else None
    if metric is None or low is None:
        return None
    return models.Promote(metric=metric, min=low)


def _serve(c: _Checker, value: Any) -> models.Serve | None:
    field = "spec.serve"
    m = c.mapping(value, field, required=("image",), optional=_SERVE[1:])
    if m is None:
        return None
    n0 = len(c.errors)
    image = (
        c.string(
            m["image"],
            f"{field}.image",
            pattern=IMAGE,
            what="a valid image reference (no whitespace)",
        )
        if "image" in m
        else None
    )
    replicas = (
        c.integer(m["replicas"], f"{field}.replicas", lo=1, hi=MAX_REPLICAS)
        if "replicas" in m
        else 1
    )
    resources = (
        _resources(c, m["resources"], f"{field}.resources")
        if "resources" in m
        else models.Resources()
    )
    port = c.integer(m["port"], f"{field}.port", lo=1, hi=65535) if "port" in m else 8080
    runtime = (
        c.enum(m["runtime"], f"{field}.runtime", SERVE_RUNTIMES) if "runtime" in m else "deployment"
    )
    autoscale = _autoscale(c, m["autoscale"]) if "autoscale" in m else None
    host = None
    if "ingress" in m:
        ing = c.mapping(m["ingress"], f"{field}.ingress", required=("host",))
        if ing is not None and "host" in ing:
            host = c.string(
                ing["host"],
                f"{field}.ingress.host",
                pattern=DNS1123_SUBDOMAIN,
                what="a host name (DNS-1123 subdomain)",
                max_len=253,
            )
    if len(c.errors) > n0 or image is None:
        return None
    assert replicas is not None and port is not None
    return models.Serve(
        image=image,
        replicas=replicas,
        resources=resources,
        port=port,
        autoscale=autoscale,
        ingress_host=host,
        runtime=runtime,  # type: ignore[arg-type]
    )


def _autoscale(c: _Checker, value: Any) -> models.Autoscale | None:
    field = "spec.serve.autoscale"
    m = c.mapping(
        value, field, required=("maxReplicas",), optional=("minReplicas", "targetCPUUtilization")
    )
    if m is None:
        return None
    lo = (
        c.integer(m["minReplicas"], f"{field}.minReplicas", lo=1, hi=MAX_REPLICAS)
        if "minReplicas" in m
        else 1
    )
    hi = (
        c.integer(m["maxReplicas"], f"{field}.maxReplicas", lo=1, hi=MAX_REPLICAS)
        if "maxReplicas" in m
        else None
    )
    target = (
        c.integer(m["targetCPUUtilization"], f"{field}.targetCPUUtilization", lo=1, hi=100)
        if "targetCPUUtilization" in m
        else 80
    )
    if lo is None or hi is None or target is None:
        return None
    if lo > hi:
        c.error(f"{field}.minReplicas", f"minReplicas ({lo}) is greater than maxReplicas ({hi})")
        return None
    return models.Autoscale(min_replicas=lo, max_replicas=hi, target_cpu_utilization=target)


# --- Environment --------------------------------------------------------------------------

_ENV_SPEC = ("branch", "namespace", "serve", "provenanceBranch", "cluster", "scheduling", "limits")
_TOLERATION = ("key", "operator", "value", "effect", "tolerationSeconds")


def parse_environment(doc: Any, *, path: str, locator: Locator | None = None) -> models.Environment:
    """Validate an Environment document and return its model.

    Same input rules as :func:`parse_pipeline`. Checks the branch (a git branch name or a
    pattern), the namespace (a DNS-1123 label; with a pattern it must contain exactly one
    ``{branch}``), the provenance branch (``{pipeline}``/``{source}`` placeholders forming
    a valid branch name), scheduling and limits. Raises SpecErrors with every error.
    """
    c = _Checker(path, locator if locator is not None else Locator.of(doc))
    data = c.plain(doc)
    meta, spec = _document(c, data, "Environment")
    if spec is None:
        raise SpecErrors(c.errors)
    spec = c.mapping(spec, "spec", required=("branch", "namespace"), optional=_ENV_SPEC[2:]) or {}
    branch = _branch(c, spec["branch"]) if "branch" in spec else None
    namespace = _namespace(c, spec["namespace"], branch) if "namespace" in spec else None
    serve = c.boolean(spec["serve"], "spec.serve") if "serve" in spec else True
    prov = (
        _provenance_branch(c, spec["provenanceBranch"])
        if "provenanceBranch" in spec
        else "experiments/{pipeline}"
    )
    context = None
    if "cluster" in spec:
        cl = c.mapping(spec["cluster"], "spec.cluster", required=("context",))
        if cl is not None and "context" in cl:
            context = c.string(cl["context"], "spec.cluster.context")
    scheduling = _scheduling(c, spec["scheduling"]) if "scheduling" in spec else models.Scheduling()
    max_gpus = None
    if "limits" in spec:
        lim = c.mapping(spec["limits"], "spec.limits", optional=("maxGpusPerRun",))
        if lim is not None and "maxGpusPerRun" in lim:
            max_gpus = c.integer(
                lim["maxGpusPerRun"], "spec.limits.maxGpusPerRun", lo=0, hi=MAX_GPU_LIMIT
            )
    if c.errors or meta.name is None or branch is None or namespace is None:
        raise SpecErrors(c.errors)
    assert serve is not None and prov is not None
    return models.Environment(
        name=meta.name,
        path=path,
        branch=branch,
        namespace=namespace,
        serve=serve,
        provenance_branch=prov,
        cluster_context=context,
        scheduling=scheduling,
        max_gpus_per_run=max_gpus,
    )


def _branch(c: _Checker, value: Any) -> str | None:
    field = "spec.branch"
    branch = c.string(value, field)
    if branch is None:
        return None
    problem = _pattern_problem(branch) if _is_glob(branch) else ref_name_problem(branch)
    if problem:
        c.error(field, f"{branch!r} is not a valid branch name or pattern: {problem}")
        return None
    return branch


def _namespace(c: _Checker, value: Any, branch: str | None) -> str | None:
    field = "spec.namespace"
    ns = c.string(value, field)
    if ns is None:
        return None
    count = ns.count("{branch}")
    if branch is not None and _is_glob(branch) and count != 1:
        c.error(
            field,
            f"{ns!r} must contain {{branch}} exactly once: branch {branch!r} is a pattern "
            "(one namespace per branch, e.g. ml-exp-{branch})",
        )
        return None
    if branch is not None and not _is_glob(branch) and count:
        c.error(field, f"{ns!r}: {{branch}} is only allowed when branch is a pattern")
        return None
    literal = ns.replace("{branch}", "")
    if "{" in literal or "}" in literal:
        c.error(field, f"{ns!r}: the only placeholder is {{branch}}")
        return None
    if count and len(literal) > NAMESPACE_LITERAL_MAX:
        c.error(
            field,
            f"{ns!r} leaves no room for the branch: at most {NAMESPACE_LITERAL_MAX} characters "
            "besides {branch}",
        )
        return None
    sample = ns.replace("{branch}", "x")
    if len(sample) > OBJECT_NAME_MAX or not _match(DNS1123_LABEL, sample):
        c.error(
            field,
            f"{ns!r} is not a DNS-1123 label (lowercase letters, digits and '-', <= 63)"
            + (" once {branch} is filled in" if count else ""),
        )
        return None
    return ns


def _provenance_branch(c: _Checker, value: Any) -> str | None:
    field = "spec.provenanceBranch"
    text = c.string(value, field)
    if text is None:
        return None
    if not _match(PROVENANCE_BRANCH, text):
        c.error(field, f"{text!r}: the only placeholders are {{pipeline}} and {{source}}")
        return None
    sample = text.replace("{pipeline}", "resnet50").replace("{source}", "exp/lr-sweep")
    problem = ref_name_problem(sample)
    if problem:
        c.error(field, f"{text!r} does not make a valid branch name: {problem}")
        return None
    return text


def _scheduling(c: _Checker, value: Any) -> models.Scheduling:
    field = "spec.scheduling"
    m = c.mapping(value, field, optional=("nodeSelector", "tolerations", "gpuResource"))
    if m is None:
        return models.Scheduling()
    selector = c.labels(m["nodeSelector"], f"{field}.nodeSelector") if "nodeSelector" in m else ()
    tolerations: list[dict[str, Any]] = []
    if "tolerations" in m:
        items = c.sequence(m["tolerations"], f"{field}.tolerations")
        for i, t in enumerate(items or []):
            tol = _toleration(c, t, f"{field}.tolerations[{i}]")
            if tol is not None:
                tolerations.append(tol)
    gpu = "nvidia.com/gpu"
    if "gpuResource" in m:
        gpu = (
            c.string(
                m["gpuResource"],
                f"{field}.gpuResource",
                pattern=EXTENDED_RESOURCE,
                what="an extended resource name such as nvidia.com/gpu (domain/name)",
                max_len=253,
            )
            or gpu
        )
    return models.Scheduling(
        node_selector=selector, tolerations=tuple(tolerations), gpu_resource=gpu
    )


def _toleration(c: _Checker, value: Any, field: str) -> dict[str, Any] | None:
    m = c.mapping(value, field, optional=_TOLERATION)
    if m is None:
        return None
    n0 = len(c.errors)
    if "key" in m:
        key = c.string(m["key"], f"{field}.key", nonempty=False)
        if key and not _label_key_ok(key):
            c.error(f"{field}.key", f"{key!r} is not a valid taint key")
    op = (
        c.enum(m["operator"], f"{field}.operator", TOLERATION_OPERATORS)
        if "operator" in m
        else "Equal"
    )
    if "value" in m:
        v = c.string(m["value"], f"{field}.value", nonempty=False)
        if v and op == "Exists":
            c.error(f"{field}.value", "must be empty when operator is Exists")
        elif v and (len(v) > 63 or not _match(LABEL_VALUE, v)):
            c.error(f"{field}.value", f"{v!r} is not a valid taint value")
    if not m.get("key") and op != "Exists":
        c.error(f"{field}.operator", "an empty key needs operator: Exists")
    effect = c.enum(m["effect"], f"{field}.effect", TOLERATION_EFFECTS) if "effect" in m else None
    if "tolerationSeconds" in m:
        c.integer(m["tolerationSeconds"], f"{field}.tolerationSeconds", lo=0, hi=2**31 - 1)
        if effect != "NoExecute":
            c.error(f"{field}.tolerationSeconds", "only allowed with effect: NoExecute")
    return dict(m) if len(c.errors) == n0 else None


# --- sets of pipelines --------------------------------------------------------------------


def check_pipeline_set(
    pipelines: Sequence[models.Pipeline],
    env: models.Environment | None = None,
    *,
    locators: Mapping[str, Locator] | None = None,
) -> list[SpecError]:
    """Return the errors across pipelines: duplicate names, and GPUs over the env's limit.

    A duplicate is reported on every pipeline after the first with that name. With an
    environment that sets ``limits.maxGpusPerRun``, each step using more GPUs
    (``gpus x workers``) is reported. ``locators`` maps a pipeline's path to a Locator of
    its source file for positions; without one, positions are ``0:0``.
    """
    errors: list[SpecError] = []
    locators = locators or {}

    def err(p: models.Pipeline, field: str, message: str) -> None:
        loc = locators.get(p.path)
        line, col = loc.position(field) if loc is not None else (0, 0)
        errors.append(SpecError(p.path, line, col, field, message))

    first: dict[str, models.Pipeline] = {}
    for p in pipelines:
        if p.name in first:
            err(
                p,
                "metadata.name",
                f"duplicate pipeline name {p.name!r} (also {first[p.name].path})",
            )
        else:
            first[p.name] = p
    limit = env.max_gpus_per_run if env is not None else None
    if env is not None and limit is not None:
        for p in pipelines:
            for i, s in enumerate(p.steps):
                total = s.resources.gpus * s.workers
                if total > limit:
                    how = f"{s.resources.gpus} x {s.workers} workers" if s.workers > 1 else ""
                    err(
                        p,
                        f"spec.steps[{i}].resources.gpus",
                        f"step {s.name!r} uses {total} GPUs{f' ({how})' if how else ''}, over "
                        f"limits.maxGpusPerRun {limit} of environment {env.name!r} ({env.path})",
                    )
    return errors
