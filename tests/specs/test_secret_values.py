"""Credentials caught by their value, not only their name: spec checks and record scrubbing."""

from __future__ import annotations

import pytest

from reconciler.provenance import scrubbing
from reconciler.structs import secrets
from tests.specs.samples import PIPELINE, pipeline, pipeline_errors, variant

# Made-up values of each shape (none is a real credential).
PLANTED = {
    "github": "ghp_" + "Ab3De6Gh9Jk2Mn5Pq8St1Vw4Yz7Bc0Ef3Hi6",
    "github_pat": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCD",
    "gitlab": "glpat-Zx9Cv8Bn7Mq6Wl5Ek4Rj",
    "slack": "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp",
    "aws": "AKIAQWERTYUIOPASDFGH",
    "openai": "sk-proj-Qw3Er5Ty7Ui9Op1As3Df5Gh7",
    "huggingface": "hf_QwErTyUiOpAsDfGhJkLzXcVbNm123456",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZWNvbmNpbGVyIn0.c2lnbmF0dXJlLXZhbHVlLXgxMjM",
    "url": "postgres://ml:Hunter2Secret@db.example.com:5432/runs",
    "random": "Zq8vL2mX9pR4tY7wK3nB6cF1hJ5dG0sAuE",
}
NOT_SECRETS = [
    "d41d8cd98f00b204e9800998ecf8427e",  # an md5
    "0123456789abcdef0123456789abcdef01234567",  # a commit id
    "sha256:" + "ab" * 32,  # a digest
    "123e4567-e89b-12d3-a456-426614174000",  # a uid
    "s3://models/resnet50/{run}/",
    "registry.example.com/vision/resnet-train:1.4.2",
    "ssh://git@github.com/example/pipelines.git",
    "TokenizersParallelismDisabledForV2",
    "python train.py --lr 0.01 --epochs 10",
]


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_credential_values_are_recognised_and_redacted(name: str) -> None:
    value = PLANTED[name]
    assert secrets.find_secret(f"--token={value} more")
    redacted = secrets.redact(f"before {value} after")
    assert value not in redacted and redacted.startswith("before ")


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_ordinary_values_are_left_alone(text: str) -> None:
    assert secrets.find_secret(text) == ""
    assert secrets.redact(text) == text


def test_a_secret_value_in_env_under_a_harmless_name_is_an_error() -> None:
    text = variant(PIPELINE, "env: {LOG_LEVEL: info}", f"env: {{LOG_LEVEL: {PLANTED['github']}}}")
    errors = pipeline_errors(text)
    assert errors == [
        "pipelines/resnet50.yaml:19:13: spec.steps[1].env.LOG_LEVEL: looks like a GitHub "
        "token: keep credentials in a Secret (secretEnv), or, if it is not one, name "
        "'LOG_LEVEL' in metadata.annotations[\"reconciler.ml/not-secret\"]"
    ]
    assert PLANTED["github"] not in "\n".join(errors)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("args: []", f"args: [--key, {PLANTED['aws']}]", "spec.steps[1].args[1]"),
        ("seed: 42}", f"seed: 42, api: {PLANTED['openai']}}}", "spec.params.api"),
        (
            "command: [python, eval.py]",
            f"command: [python, eval.py, {PLANTED['url']}]",
            "spec.steps[2].command[2]",
        ),
    ],
)
def test_secret_values_anywhere_in_the_spec(old: str, new: str, field: str) -> None:
    (error,) = pipeline_errors(variant(PIPELINE, old, new))
    assert f": {field}: looks like " in error


def test_the_escape_hatch_names_a_value_that_is_not_a_secret() -> None:
    text = variant(PIPELINE, "seed: 42}", f"seed: 42, corpus: {PLANTED['random']}}}")
    assert pipeline_errors(text)
    allowed = variant(
        text,
        "labels: {team: vision}",
        'labels: {team: vision}\n  annotations: {reconciler.ml/not-secret: "corpus, other"}',
    )
    p = pipeline(allowed)
    assert dict(p.params)["corpus"] == PLANTED["random"]
    # The record keeps it too: the scrubber honours the same annotation.
    record = {"spec": p.raw, "params": dict(p.params), "note": PLANTED["random"]}
    out = scrubbing.scrub(record)
    assert out["params"]["corpus"] == PLANTED["random"]
    assert out["spec"]["spec"]["params"]["corpus"] == PLANTED["random"]
    assert out["note"] == secrets.REDACTED  # not under a declared key


def test_scrubbing_removes_values_everywhere_in_a_record() -> None:
    record = {
        "params": {"seed": 1, "notes": f"see {PLANTED['slack']}"},
        "spec": {
            "spec": {
                "steps": [
                    {
                        "env": {"LOG_LEVEL": PLANTED["huggingface"]},
                        "args": ["--jwt", PLANTED["jwt"]],
                    }
                ]
            }
        },
        "steps": [{"reason": f"pull failed: {PLANTED['url']}", "metrics": {"auc": 0.9}}],
        "source": {"commit": NOT_SECRETS[1]},
        "datasets": [{"md5": NOT_SECRETS[0]}],
    }
    out = scrubbing.scrub(record)
    text = repr(out)
    for value in PLANTED.values():
        assert value not in text
    assert out["source"]["commit"] == NOT_SECRETS[1]
    assert out["datasets"][0]["md5"] == NOT_SECRETS[0]
    assert out["steps"][0]["reason"] == "pull failed: postgres://ml@db.example.com:5432/runs"
    assert out["steps"][0]["metrics"] == {"auc": 0.9}
