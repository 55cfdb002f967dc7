"""Leader election on a coordination.k8s.io/v1 Lease: only the leader reconciles.

Used by :mod:`reconciler.daemon.loop` with ``--leader-elect``. The algorithm is client-go's:

- A candidate reads the Lease. It takes it when it does not exist (create), when it has no
  holder (released), or when the holder's record has not changed for the holder's
  ``leaseDurationSeconds`` *as observed on the candidate's own clock* (so clocks need not
  agree; ``renewTime`` is informative). A change is dated from the candidate's previous
  read (it happened after that), within a margin that keeps two leaders from overlapping,
  and the candidate tries again the moment the lease expires rather than at its next
  retry: after ``kill -9`` of a leader (defaults 15 s, 10 s, 2 s) a standby takes over
  11-15 s after the kill, within the lease duration.
- Every write is a compare-and-swap: ``replace`` with the ``resourceVersion`` that was
  read, so of two candidates racing for an expired lease exactly one wins (the other gets
  409 and stays a standby).
- The leader renews every ``retry_period``. If it cannot renew for ``renew_deadline``
  (shorter than the lease duration), or it finds another holder, it stops leading at once,
  before anyone else may take over; it keeps trying and can lead again later.
- On a clean shutdown the leader releases the lease (empty holder, 1 s duration), so a
  standby takes over at its next retry instead of waiting for expiry. After ``kill -9``
  a standby takes over once the lease duration has passed without a renewal.

The ``leading`` event is the gate the reconcile workers wait on.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

DEFAULT_LEASE_NAME = "reconciler-leader"
DEFAULT_NAMESPACE = "reconciler-system"
_SERVICEACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def default_identity() -> str:
    """Return this process's candidate identity: the pod name (or host name) and a nonce.

    The nonce keeps two processes on one host apart, and a restarted pod from its
    previous life (which must not be mistaken for the current holder).
    """
    base = os.environ.get("POD_NAME") or socket.gethostname() or "reconciler"
    return f"{base}_{uuid.uuid4().hex[:8]}"


def default_namespace() -> str:
    """Return the namespace for the lease: ``POD_NAMESPACE``, the in-cluster namespace, or
    ``reconciler-system``."""
    if ns := os.environ.get("POD_NAMESPACE"):
        return ns
    try:
        with open(_SERVICEACCOUNT_NAMESPACE, encoding="utf-8") as f:
            return f.read().strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE


@dataclass(frozen=True)
class LeaseConfig:
    """Where the lease is and its timing (client-go's defaults: 15 s, 10 s, 2 s)."""

    name: str = DEFAULT_LEASE_NAME
    namespace: str = DEFAULT_NAMESPACE
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election: need 0 < retry period < renew deadline < lease duration, got "
                f"{self.retry_period}, {self.renew_deadline}, {self.lease_duration}"
            )


class Attempt(enum.Enum):
    """The result of one try to take or renew the lease."""

    LEADING = "leading"
    HELD_BY_OTHER = "held by another candidate"
    CONFLICT = "lost a race for the lease"
    ERROR = "API error"


def _now_utc() -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    # MicroTime is parsed with exactly six fractional digits; isoformat() omits them when 0.
    return now if now.microsecond else now.replace(microsecond=1)


class LeaderElector:
    """Hold (or wait for) one Lease in a background thread; ``leading`` says who writes."""

    def __init__(
        self,
        api_client: client.ApiClient,
        config: LeaseConfig,
        *,
        on_started: Callable[[], None] | None = None,
        on_stopped: Callable[[], None] | None = None,
    ) -> None:
        self.api = client.CoordinationV1Api(api_client)
        self.config = config
        self.on_started = on_started
        self.on_stopped = on_stopped
        self.leading = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observed: tuple[object, ...] | None = None
        self._observed_at = 0.0
        self._last_renew = 0.0
        self._last_read: float | None = None
        self._expires_at: float | None = None

    # -- one attempt -------------------------------------------------------------------

    def try_acquire_or_renew(self) -> Attempt:
        """Take the lease if it is free or expired, renew it if ours; never raises."""
        cfg = self.config
        timeout = max(0.5, min(cfg.retry_period * 2, cfg.renew_deadline / 2))
        now = time.monotonic()
        try:
            lease = self.api.read_namespaced_lease(
                cfg.name, cfg.namespace, _request_timeout=timeout
            )
        except ApiException as exc:
            if exc.status != 404:
                log.warning("reading lease %s/%s failed: %s", cfg.namespace, cfg.name, _why(exc))
                return Attempt.ERROR
            return self._create(now, timeout)
        except Exception as exc:  # connection refused, timeout
            log.warning("reading lease %s/%s failed: %s", cfg.namespace, cfg.name, exc)
            return Attempt.ERROR
        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity or ""
        record = (holder, spec.renew_time, spec.lease_duration_seconds, spec.lease_transitions)
        duration = spec.lease_duration_seconds or cfg.lease_duration
        previous_read, self._last_read = self._last_read, now
        if record != self._observed:
            self._observed, self._observed_at = record, now - self._backdate(now, previous_read)
        if holder and holder != cfg.identity and now < self._observed_at + duration:
            self._expires_at = self._observed_at + duration
            return Attempt.HELD_BY_OTHER
        stamp = _now_utc()
        ours = holder == cfg.identity
        lease.spec = client.V1LeaseSpec(
            holder_identity=cfg.identity,
            lease_duration_seconds=max(1, round(cfg.lease_duration)),
            acquire_time=spec.acquire_time if ours and spec.acquire_time else stamp,
            renew_time=stamp,
            lease_transitions=(spec.lease_transitions or 0) + (0 if ours else 1),
        )
        try:  # compare-and-swap: metadata.resourceVersion is the one we read
            written = self.api.replace_namespaced_lease(
                cfg.name, cfg.namespace, lease, _request_timeout=timeout
            )
        except ApiException as exc:
            if exc.status == 409:
                return Attempt.CONFLICT
            log.warning("updating lease %s/%s failed: %s", cfg.namespace, cfg.name, _why(exc))
            return Attempt.ERROR
        except Exception as exc:
            log.warning("updating lease %s/%s failed: %s", cfg.namespace, cfg.name, exc)
            return Attempt.ERROR
        self._remember(written, now)
        if not ours:
            log.info("took the lease from %r", holder or "nobody", extra={"lease": cfg.name})
        return Attempt.LEADING

    def _backdate(self, now: float, previous_read: float | None) -> float:
        """Return how long before ``now`` a record first seen now may be dated.

        The holder wrote it after our previous read began, so dating it from then judges
        its expiry up to a retry period earlier, and a standby takes over a killed leader
        within the lease duration of the leader's last renewal rather than up to two retry
        periods after. Never by more than the lease duration minus the renew deadline and a
        retry period: a live leader that could not renew has stepped down by then (it
        checks every retry period), so two leaders never overlap. Nothing for the first
        read (no earlier one to date from).
        """
        cfg = self.config
        if previous_read is None:
            return 0.0
        margin = cfg.lease_duration - cfg.renew_deadline - cfg.retry_period
        return max(0.0, min(now - previous_read, margin))

    def next_wait(self, now: float) -> float:
        """Return the seconds to the next attempt: the retry period, or less if a lease
        held by another candidate expires sooner (take it over at once)."""
        period = self.config.retry_period
        if self.leading.is_set() or self._expires_at is None:
            return period
        return max(0.0, min(period, self._expires_at - now + 0.01))

    def _create(self, now: float, timeout: float) -> Attempt:
        cfg = self.config
        stamp = _now_utc()
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=cfg.name, namespace=cfg.namespace),
            spec=client.V1LeaseSpec(
                holder_identity=cfg.identity,
                lease_duration_seconds=max(1, round(cfg.lease_duration)),
                acquire_time=stamp,
                renew_time=stamp,
                lease_transitions=0,
            ),
        )
        try:
            written = self.api.create_namespaced_lease(
                cfg.namespace, body, _request_timeout=timeout
            )
        except ApiException as exc:
            if exc.status == 409:
                return Attempt.CONFLICT
            log.warning("creating lease %s/%s failed: %s", cfg.namespace, cfg.name, _why(exc))
            return Attempt.ERROR
        except Exception as exc:
            log.warning("creating lease %s/%s failed: %s", cfg.namespace, cfg.name, exc)
            return Attempt.ERROR
        self._remember(written, now)
        log.info("created the lease", extra={"lease": cfg.name})
        return Attempt.LEADING

    def _remember(self, lease: client.V1Lease, now: float) -> None:
        spec = lease.spec or client.V1LeaseSpec()
        self._observed = (
            spec.holder_identity or "",
            spec.renew_time,
            spec.lease_duration_seconds,
            spec.lease_transitions,
        )
        self._observed_at = now

    def release(self) -> bool:
        """Give the lease up if we hold it (empty holder); True if released."""
        cfg = self.config
        try:
            lease = self.api.read_namespaced_lease(cfg.name, cfg.namespace, _request_timeout=2)
            spec = lease.spec or client.V1LeaseSpec()
            if spec.holder_identity != cfg.identity:
                return False
            spec.holder_identity = None
            spec.lease_duration_seconds = 1
            spec.renew_time = _now_utc()
            self.api.replace_namespaced_lease(cfg.name, cfg.namespace, lease, _request_timeout=2)
        except Exception as exc:
            log.warning("releasing lease %s/%s failed: %s", cfg.namespace, cfg.name, exc)
            return False
        log.info("released the lease", extra={"lease": cfg.name})
        return True

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        """Acquire, renew, step down and re-acquire until :meth:`stop`."""
        cfg = self.config
        while not self._stop.is_set():
            self._expires_at = None
            attempt = self.try_acquire_or_renew()
            now = time.monotonic()
            if attempt is Attempt.LEADING:
                self._last_renew = now
                if not self.leading.is_set():
                    log.info("became the leader", extra={"identity": cfg.identity})
                    self.leading.set()
                    if self.on_started is not None:
                        self.on_started()
            elif self.leading.is_set() and (
                attempt is Attempt.HELD_BY_OTHER or now - self._last_renew >= cfg.renew_deadline
            ):
                log.warning("stopped leading: %s", attempt.value, extra={"identity": cfg.identity})
                self.leading.clear()
                if self.on_stopped is not None:
                    self.on_stopped()
            self._stop.wait(self.next_wait(time.monotonic()))

    def start(self) -> None:
        """Run the election in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self, *, release: bool = True) -> None:
        """Stop campaigning; if leading and ``release``, give the lease up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)  # an attempt in flight is bounded by its timeout
        was_leading = self.leading.is_set()
        self.leading.clear()
        if was_leading and release:
            self.release()


def _why(exc: ApiException) -> str:
    reason = exc.reason or ""
    return f"{exc.status} {reason}".strip()
