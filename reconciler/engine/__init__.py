"""The engine: joins the stages of the data path for one environment instance.

    resolve source -> prepare -> list live -> track runs -> render -> sync
    -> mark applied -> outcome

The one public surface of the package (``__all__``); the CLI (one-shot commands and the
daemon's wiring), review and the tests use it. Modules:

- :mod:`~reconciler.engine.seams`: what a reconcile takes (:class:`Context`) and returns
  (:class:`Outcome`);
- :mod:`~reconciler.engine.reconciling`: :func:`reconcile`, the steps in order, and
  :func:`prepare_ahead`, the daemon's preparation of a pushed commit before its reconcile;
- :mod:`~reconciler.engine.preparing`: the first step, an environment instance prepared at
  a commit (once per process; the daemon's turns to prepare);
- :mod:`~reconciler.engine.stages`: the steps after it, one plain function each (list
  live, track runs, sync, mark applied), shared by ``reconcile`` and the scoped pass;
- :mod:`~reconciler.engine.scoping`: the daemon's scoped first pass (the pipelines a push
  changed, applied before the rest of the environment);
- :mod:`~reconciler.engine.precedence`: the daemon's full passes waiting while another
  environment prepares a new commit;
- :mod:`~reconciler.engine.sources`: the first step, which commit to render (and whether a
  newer one superseded it);
- :mod:`~reconciler.engine.reporting`: the log lines of a sync (change set, runs started);
- :mod:`~reconciler.engine.outcomes`: the last step, the :class:`Outcome` and each
  pipeline's status;
- :mod:`~reconciler.engine.retrying`: ``reconciler retry``'s request;
- :mod:`~reconciler.engine.reviewing`: ``review --live``'s dry run of a commit.

Nothing here is remembered between calls; the stages own the rules (``runs`` decides run
states, ``apply`` what to write, ``health`` how things are).
"""

from __future__ import annotations

from reconciler.engine.precedence import Precedence, PrepareSlots
from reconciler.engine.preparing import prepare_target
from reconciler.engine.reconciling import REQUEUE_IN_FLIGHT, prepare_ahead, reconcile
from reconciler.engine.retrying import request_retry
from reconciler.engine.reviewing import live_plan
from reconciler.engine.seams import Context, Outcome, ScopedPass, Source, Superseded
from reconciler.engine.sources import branch_hint
from reconciler.health.pipelines import PipelineStatus, StepStatus
from reconciler.render.environments import default_branch, discover_targets, environments_at
from reconciler.runs.retries import RetryRequest

__all__ = [
    "REQUEUE_IN_FLIGHT",
    "Context",
    "Outcome",
    "PipelineStatus",
    "Precedence",
    "PrepareSlots",
    "RetryRequest",
    "ScopedPass",
    "Source",
    "StepStatus",
    "Superseded",
    "branch_hint",
    "default_branch",
    "discover_targets",
    "environments_at",
    "live_plan",
    "prepare_ahead",
    "prepare_target",
    "reconcile",
    "request_retry",
]
