"""Transcripts of what a client saw, normalized so two servers' answers can be compared.

A scenario (a test function of ``tests/sandbox``) runs once against the sandbox and once
against kube-apiserver; every HTTP exchange (:func:`tests.sandbox.http.call`) and every
kubectl run is recorded. :func:`compare` lists where the two differ after
:func:`normalize` has replaced what legitimately differs between any two servers (uids,
resourceVersions, timestamps, allocated IPs, generated name suffixes, continue tokens,
object ages in kubectl tables). Polling loops are folded: consecutive identical requests
keep only their last answer, so a server that is faster to converge does not count as
different.

Callers: ``tests/cluster/test_differential.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tests.sandbox.http import Exchange

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
_IP = re.compile(r"\b(10|172|192)\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")
_AGE = re.compile(r"(?<=\s)(\d+[smhd])+(?=\s|$)")
_SUFFIX = re.compile(r"-[bcdfghjklmnpqrstvwxz2456789]{5}\b")
_HASH = re.compile(r"\b(sha256:)?[0-9a-f]{64}\b")
_RV_TEXT = re.compile(r'("?resourceVersion"?\s*[:=]\s*"?)\d+')
_CONTINUE = re.compile(r"(?<=continue=)[A-Za-z0-9%_=-]+")
_RV_MESSAGE = re.compile(r"(resource version: |current: |ResourceVersion in record \()\d+")
_VOLATILE = {
    "uid": "<uid>",
    "resourceVersion": "<rv>",
    "continue": "<continue>",
    "clusterIP": "<ip>",
    "podIP": "<ip>",
    "hostIP": "<ip>",
    "containerID": "<id>",
    "bootID": "<id>",
    "remainingItemCount": "<n>",
}


@dataclass
class Step:
    """One normalized exchange: what was asked, and what came back."""

    request: str
    code: int
    body: Any
    headers: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (for failure messages)."""
        return {"request": self.request, "code": self.code, "body": self.body}


_DIFF_FILE = re.compile(r"/tmp/(LIVE|MERGED)-\d+")
_FILE_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ [+-]\d{4}")


def _text(s: str) -> str:
    s = _DIFF_FILE.sub(r"/tmp/\1-<n>", s)
    s = _FILE_TIME.sub("<time>", s)
    s = _UUID.sub("<uid>", s)
    s = _TIME.sub("<time>", s)
    s = _IP.sub("<ip>", s)
    s = _HASH.sub("<hash>", s)
    s = _RV_TEXT.sub(r"\1<rv>", s)
    s = _CONTINUE.sub("<continue>", s)
    s = _RV_MESSAGE.sub(r"\1<rv>", s)
    s = _SUFFIX.sub("-<suffix>", s)
    return _AGE.sub("<age>", s)


def normalize(value: Any, key: str = "") -> Any:
    """Return ``value`` with server-specific values replaced by placeholders."""
    if key in _VOLATILE and value not in (None, "", "None"):
        return _VOLATILE[key]
    if key in ("clusterIPs", "podIPs", "hostIPs") and isinstance(value, list):
        return ["<ip>" for _ in value]
    if key == "managedFields" and isinstance(value, list):
        return _managers(value)
    if isinstance(value, dict):
        return {_text(k): normalize(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, str):
        return _text(value)
    return value


def _managers(entries: list[Any]) -> dict[str, Any]:
    """managedFields keyed by ``manager|operation|subresource`` (so a difference names
    the entry), with their order kept apart."""
    keyed: dict[str, Any] = {}
    for e in entries:
        if not isinstance(e, dict):
            continue
        ident = f"{e.get('manager')}|{e.get('operation')}|{e.get('subresource', '')}"
        keyed[ident] = {k: normalize(v, k) for k, v in e.items()}
    return {"order": list(keyed), "entries": keyed}


def _step_of(ex: Exchange) -> Step:
    body = ex.response.body
    if isinstance(body, str):
        body = _text(body)
    headers = {
        k: _text(v)
        for k, v in ex.response.headers.items()
        if k.lower() in ("content-type", "warning")
    }
    request = f"{ex.method} {_text(ex.path)}"
    if ex.request is not None:
        request += " " + json.dumps(normalize(ex.request), sort_keys=True)
    return Step(request, ex.response.code, normalize(body), headers)


def kubectl_step(args: tuple[str, ...], stdin: str | None, code: int, out: str, err: str) -> Step:
    """Return a kubectl run as a step (arguments, exit code, output)."""
    request = "kubectl " + _text(" ".join(args))
    if stdin:
        request += " <<< " + _text(stdin)
    try:
        stdout: Any = normalize(json.loads(out)) if out.lstrip().startswith("{") else _text(out)
    except ValueError:
        stdout = _text(out)
    return Step(request, code, {"stdout": stdout, "stderr": _text(err)}, {})


def fold(steps: list[Step]) -> list[Step]:
    """Keep only the last of consecutive steps with the same request (polling)."""
    out: list[Step] = []
    for s in steps:
        if out and out[-1].request == s.request:
            out[-1] = s
        else:
            out.append(s)
    return out


def steps_of(exchanges: list[Any]) -> list[Step]:
    """Normalize recorded HTTP exchanges (kubectl runs are already steps)."""
    return [ex if isinstance(ex, Step) else _step_of(ex) for ex in exchanges]


@dataclass
class Difference:
    """Where the two servers' answers part: step index, request, JSON pointer, values."""

    index: int
    request: str
    pointer: str
    sandbox: Any
    kube: Any

    def __str__(self) -> str:
        return (
            f"#{self.index} {self.request[:160]}\n    at {self.pointer or '/'}: "
            f"sandbox={json.dumps(self.sandbox)[:300]}  kube={json.dumps(self.kube)[:300]}"
        )


def _diff(a: Any, b: Any, pointer: str, out: list[tuple[str, Any, Any]]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            p = f"{pointer}/{k}"
            if k not in a:
                out.append((p, "<absent>", b[k]))
            elif k not in b:
                out.append((p, a[k], "<absent>"))
            else:
                _diff(a[k], b[k], p, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{pointer}/{i}", out)
    elif a != b:
        out.append((pointer, a, b))


def compare(sandbox: list[Step], kube: list[Step]) -> list[Difference]:
    """List every difference between two folded transcripts, step by step."""
    out: list[Difference] = []
    for i in range(max(len(sandbox), len(kube))):
        s = sandbox[i] if i < len(sandbox) else None
        k = kube[i] if i < len(kube) else None
        if s is None or k is None or s.request != k.request:
            out.append(
                Difference(
                    i,
                    (s or k).request if (s or k) else "",  # type: ignore[union-attr]
                    "(request)",
                    s.request if s else None,
                    k.request if k else None,
                )
            )
            break  # the scenarios diverged; later steps are not comparable
        found: list[tuple[str, Any, Any]] = []
        _diff(
            {"code": s.code, "body": s.body, "headers": s.headers},
            {"code": k.code, "body": k.body, "headers": k.headers},
            "",
            found,
        )
        out += [Difference(i, s.request, p, a, b) for p, a, b in found]
    return out
