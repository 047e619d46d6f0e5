"""`GET /metrics` for Prometheus, behind the admin token; every name starts with `bridge_`.

The webhook hot path only increments a counter (`FastWebhook` counts each answer, see `bridge.web.counting`, so
the handler is untouched).
Everything that needs the journal (orders by status) is read once per scrape, not per request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bridge.notify.events import Event
from bridge.web.counting import LOCKED_OUT, UNAUTHENTICATED_LIMITED, Answer
from bridge.web.gate import admin_denied
from bridge.web.paths import NOT_FOUND

if TYPE_CHECKING:
    from bridge.service import Bridge

OUTCOMES = {200: "accepted", 400: "invalid", 401: "unauthorized", 403: "forbidden", 405: "wrong-method",
            408: "timed-out", 413: "too-large", 415: "compressed", 429: "rate-limited", 503: "unavailable"}  # fmt: skip
# Outcomes a handler names itself (`bridge.web.counting.name_outcome`): their status alone would count them above.
NAMED_OUTCOMES = (UNAUTHENTICATED_LIMITED, LOCKED_OUT)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
# A healthy disk syncs in about a millisecond; the upper buckets are stalls a webhook's answer waited out.
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def orders_by_status(conn: sqlite3.Connection) -> dict[str, int]:
    """How many journaled orders are in each status."""
    rows = conn.execute("SELECT status, COUNT(*) AS n FROM orders GROUP BY status").fetchall()
    return {str(r["status"]): int(r["n"]) for r in rows}


class _Live(Collector):
    """Gauges read from the bridge's state at scrape time (the journal part is fetched by the endpoint)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        bridge = self.metrics.bridge
        halted = GaugeMetricFamily("bridge_halted", "1 while no new order is sent (kill switch or start-up recovery)")
        halted.add_metric([], float(bridge.recovering or bridge.guard.halt.halted))
        yield halted
        orders = GaugeMetricFamily("bridge_orders", "journaled orders by status", labels=["status"])
        for name, count in sorted(self.metrics.order_counts.items()):
            orders.add_metric([name], count)
        yield orders
        up = GaugeMetricFamily("bridge_broker_up", "1 when the broker is connected and healthy", labels=["broker"])
        for name, slot in sorted(bridge.runtime.brokers.items()):
            up.add_metric([name], float(slot.healthy))
        yield up
        last = bridge.reloader.status
        ok = GaugeMetricFamily("bridge_config_last_reload_success", "1 when the last config reload succeeded")
        ok.add_metric([], float(last.ok))
        yield ok
        at = GaugeMetricFamily("bridge_config_last_reload_timestamp_seconds", "when the config was last (re)loaded")
        at.add_metric([], last.at.timestamp())
        yield at
        queued = GaugeMetricFamily("bridge_queued_signals", "executions waiting in the per-ticker queues")
        queued.add_metric([], float(bridge.queues.pending))
        yield queued


class Metrics:
    """The bridge's Prometheus registry (one per bridge, so several bridges in one process never collide)."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.registry = CollectorRegistry()
        self.order_counts: dict[str, int] = {}
        r = self.registry
        self.webhooks = Counter("bridge_webhooks", "webhook requests by outcome", ["outcome"], registry=r)
        self.latency = Histogram("bridge_signal_to_order_seconds", "signal received -> broker's answer to its order",
                                 buckets=LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.orders_sent = Counter("bridge_orders_submitted", "orders sent, by the broker's answer", ["status"],
                                   registry=r)  # fmt: skip
        self.signals = Counter("bridge_executions", "finished executions by final state", ["state"], registry=r)
        self.broker_errors = Counter("bridge_broker_errors", "orders a broker rejected or left unknown", ["broker"],
                                     registry=r)  # fmt: skip
        self.reloads = Counter("bridge_reloads", "config reloads by result", ["result"], registry=r)
        self.commits = Histogram("bridge_journal_commit_seconds",
                                 "how long each journal COMMIT took (with durability: full, its fsync), by the process "
                                 "that wrote it; a webhook is answered only after its own", ["writer"],
                                 buckets=COMMIT_BUCKETS, registry=r)  # fmt: skip
        self._writers = {name: self.commits.labels(name) for name in ("daemon", "intake")}
        # With the commit time above, it tells what slow answers waited for: the disk, or the CPU.
        self.loop_lag = Histogram("bridge_event_loop_lag_seconds",
                                  "how late the daemon's event loop ran a timer, sampled every 0.25 s; high when "
                                  "the CPU is saturated or the process was paused", buckets=LAG_BUCKETS,
                                  registry=r)  # fmt: skip
        self.registry.register(_Live(self))
        # Label children made once: the per-request cost is one lookup and one increment.
        self._outcomes: dict[Answer, Counter] = {code: self.webhooks.labels(name) for code, name in OUTCOMES.items()}
        self._outcomes.update((name, self.webhooks.labels(name)) for name in NAMED_OUTCOMES)
        self._children: dict[tuple[Counter, str], Counter] = {}  # `_child`

    def count_webhook(self, status: Answer, count: int = 1) -> None:
        """Count webhook responses of one status, or of one outcome their handler named."""
        child = self._outcomes.get(status)
        if child is None:
            child = self._outcomes[status] = self.webhooks.labels(str(status))
        child.inc(count)

    def _child(self, metric: Counter, value: str) -> Counter:
        """`metric.labels(value)`, made once: `labels` checks and locks on every call (2 us, a few times a signal).

        The values are few: states, order statuses, the config's broker names.
        """
        made = self._children.get((metric, value))
        if made is None:
            made = self._children[(metric, value)] = metric.labels(value)
        return made

    def observe_commit(self, seconds: float, writer: str = "daemon") -> None:
        """Count one journal COMMIT that took `seconds`, by the daemon or the intake process (any thread)."""
        self._writers[writer].observe(seconds)

    def observe(self, event: Event) -> None:
        """Count an execution, order, reload or halt event."""
        kind, data = event.kind, event.data
        if kind.startswith("signal."):
            self._child(self.signals, data["state"]).inc()
        elif kind.startswith("order."):
            if data["latency"] is None:  # a later change of an order already counted at its first answer
                return
            self._child(self.orders_sent, data["status"]).inc()
            if data["status"] in ("rejected", "unknown"):
                self._child(self.broker_errors, data["broker"]).inc()
            else:
                self.latency.observe(data["latency"])
        elif kind.startswith("reload."):
            self.reloads.labels("ok" if kind == "reload.ok" else "failed").inc()

    async def render(self) -> bytes:
        """The exposition text (reads order counts from the journal once)."""
        self.order_counts = await self.bridge.store.run(orders_by_status, self.bridge.store.conn)
        self.bridge.guard.halt.shown()  # `bridge_halted` as the journal has it (`bridge halt` may have written it)
        return generate_latest(self.registry)


def off_admin_listener(request: Request) -> bool:
    """True when `server.admin_port` is set and the request did not arrive on it (answer 404, as /api does).

    The port is the one the listeners were opened with (`app.state.admin_port`): a reload that changes
    `server.admin_port` opens no listener, so until a restart the admin side stays where it is.
    """
    admin_port: int | None = request.app.state.admin_port
    if admin_port is None:
        return False
    local = request.scope.get("server")
    return not local or local[1] != admin_port


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics`: Prometheus text format; `Authorization: Bearer <server.admin_token>`."""
    if off_admin_listener(request):
        return JSONResponse(NOT_FOUND, 404)
    if (denied := admin_denied(request)) is not None:
        return denied
    metrics: Metrics = request.app.state.metrics
    return Response(await metrics.render(), media_type=CONTENT_TYPE_LATEST)
