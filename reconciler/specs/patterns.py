"""Limits and patterns of the names and values in specs, shared by the schema and the rules.

``reconciler.specs.schema`` turns these into the JSON Schema (the one definition of each
field's shape); ``reconciler.specs.rules`` uses the naming budgets for the checks that
span fields; ``reconciler.specs.branches`` uses the namespace limits. Every pattern is
valid in both Python's ``re`` and ECMA-262 (the regex dialect of JSON Schema), and is
matched as JSON Schema does, by :func:`matches`.

Naming budgets: a step's object is ``<pipeline>-<run>[-<attempt>]-<step>`` (run id 8
characters, attempt suffix up to 3, e.g. ``-12``) and must fit in 63 characters, so
``len(pipeline) + len(step) <= 50``; for ``runtime: kubeflow`` the training operator
appends ``-worker-<i>`` to pod and Service names, and for ``runtime: trainjob`` JobSet
names each node's pod host ``<trainjob>-node-0-<i>``, so the budget shrinks by that suffix.
"""

from __future__ import annotations

import re

PIPELINE_NAME_MAX = 40
ENVIRONMENT_NAME_MAX = 40
OBJECT_NAME_MAX = 63
RUN_ID_LENGTH = 8
ATTEMPT_SUFFIX_MAX = 3
"""``-<N>`` appended to the run id for attempts 2..99 (``reconciler retry``)."""
STEP_NAME_BUDGET = OBJECT_NAME_MAX - RUN_ID_LENGTH - ATTEMPT_SUFFIX_MAX - 2
"""Characters left for ``len(pipeline) + len(step)`` (two dashes around the run name): 50."""
KUBEFLOW_REPLICA_PREFIX = "-worker-"
TRAINJOB_NODE_PREFIX = "-node-0-"
"""JobSet's pod host name of a TrainJob node: ``<trainjob>-node-0-<i>`` (one ``node`` Job)."""
MAX_STEPS = 100
MAX_GPUS_PER_CONTAINER = 64
MAX_WORKERS = 256
MAX_RETRIES = 20
MAX_REPLICAS = 100
MAX_GPU_LIMIT = 4096
NAMESPACE_HASH_LENGTH = 8
NAMESPACE_LITERAL_MAX = OBJECT_NAME_MAX - NAMESPACE_HASH_LENGTH
"""Namespace patterns keep room for a hashed branch part: at most 55 literal characters."""

RESERVED_ENV = ("RUN_ID", "STEP", "PARAMS_JSON", "MODEL_OUTPUT", "CHECKPOINT_URI", "DVC_REPO_URL")
RESERVED_ENV_PREFIX = "DATASET_"
RESERVED_ARTIFACTS_PREFIX = "ARTIFACTS_URI"
"""``ARTIFACTS_URI`` and ``ARTIFACTS_URI_<STEP>`` are set by the reconciler too."""
ARTIFACT_ROOT = (
    r"^(pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(/[^\s]*)?"
    r"|(?!pvc://)[A-Za-z][-A-Za-z0-9+.]*://[^\s]+)$"
)
"""An object-store prefix (``s3://bucket/prefix``) or a PVC (``pvc://<claim>[/<path>]``)."""
STEP_RUNTIMES = ("job", "kubeflow", "trainjob")
SERVE_RUNTIMES = ("deployment", "kserve")
SERVE_PROTOCOLS = ("v1", "v2")
POD_SECURITY_LEVELS = ("restricted", "baseline")
HTTP_PATH = r"^/[^\s]*$"
MODEL_FORMAT = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
MODEL_FORMAT_VERSION = r"^[0-9]+(\.[0-9]+){0,2}$"
"""KServe's model format versions: "major", "major.minor" or "major.minor.patch"."""
TOLERATION_OPERATORS = ("Exists", "Equal")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LABEL_KEY = (
    r"^((?=[^/]{1,253}/)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$"
)
"""``[prefix/]name``: prefix a DNS-1123 subdomain of <= 253, name <= 63 characters."""
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
NAMESPACE_TEMPLATE = r"^([a-z0-9]|\{branch\})(([-a-z0-9]|\{branch\})*([a-z0-9]|\{branch\}))?$"
"""A DNS-1123 label in which ``{branch}`` may stand for the branch's part."""
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


def matches(pattern: str, value: str) -> bool:
    """Search ``value`` for ``pattern`` as JSON Schema does (ECMA-262 ``$``: end only)."""
    compiled = _compiled.get(pattern)
    if compiled is None:
        compiled = _compiled[pattern] = re.compile(pattern)
    if pattern.endswith("$") and value.endswith("\n"):
        return False  # Python's $ also matches before a final newline; ECMA's does not
    return compiled.search(value) is not None


def looks_like_secret(name: str) -> bool:
    """True if an env var name looks like a credential (see ``SECRET_ENV_NAME``)."""
    return matches(SECRET_ENV_NAME, name.upper())


def case_insensitive(pattern: str) -> str:
    """Spell an upper-case regex so it also matches lower case (ECMA-262 has no ``(?i)``)."""
    out: list[str] = []
    escaped = False
    in_class = False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif in_class or ch in "[]":
            if ch.isalpha():
                raise ValueError("letters inside a character class are not supported")
            in_class = ch == "[" or (in_class and ch != "]")
            out.append(ch)
        elif ch.isalpha() and ch.isupper():
            out.append(f"[{ch}{ch.lower()}]")
        else:
            out.append(ch)
    return "".join(out)
