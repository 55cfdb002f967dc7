"""Durations, quantities, secret-looking names and git ref names."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.specs import branches, patterns, units


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("6h", 21600), ("1h30m", 5400), ("90s", 90), ("1h0m5s", 3605), ("0h1s", 1)],
)
def test_durations(text: str, seconds: int) -> None:
    assert units.spec_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "0s", "0h0m", "1d", "6 h", "1m1h", "3600", "1.5h", "h", "1hh"]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        units.spec_duration(text)


@given(st.integers(min_value=1, max_value=10**9))
def test_duration_round_trip(seconds: int) -> None:
    assert units.spec_duration(units.format_duration(seconds)) == seconds


@given(
    st.integers(min_value=0, max_value=999),
    st.integers(min_value=0, max_value=59),
    st.integers(min_value=0, max_value=59),
)
def test_duration_parts(h: int, m: int, s: int) -> None:
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    if h + m + s == 0:
        with pytest.raises(ValueError):
            units.spec_duration(text or "0s")
    else:
        assert units.spec_duration(text) == h * 3600 + m * 60 + s


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("16Gi", Decimal(16 * 2**30)),
        ("1.5", Decimal("1.5")),
        ("1e3", Decimal(1000)),
        ("128974848", Decimal(128974848)),
        ("129M", Decimal(129_000_000)),
        (".5", Decimal("0.5")),
        ("+1k", Decimal(1000)),
    ],
)
def test_quantities(text: str, value: Decimal) -> None:
    assert units.parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["", "0", "0m", "-1", "16GB", "1.2.3", "Gi", "1 Gi", "1gi", "1e", "1e999", "9Ei" * 2]
)
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError):
        units.parse_quantity(text)


SUFFIXES = {  # an independent table (9000Ti is still < 2^63 milli)
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(1000),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "Ki": Decimal(1024),
    "Mi": Decimal(1024**2),
    "Gi": Decimal(1024**3),
    "Ti": Decimal(1024**4),
}


@given(st.integers(min_value=1, max_value=8000), st.sampled_from(sorted(SUFFIXES)))
def test_quantity_of_integer_and_suffix(n: int, suffix: str) -> None:
    assert units.parse_quantity(f"{n}{suffix}") == Decimal(n) * SUFFIXES[suffix]


@given(st.text(max_size=12))
def test_quantity_parser_only_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        assert units.parse_quantity(text) > 0


@pytest.mark.parametrize(
    "name",
    [
        "WANDB_API_KEY",
        "OPENAI_APIKEY",
        "HF_TOKEN",
        "GITHUB_TOKEN",
        "AWS_SESSION_TOKEN",
        "TOKEN",
        "hf_token",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "DB_PASSWORD",
        "PGPASSWORD",
        "MYSQL_PASSWD",
        "CLIENT_SECRET",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "SSH_PRIVATE_KEY",
        "ACCESS_TOKEN_V2",
    ],
)
def test_secret_looking_names(name: str) -> None:
    assert patterns.looks_like_secret(name)


@pytest.mark.parametrize(
    "name",
    [
        "LOG_LEVEL",
        "TOKENIZERS_PARALLELISM",
        "MAX_TOKENS",
        "MAX_NEW_TOKENS",
        "HF_HOME",
        "HF_TOKEN_FILE",
        "SECRET_NAME",
        "CUDA_VISIBLE_DEVICES",
        "SORT_KEY",
        "PYTHONUNBUFFERED",
    ],
)
def test_plain_names(name: str) -> None:
    assert not patterns.looks_like_secret(name)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("main", True),
        ("experiments/resnet50", True),
        ("exp/lr-sweep", True),
        ("", False),
        ("a..b", False),
        ("a/.b", False),
        ("a.lock", False),
        ("a/", False),
        ("a//b", False),
        ("a b", False),
        ("a:b", False),
        ("a@{1}", False),
        ("@", False),
        ("-a", False),
        ("refs/heads/main", False),
        ("a.", False),
    ],
)
def test_ref_names(name: str, ok: bool) -> None:
    assert (branches.ref_name_problem(name) is None) is ok
