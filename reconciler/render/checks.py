"""Validate a whole repository tree: every overlay builds, every spec and pointer is sound.

Used by ``reconciler validate`` (and review). Collects every error at once; never raises
for bad input in the repository.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.render import environments, overlays
from reconciler.specs.models import Environment
from reconciler.structs.errors import RenderError, SpecError, SpecErrors


@dataclass
class EnvironmentReport:
    """One environment's result: its pipelines' run ids, or why it failed."""

    name: str
    namespace: str = ""
    runs: dict[str, str] = field(default_factory=dict)
    datasets: int = 0
    objects: int = 0


@dataclass
class Report:
    """The result of validating a repository tree."""

    environments: list[EnvironmentReport] = field(default_factory=list)
    errors: list[SpecError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if no error was found."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of ``--format json``."""
        return {
            "ok": self.ok,
            "errors": [e.to_dict() for e in sorted(set(self.errors))],
            "environments": [
                {
                    "name": e.name,
                    "namespace": e.namespace,
                    "runs": e.runs,
                    "datasets": e.datasets,
                    "objects": e.objects,
                }
                for e in self.environments
            ],
        }


def sample_target(env: Environment) -> environments.Target:
    """Return a target to validate an environment with (a sample branch for a pattern)."""
    branch = env.branch
    for wildcard in ("*", "?"):
        branch = branch.replace(wildcard, "example")
    return environments.target_for(env, branch)


def load(root: Path, name: str) -> overlays.Overlay:
    """Load an overlay, turning a Kustomize failure into an error on the overlay's path."""
    try:
        return overlays.load_overlay(root, name)
    except RenderError as e:
        path = f"{overlays.OVERLAYS_DIR}/{name}/kustomization.yaml"
        return overlays.Overlay(
            name=name, path=path, env=None, errors=[SpecError(path, 0, 0, "", str(e))]
        )
    except SpecErrors as e:
        return overlays.Overlay(name=name, path=name, env=None, errors=list(e.errors))


def validate_tree(root: Path, *, check_remote: bool = True, only: str | None = None) -> Report:
    """Validate every overlay of a repository tree (or only ``only``)."""
    report = Report()
    names = overlays.environment_names(root)
    if only is not None:
        names = [n for n in names if n == only]
    if not names:
        what = f"no overlay {only!r}" if only else "no overlays"
        report.errors.append(
            SpecError(
                overlays.OVERLAYS_DIR,
                0,
                0,
                "",
                f"{what} (expected overlays/<env>/kustomization.yaml)",
            )
        )
        return report
    seen: set[SpecError] = set()
    for name in names:
        overlay = load(root, name)
        errors = list(overlay.errors)
        env_report = EnvironmentReport(name=name)
        if overlay.env is not None:
            try:
                target = sample_target(overlay.env)
            except ValueError as e:
                errors.append(
                    SpecError(f"{overlay.path}/environment.yaml", 0, 0, "spec.namespace", str(e))
                )
            else:
                prepared = environments.prepare(root, overlay, target, check_remote=check_remote)
                errors = prepared.errors
                env_report.namespace = target.namespace
                env_report.runs = {n: p.run_id for n, p in sorted(prepared.run_specs.items())}
                env_report.datasets = sum(len(p.datasets) for p in prepared.run_specs.values())
                env_report.objects = len(environments.render_objects(prepared, all_steps=True))
        for err in errors:
            if err not in seen:
                seen.add(err)
                report.errors.append(err)
        report.environments.append(env_report)
    report.errors.sort()
    return report
