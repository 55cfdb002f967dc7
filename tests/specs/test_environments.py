"""Environment validation, branch patterns and per-branch namespaces."""

from __future__ import annotations

import pytest

from reconciler.specs import branches, models, patterns
from tests.specs.samples import (
    ENV_PATH,
    ENVIRONMENT,
    EXP_ENVIRONMENT,
    environment,
    environment_errors,
    variant,
)

E = ENV_PATH


def test_valid_environment_gives_the_model() -> None:
    env = environment()
    assert env.name == "prod" and env.path == E
    assert (env.branch, env.namespace, env.serve) == ("main", "ml-prod", True)
    assert env.provenance_branch == "experiments/{pipeline}"
    assert env.cluster_context == "gpu-east"
    assert env.scheduling.node_selector == (("pool", "gpu"),)
    assert env.scheduling.tolerations == (
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    )
    assert env.scheduling.gpu_resource == "nvidia.com/gpu"
    assert env.max_gpus_per_run == 8
    assert not env.is_pattern


def test_pattern_environment() -> None:
    env = environment(EXP_ENVIRONMENT)
    assert env.is_pattern and not env.serve and env.provenance_branch == "runs/{source}"
    assert env.max_gpus_per_run is None


def test_pattern_environment_records_beside_each_branch_by_default() -> None:
    env = environment(EXP_ENVIRONMENT.replace('  provenanceBranch: "runs/{source}"\n', ""))
    assert env.provenance_branch == "runs/{source}"


CASES: list[tuple[str, str, str, str, list[str]]] = [
    (
        "pattern without {branch} in the namespace",
        ENVIRONMENT,
        "branch: main",
        'branch: "exp/*"',
        [
            f"{E}:6:3: spec.namespace: 'ml-prod' must contain {{branch}} exactly once: branch "
            "'exp/*' is a pattern (one namespace per branch, e.g. ml-exp-{branch})"
        ],
    ),
    (
        "{branch} twice",
        EXP_ENVIRONMENT,
        '"ml-exp-{branch}"',
        '"ml-{branch}-{branch}"',
        [
            f"{E}:6:3: spec.namespace: 'ml-{{branch}}-{{branch}}' must contain {{branch}} "
            "exactly once: branch 'exp/*' is a pattern (one namespace per branch, "
            "e.g. ml-exp-{branch})"
        ],
    ),
    (
        "{branch} with a fixed branch",
        ENVIRONMENT,
        "namespace: ml-prod",
        'namespace: "ml-{branch}"',
        [
            f"{E}:6:3: spec.namespace: 'ml-{{branch}}': {{branch}} is only allowed when branch "
            "is a pattern"
        ],
    ),
    (
        "pattern namespace not a DNS label",
        EXP_ENVIRONMENT,
        '"ml-exp-{branch}"',
        '"ML_Exp-{branch}"',
        [
            f"{E}:6:3: spec.namespace: 'ML_Exp-{{branch}}' is not a DNS-1123 label (lowercase "
            "letters, digits and '-', <= 63)"
        ],
    ),
    (
        "pattern namespace leaving no room",
        EXP_ENVIRONMENT,
        '"ml-exp-{branch}"',
        '"' + "m" * 56 + '-{branch}"',
        [
            f"{E}:6:3: spec.namespace: '{'m' * 56}-{{branch}}' is 65 characters, over the limit "
            "of 63 (with a branch pattern: at most 55 besides {branch})"
        ],
    ),
    (
        "namespace ending in '-'",
        ENVIRONMENT,
        "namespace: ml-prod",
        "namespace: ml-prod-",
        [
            f"{E}:6:3: spec.namespace: 'ml-prod-' is not a DNS-1123 label (lowercase letters, "
            "digits and '-', <= 63)"
        ],
    ),
    (
        "provenanceBranch with an unknown placeholder",
        ENVIRONMENT,
        '"experiments/{pipeline}"',
        '"experiments/{env}"',
        [
            f"{E}:8:3: spec.provenanceBranch: 'experiments/{{env}}': the only placeholders are "
            "{pipeline} and {source}"
        ],
    ),
    (
        "provenanceBranch not a ref name",
        ENVIRONMENT,
        '"experiments/{pipeline}"',
        '"experiments/{pipeline}.lock"',
        [
            f"{E}:8:3: spec.provenanceBranch: 'experiments/{{pipeline}}.lock' does not make a "
            "valid branch name: no path component may end with '.lock'"
        ],
    ),
    (
        "provenanceBranch with a space",
        ENVIRONMENT,
        '"experiments/{pipeline}"',
        '"runs {pipeline}"',
        [
            f"{E}:8:3: spec.provenanceBranch: 'runs {{pipeline}}' does not make a valid branch "
            "name: must not contain ' '"
        ],
    ),
    (
        "records onto the branch people push to",
        EXP_ENVIRONMENT,
        '"runs/{source}"',
        '"{source}"',
        [
            f"{E}:8:3: spec.provenanceBranch: '{{source}}' would commit run records onto "
            "'exp/lr-sweep', a branch people push to (their next push would be rejected); use "
            'a branch of its own, e.g. "runs/{source}" (default for a branch pattern) or '
            '"experiments/{pipeline}"'
        ],
    ),
    (
        "records onto a fixed environment's own branch",
        ENVIRONMENT,
        '"experiments/{pipeline}"',
        '"main"',
        [
            f"{E}:8:3: spec.provenanceBranch: 'main' would commit run records onto 'main', a "
            "branch people push to (their next push would be rejected); use a branch of its "
            'own, e.g. "runs/{source}" (default for a branch pattern) or '
            '"experiments/{pipeline}"'
        ],
    ),
    (
        "branch not a ref name",
        ENVIRONMENT,
        "branch: main",
        "branch: main..x",
        [
            f"{E}:5:3: spec.branch: 'main..x' is not a valid branch name or pattern: "
            "must not contain '..'"
        ],
    ),
    (
        "branch pattern malformed",
        ENVIRONMENT,
        "branch: main",
        "branch: 'exp/[abc'",
        [
            f"{E}:5:3: spec.branch: 'exp/[abc' is not a valid branch name or pattern: "
            "has an unbalanced '[' ']'"
        ],
    ),
    (
        "serve not a boolean (YAML 1.2: yes is a string)",
        ENVIRONMENT,
        "serve: true",
        "serve: yes",
        [f"{E}:7:3: spec.serve: must be true or false, not string"],
    ),
    (
        "empty cluster context",
        ENVIRONMENT,
        "{context: gpu-east}",
        "{context: ''}",
        [f"{E}:9:13: spec.cluster.context: must not be empty"],
    ),
    (
        "maxGpusPerRun out of range",
        ENVIRONMENT,
        "maxGpusPerRun: 8",
        "maxGpusPerRun: -1",
        [f"{E}:15:12: spec.limits.maxGpusPerRun: -1 is out of range 0..4096"],
    ),
    (
        "toleration operator",
        ENVIRONMENT,
        "operator: Exists",
        "operator: Exist",
        [
            f"{E}:13:31: spec.scheduling.tolerations[0].operator: 'Exist' is not one of: "
            "Exists, Equal"
        ],
    ),
    (
        "tolerationSeconds without NoExecute",
        ENVIRONMENT,
        "effect: NoSchedule}",
        "effect: NoSchedule, tolerationSeconds: 5}",
        [
            f"{E}:13:69: spec.scheduling.tolerations[0].tolerationSeconds: only allowed with "
            "effect: NoExecute"
        ],
    ),
    (
        "gpuResource without a domain",
        ENVIRONMENT,
        "gpuResource: nvidia.com/gpu",
        "gpuResource: gpu",
        [
            f"{E}:14:5: spec.scheduling.gpuResource: 'gpu' is not an extended resource name "
            "such as nvidia.com/gpu (domain/name)"
        ],
    ),
    (
        "environment name",
        ENVIRONMENT,
        "metadata: {name: prod}",
        "metadata: {name: Prod}",
        [
            f"{E}:3:12: metadata.name: 'Prod' is not a DNS-1123 label (lowercase letters, "
            "digits and '-')"
        ],
    ),
    (
        "unknown field",
        ENVIRONMENT,
        "  limits: {maxGpusPerRun: 8}\n",
        "  limits: {maxGpusPerRun: 8}\n  quota: {}\n",
        [
            f"{E}:16:3: spec.quota: unknown field 'quota'; allowed: branch, namespace, "
            "allowSystemNamespace, serve, provenanceBranch, cluster, scheduling, "
            "serviceAccountName, imagePullSecrets, dataFetcher, artifactRoot, limits, "
            "podSecurity, prometheus, ingressClassName"
        ],
    ),
    (
        "missing branch",
        ENVIRONMENT,
        "  branch: main\n",
        "",
        [f"{E}:4:1: spec.branch: required field is missing"],
    ),
]


@pytest.mark.parametrize(
    ("base", "old", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_error_line(base: str, old: str, new: str, expected: list[str]) -> None:
    assert environment_errors(variant(base, old, new)) == expected


def _env(branch: str, namespace: str) -> models.Environment:
    return models.Environment(name="exp", path=E, branch=branch, namespace=namespace)


@pytest.mark.parametrize(
    ("pattern", "branch", "matches"),
    [
        ("main", "main", True),
        ("main", "refs/heads/main", True),
        ("main", "mainline", False),
        ("exp/*", "exp/lr-sweep", True),
        ("exp/*", "exp/a/b", False),
        ("exp/*", "exp", False),
        ("exp/*", "other/exp/x", False),
        ("exp/**", "exp/a/b", True),
        ("exp/?", "exp/a", True),
        ("exp/?", "exp/ab", False),
        ("feat-[!x]*", "feat-a1", True),
        ("feat-[!x]*", "feat-x1", False),
        ("feat-[!x]*", "feat-/1", False),
        ("release/v[0-9]*", "release/v2.1", True),
    ],
)
def test_branch_matches(pattern: str, branch: str, matches: bool) -> None:
    ns = "ml-{branch}" if branches.is_pattern(pattern) else "ml"
    assert branches.branch_matches(_env(pattern, ns), branch) is matches


@pytest.mark.parametrize(
    ("branch", "namespace"),
    [
        ("exp/lr-sweep", "ml-exp-lr-sweep"),
        ("refs/heads/exp/x", "ml-exp-x"),
    ],
)
def test_namespace_for_branch(branch: str, namespace: str) -> None:
    assert branches.namespace_for_branch(_env("exp/*", "ml-exp-{branch}"), branch) == namespace


def test_long_and_empty_branch_parts_are_hashed() -> None:
    env = _env("exp/*", "ml-exp-{branch}")
    long_a = branches.namespace_for_branch(env, "exp/" + "a" * 80)
    long_b = branches.namespace_for_branch(env, "exp/" + "a" * 79 + "b")
    assert len(long_a) == 63 and long_a.startswith("ml-exp-aaaa")
    assert long_a != long_b
    empty = branches.namespace_for_branch(env, "exp/___")
    assert empty.startswith("ml-exp-") and len(empty) == len("ml-exp-") + 8
    assert all(patterns.matches(patterns.DNS1123_LABEL, n) for n in (long_a, long_b, empty))


def test_namespace_of_a_fixed_branch_and_a_foreign_branch() -> None:
    env = environment()
    assert branches.namespace_for_branch(env, "main") == "ml-prod"
    with pytest.raises(ValueError, match="does not match"):
        branches.namespace_for_branch(env, "exp/x")
    with pytest.raises(ValueError, match="does not match"):
        branches.namespace_for_branch(_env("exp/*", "ml-{branch}"), "exp/a/b")


def test_branches_that_differ_only_in_case_or_punctuation_get_distinct_namespaces() -> None:
    env = _env("exp/*", "ml-exp-{branch}")
    names = [branches.namespace_for_branch(env, b) for b in ("exp/a-b", "exp/a_b", "exp/A.B")]
    assert names[0] == "ml-exp-a-b"  # the branch's part as it is: no hash
    assert len(set(names)) == 3
    assert all(n.startswith("ml-exp-a-b-") and len(n) == len("ml-exp-a-b-") + 8 for n in names[1:])
    assert branches.namespace_for_branch(env, "exp/LR_Sweep.v2").startswith("ml-exp-lr-sweep-v2-")


def test_a_branch_named_like_a_system_namespace_gets_a_hash() -> None:
    env = _env("team/*", "{branch}")
    assert branches.namespace_for_branch(env, "team/ml") == "ml"
    for system in ("default", "kube-system", "reconciler-system"):
        ns = branches.namespace_for_branch(env, f"team/{system}")
        assert ns.startswith(f"{system}-") and ns != system


@pytest.mark.parametrize("ns", ["kube-system", "default", "kube-public", "kube-node-lease"])
def test_system_namespaces_are_refused_unless_allowed(ns: str) -> None:
    text = variant(ENVIRONMENT, "namespace: ml-prod", f"namespace: {ns}")
    assert environment_errors(text) == [
        f"{E}:6:3: spec.namespace: '{ns}' is a system namespace: the reconciler would own "
        "(and prune) objects there; use a namespace of its own, or set "
        "allowSystemNamespace: true"
    ]
    allowed = variant(text, "serve: true", "serve: true\n  allowSystemNamespace: true")
    assert environment(allowed).allow_system_namespace


def test_the_reconcilers_own_namespace_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "mlops-reconciler")
    text = variant(ENVIRONMENT, "namespace: ml-prod", "namespace: mlops-reconciler")
    assert environment_errors(text)[0].endswith("or set allowSystemNamespace: true")
    monkeypatch.delenv("POD_NAMESPACE")
    assert environment_errors(text) == []


def test_a_namespace_owned_by_another_branch_is_refused() -> None:
    live = {
        "metadata": {
            "name": "ml-exp-a-b",
            "labels": {"reconciler.ml/env": "exp"},
            "annotations": {"reconciler.ml/branch": "exp/a-b"},
        }
    }
    assert branches.owner_problem(live, env="exp", branch="exp/a-b") is None
    assert branches.owner_problem(live, env="exp", branch="refs/heads/exp/a-b") is None
    assert branches.owner_problem(None, env="exp", branch="exp/x") is None
    assert branches.owner_problem(live, env="exp", branch=None) is None
    problem = branches.owner_problem(live, env="exp", branch="exp/other")
    assert problem is not None
    assert problem.startswith("namespace 'ml-exp-a-b' belongs to branch 'exp/a-b'")
