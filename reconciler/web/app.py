"""The web UI as a WSGI application (Flask, Jinja2 templates, assets from the package).

Built by :func:`create_app`; served by the daemon's HTTP server at ``/`` (``reconciler run``)
and by ``reconciler ui``. Read-only by design: only GET and HEAD routes exist, and no route
calls anything that writes (the snapshot is published by whoever reconciles; Git is only
read). Routes::

    /                                        environments (search, pages)
    /envs/<env>[?branch=B]                   one environment instance and its pipelines
    /envs/<env>/changes                      pending diff (planned) / unfinished changes
    /envs/<env>/pipelines/<name>             current run's DAG, serving, promotion decision
    /envs/<env>/pipelines/<name>/runs        run history with a chart per metric
    /envs/<env>/pipelines/<name>/runs/<run>  one provenance record
    /failures                                failing environments, failed runs, retry commands
    /review?range=BASE..HEAD                 the report of ``reconciler review``
    /review.md?range=BASE..HEAD              the same report as Markdown, byte for byte
    /commits/<sha>                           a commit: subject, author, changed paths
    /events                                  server-sent events: the snapshot's version
    /api/snapshot                            the snapshot's version and states as JSON

With a token (``--ui-token-file`` or ``RECONCILER_UI_TOKEN``) every route wants
``Authorization: Bearer TOKEN`` or the cookie a ``?token=`` link sets (compared in constant
time); ``/static`` stays open (it holds nothing but the stylesheet, script and icon).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, redirect, render_template, request, url_for
from markupsafe import Markup

from reconciler import __version__
from reconciler.structs.errors import ReconcilerError
from reconciler.web import pages
from reconciler.web.readers import Readers
from reconciler.web.snapshots import EnvironmentView, Mode, SnapshotStore

COOKIE = "reconciler_ui_token"
STREAM_SECONDS = 300.0
"""A live stream ends after this long; the browser reconnects (bounds idle connections)."""
KEEPALIVE_SECONDS = 15.0
_SHA = re.compile(r"^[0-9a-fA-F]{4,40}$")
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def create_app(
    store: SnapshotStore,
    readers: Readers,
    *,
    mode: Mode = "applied",
    token: str | None = None,
    stream_seconds: float = STREAM_SECONDS,
) -> Flask:
    """Return the UI's WSGI application over a snapshot store and the Git readers.

    ``mode`` says where the snapshot comes from (``applied``: the daemon's reconciles;
    ``planned``: ``reconciler ui``'s dry runs), which changes the wording of the diff page.
    """
    here = Path(__file__).parent
    app = Flask(
        __name__,
        static_folder=str(here / "static"),
        template_folder=str(here / "templates"),
    )
    app.jinja_env.autoescape = True
    app.jinja_env.globals.update(
        version=__version__, mode=mode, link=link, short=short, ago=ago, token=bool(token)
    )
    app.extensions["reconciler"] = {"store": store, "readers": readers}

    @app.before_request
    def authorize() -> Any:
        if not token or request.path.startswith("/static/"):
            return None
        given = request.args.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), token.encode()):
                return _unauthorized()
            args = {k: v for k, v in request.args.items() if k != "token"}
            resp = redirect(request.path + ("?" + urlencode(args) if args else ""))
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            return resp
        header = request.headers.get("Authorization", "")
        offered = header[7:] if header.startswith("Bearer ") else request.cookies.get(COOKIE, "")
        if not hmac.compare_digest(offered.encode(), token.encode()):
            return _unauthorized()
        return None

    @app.after_request
    def harden(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = _CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        if not request.path.startswith("/static/"):
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(ReconcilerError)
    def reconciler_error(exc: ReconcilerError) -> Any:
        return render_template("error.html", title="Error", message=str(exc)), 400

    @app.errorhandler(404)
    def not_found(_exc: Any) -> Any:
        return render_template("error.html", title="Not found", message=_missing()), 404

    def snapshot_view(env: str) -> EnvironmentView:
        view = store.snapshot().find(env, request.args.get("branch"))
        if view is None:
            abort(404)
        return view

    def number() -> int:
        text = request.args.get("page", "1")
        return int(text) if text.isdigit() else 1

    def query() -> str:
        return request.args.get("q", "")[:200]

    def render(template: str, **context: Any) -> str:
        return render_template(template, snapshot=store.snapshot(), **context)

    @app.get("/")
    def environments() -> str:
        data = pages.overview(store.snapshot(), query=query(), number=number())
        return render("environments.html", title="Environments", **data)

    @app.get("/envs/<env>")
    def environment(env: str) -> str:
        view = snapshot_view(env)
        data = pages.environment(view, query=query(), number=number())
        return render("environment.html", title=view.key, **data)

    @app.get("/envs/<env>/changes")
    def changes(env: str) -> str:
        view = snapshot_view(env)
        data = pages.changes(view, query=query(), number=number())
        return render("changes.html", title=f"{view.key}: changes", **data)

    @app.get("/envs/<env>/pipelines/<name>")
    def pipeline(env: str, name: str) -> str:
        view = snapshot_view(env)
        p = view.pipeline(name)
        if p is None:
            abort(404)
        data = pages.pipeline(readers, view, p)
        return render("pipeline.html", title=f"{name} in {view.key}", **data)

    @app.get("/envs/<env>/pipelines/<name>/runs")
    def runs(env: str, name: str) -> str:
        view = snapshot_view(env)

        def href(run: str) -> str:
            return link("run", view, name=name, run=run)

        data = pages.runs(readers, view, name, number=number(), query=query(), href=href)
        return render("runs.html", title=f"{name} runs in {view.key}", **data)

    @app.get("/envs/<env>/pipelines/<name>/runs/<run>")
    def run(env: str, name: str, run: str) -> str:
        view = snapshot_view(env)
        data = pages.record(readers, view, name, run)
        if data is None:
            abort(404)
        return render("record.html", title=f"{name} run {run}", **data)

    @app.get("/failures")
    def failures() -> str:
        data = pages.failures(readers, store.snapshot())
        return render("failures.html", title="Failures", **data)

    @app.get("/review")
    def review() -> str:
        spec = request.args.get("range", "").strip()[:300]
        context: dict[str, Any] = {"spec": spec, "branches": readers.branches()}
        if spec:
            context["review"], context["markdown"] = readers.review(spec)
        return render("review.html", title="Review", **context)

    @app.get("/review.md")
    def review_markdown() -> Response:
        spec = request.args.get("range", "").strip()[:300]
        _review, text = readers.review(spec)
        return Response(text, mimetype="text/markdown")

    @app.get("/commits/<sha>")
    def commit(sha: str) -> str:
        if not _SHA.match(sha):
            abort(404)
        return render("commit.html", title=f"commit {sha[:12]}", c=readers.commit(sha))

    @app.get("/api/snapshot")
    def api_snapshot() -> Response:
        snap = store.snapshot()
        body = {
            "version": snap.version,
            "environments": [
                {"key": v.key, "state": v.state, "health": v.health, "inFlight": v.in_flight}
                for v in snap.environments
            ],
        }
        return Response(json.dumps(body), mimetype="application/json")

    @app.get("/events")
    def events() -> Response:
        return Response(
            _stream(store, stream_seconds),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return app


def _stream(store: SnapshotStore, seconds: float) -> Iterator[str]:
    """Yield the snapshot's version now and on every change; comments keep proxies open."""
    import time

    deadline = time.monotonic() + seconds
    version = store.snapshot().version
    yield f"retry: 3000\nevent: snapshot\ndata: {version}\n\n"
    while not store.closed and (left := deadline - time.monotonic()) > 0:
        now = store.wait_for_change(version, timeout=min(KEEPALIVE_SECONDS, left))
        if now != version:
            version = now
            yield f"event: snapshot\ndata: {version}\n\n"
        else:
            yield ": keep-alive\n\n"


def _unauthorized() -> Response:
    body = render_template("login.html", title="Sign in")
    return Response(body, status=401, headers={"WWW-Authenticate": 'Bearer realm="reconciler"'})


def _missing() -> str:
    return f"Nothing is known at {request.path}: it may not have been reconciled yet."


def link(endpoint: str, view: EnvironmentView, **values: Any) -> str:
    """Return the URL of a page of an environment instance (``?branch=`` for a pattern one)."""
    branch = view.branch if "@" in view.key else None
    return url_for(endpoint, env=view.env, branch=branch, **values)


def short(sha: str, n: int = 10) -> str:
    """Return the first ``n`` characters of a commit id (``-`` if empty)."""
    return sha[:n] if sha else "-"


def ago(when: Any) -> Markup | str:
    """Return a ``<time>`` element for a datetime (the script shows it relative)."""
    if when is None:
        return "never"
    stamp = when.strftime("%Y-%m-%d %H:%M:%SZ")
    return Markup('<time datetime="{}">{}</time>').format(when.isoformat(), stamp)
