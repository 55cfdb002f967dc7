"""SVG drawings for the pages: a metric's line over runs, and a run's step graph (DAG).

Called by :mod:`reconciler.web.pages`. Our own small module rather than a charting library:
the two drawings are a few dozen elements each, must work with no script and no asset from
outside (the pages' Content-Security-Policy forbids inline styles, so everything is drawn
with presentation attributes and CSS classes from ``static/app.css``), and must be readable
without colour (promoted runs are diamonds, others circles; phases are also written out).

Both return :class:`markupsafe.Markup`; every text in them is escaped here.

- :func:`metric_chart`: ``points`` in run order (oldest first); a dashed line marks the
  promotion gate; each point links to its run's record and has a ``<title>`` tooltip. One
  point, or all values equal, is drawn on a flat line in the middle; non-numbers are skipped.
- :func:`step_graph`: steps in columns by depth (longest path of ``needs``), edges from
  each need to the step; a ``needs`` naming no step is ignored (validation refuses it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 16, 16, 36


@dataclass(frozen=True)
class Point:
    """One run on a metric chart: its label (run name), value, record link and promotion."""

    label: str
    value: float
    href: str = ""
    promoted: bool = False


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _scale(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if low == high:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.08
    return low - pad, high + pad


def metric_chart(metric: str, points: Sequence[Point], *, gate: float | None = None) -> Markup:
    """Return an SVG line chart of one metric over runs (oldest left), promoted runs marked."""
    values = [p.value for p in points]
    if gate is not None:
        values.append(gate)
    if not points:
        return Markup("")
    low, high = _scale(values)
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(i: int) -> float:
        return PAD_LEFT + (inner_w * (i + 0.5) / len(points))

    def y(v: float) -> float:
        return PAD_TOP + inner_h * (1 - (v - low) / (high - low))

    title = f"{metric} over {len(points)} run(s)"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" '
        f'y2="{HEIGHT - PAD_BOTTOM}"/>',
        f'<line class="axis" x1="{PAD_LEFT}" y1="{HEIGHT - PAD_BOTTOM}" x2="{WIDTH - PAD_RIGHT}" '
        f'y2="{HEIGHT - PAD_BOTTOM}"/>',
    ]
    for v in (low, (low + high) / 2, high):
        parts.append(
            f'<text class="tick" x="{PAD_LEFT - 6}" y="{y(v) + 4:.1f}" '
            f'text-anchor="end">{escape(_fmt(v))}</text>'
        )
    if gate is not None:
        parts.append(
            f'<line class="gate" x1="{PAD_LEFT}" y1="{y(gate):.1f}" x2="{WIDTH - PAD_RIGHT}" '
            f'y2="{y(gate):.1f}"><title>gate {escape(metric)} &gt;= {escape(_fmt(gate))}'
            "</title></line>"
        )
    path = " ".join(f"{x(i):.1f},{y(p.value):.1f}" for i, p in enumerate(points))
    parts.append(f'<polyline class="series" points="{path}"/>')
    step = max(1, len(points) // 8)
    for i, p in enumerate(points):
        parts.append(_marker(x(i), y(p.value), p, metric))
        if i % step == 0 or i == len(points) - 1:
            parts.append(
                f'<text class="tick" x="{x(i):.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" '
                f'text-anchor="middle">{escape(p.label[:10])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _marker(cx: float, cy: float, p: Point, metric: str) -> str:
    tip = f"{p.label}: {metric} = {_fmt(p.value)}" + (" (promoted)" if p.promoted else "")
    if p.promoted:
        r = 7
        shape = (
            f'<polygon class="point promoted" points="{cx:.1f},{cy - r:.1f} {cx + r:.1f},{cy:.1f} '
            f'{cx:.1f},{cy + r:.1f} {cx - r:.1f},{cy:.1f}"><title>{escape(tip)}</title></polygon>'
        )
    else:
        shape = (
            f'<circle class="point" cx="{cx:.1f}" cy="{cy:.1f}" r="4">'
            f"<title>{escape(tip)}</title></circle>"
        )
    if p.href:
        return f'<a href="{escape(p.href)}" aria-label="{escape(tip)}">{shape}</a>'
    return shape


@dataclass(frozen=True)
class Node:
    """One step on the graph: name, the steps it needs, phase and a short caption."""

    name: str
    needs: tuple[str, ...]
    phase: str
    caption: str = ""


NODE_W, NODE_H, GAP_X, GAP_Y = 150, 46, 40, 18


def _depths(nodes: Sequence[Node]) -> dict[str, int]:
    names = {n.name for n in nodes}
    needs = {n.name: [m for m in n.needs if m in names] for n in nodes}
    depth: dict[str, int] = {}

    def visit(name: str, seen: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        if name in seen:  # a cycle (validation refuses them): stop here
            return 0
        d = 1 + max((visit(m, seen | {name}) for m in needs[name]), default=-1)
        depth[name] = d
        return d

    for n in nodes:
        visit(n.name, frozenset())
    return depth


def step_graph(nodes: Sequence[Node]) -> Markup:
    """Return an SVG of a run's steps in columns by depth, edges from needs, phase-coloured."""
    if not nodes:
        return Markup("")
    depth = _depths(nodes)
    columns: dict[int, list[Node]] = {}
    for n in nodes:
        columns.setdefault(depth[n.name], []).append(n)
    rows = max(len(c) for c in columns.values())
    width = len(columns) * (NODE_W + GAP_X) - GAP_X + 2
    height = rows * (NODE_H + GAP_Y) - GAP_Y + 2
    where: dict[str, tuple[float, float]] = {}
    for d, col in sorted(columns.items()):
        for i, n in enumerate(col):
            where[n.name] = (1 + d * (NODE_W + GAP_X), 1 + i * (NODE_H + GAP_Y))
    label = "steps: " + ", ".join(f"{n.name} {n.phase}" for n in nodes)
    parts = [
        f'<svg class="dag" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for n in nodes:
        x2, y2 = where[n.name]
        for m in n.needs:
            if m not in where:
                continue
            x1, y1 = where[m]
            parts.append(
                f'<line class="edge" x1="{x1 + NODE_W:.0f}" y1="{y1 + NODE_H / 2:.0f}" '
                f'x2="{x2:.0f}" y2="{y2 + NODE_H / 2:.0f}"/>'
            )
    for n in nodes:
        x0, y0 = where[n.name]
        phase = n.phase.lower()
        parts.append(
            f'<g class="node {escape(phase)}"><rect x="{x0:.0f}" y="{y0:.0f}" width="{NODE_W}" '
            f'height="{NODE_H}" rx="6"/>'
            f'<text x="{x0 + 10:.0f}" y="{y0 + 19:.0f}" class="name">{escape(n.name[:20])}</text>'
            f'<text x="{x0 + 10:.0f}" y="{y0 + 36:.0f}" class="phase">'
            f"{escape(n.phase)}{escape(' · ' + n.caption if n.caption else '')}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
