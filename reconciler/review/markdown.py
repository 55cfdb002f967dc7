"""Format a review as Markdown fit to post as a pull-request comment (CML-style)."""

from __future__ import annotations

from typing import Any

from reconciler.review.reports import Review

MAX_DIFF_LINES = 200


def _value(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return f"`{v}`"


def format_markdown(review: Review) -> str:
    """Return the report as Markdown."""
    out = [
        f"## reconciler review: `{review.base}..{review.head}`",
        "",
        f"Base `{review.base_commit[:12]}`, head `{review.head_commit[:12]}`. "
        + ("**This branch changes:**" if review.changed else "No changes in any environment."),
    ]
    for env in review.environments:
        if not env.changed and not env.errors:
            continue
        out += [
            "",
            f"### Environment `{env.env}` (branch `{env.branch}`, namespace `{env.namespace}`)",
            "",
        ]
        for err in env.errors:
            out.append(f"- :x: {err}")
        if env.runs:
            out += ["| pipeline | base run | head run | what happens |", "|---|---|---|---|"]
            for r in env.runs:
                out.append(
                    f"| {r.pipeline} | {_value(r.base_run)} | {_value(r.head_run)} | {r.action} |"
                )
        params = [(r.pipeline, p) for r in env.runs for p in r.params]
        if params:
            out += ["", "**Params**", "", "| pipeline | param | base | head |", "|---|---|---|---|"]
            for pipeline, (name, b, h) in params:
                out.append(f"| {pipeline} | {name} | {_value(b)} | {_value(h)} |")
        datasets = [(r.pipeline, d) for r in env.runs for d in r.datasets]
        if datasets:
            out += [
                "",
                "**Datasets**",
                "",
                "| pipeline | dataset | path | base md5 | head md5 | base size | head size |",
                "|---|---|---|---|---|---|---|",
            ]
            for pipeline, d in datasets:
                out.append(
                    f"| {pipeline} | {d['dataset']} | `{d['path']}` | {_value(d['baseMd5'])} | "
                    f"{_value(d['headMd5'])} | {_value(d['baseSize'])} | {_value(d['headSize'])} |"
                )
        if env.live is not None:
            out += [
                "",
                f"**Live plan** (server-side dry run against the cluster): {len(env.live)} change(s)",
            ]
            out += [""] + [f"- `{line}`" for line in env.live[:50]]
            if len(env.live) > 50:
                out.append(f"- ... {len(env.live) - 50} more")
        if env.objects:
            counts: dict[str, int] = {}
            for o in env.objects:
                counts[o.action] = counts.get(o.action, 0) + 1
            summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
            out += ["", f"<details><summary>Objects: {summary}</summary>", ""]
            for o in env.objects:
                out.append(f"- `{o.ref}` {o.action}")
            diffs = [o for o in env.objects if o.action == "changed" and o.diff]
            if diffs:
                lines: list[str] = []
                for o in diffs:
                    lines += o.diff.splitlines()
                if len(lines) > MAX_DIFF_LINES:
                    lines = [
                        *lines[:MAX_DIFF_LINES],
                        f"... {len(lines) - MAX_DIFF_LINES} more lines",
                    ]
                out += ["", "```diff", *lines, "```"]
            out += ["", "</details>"]
    if review.metrics:
        out += [
            "",
            "### Metrics",
            "",
            "| pipeline | metric | base (served) | head | Δ |",
            "|---|---|---|---|---|",
        ]
        for m in review.metrics:
            delta = "" if m.delta is None else f"{m.delta:+.4g}"
            out.append(
                f"| {m.pipeline} | {m.metric} | {_value(m.base)} ({m.base_env} `{m.base_run}`) | "
                f"{_value(m.head)} ({m.head_env} `{m.head_run}`) | {delta} |"
            )
    return "\n".join(out) + "\n"
