"""`GET /metrics`: the daemon's figures in the Prometheus text format, for a metrics token.

Each daemon has a registry of its own (never prometheus-client's global one), read at each
scrape from what the runtime already keeps: the lines' and units' health from the drivers, the
meeting core's votes and quorum, the journal file, the stream's subscriptions. Two histograms
are fed by the core loop (`Runtime.on_commit`): a commit's duration, and each unit input's
time from being taken by the runtime to durable in the journal.

The series count stays bounded: per line a fixed set, and per unit only units in trouble
(offline, a fault, an incompatible contract), with no timing. Nothing here names a seat
next to a choice, and no vote's running totals are served: a secret vote's secrecy holds.

Only a token of role `metrics` reads it; every other role, and no token, is refused (401/403,
as the API refuses).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chamber.controller.api.deps import Problem, _check_token, refusal_response, request_language
from chamber.controller.api.deps import _bearer as bearer
from chamber.controller.auth import Role, TokenStore
from chamber.controller.core.votes import VoteState
from chamber.controller.runtime import Runtime
from chamber.drivers.mqtt import MQTT_LINE

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Commits take a few milliseconds on an SSD; a slow disk shows in the upper buckets.
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
PRESS_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
OPEN_STATES = frozenset({VoteState.OPEN, VoteState.HOLD})


def _trouble(unit: dict[str, object]) -> str:
    """Why a unit is in trouble ("" when it is not): offline, a fault, an incompatible wire."""
    if not unit.get("online"):
        return "offline"
    if unit.get("fault"):
        return "fault"
    if unit.get("contract_state") == "incompatible":
        return "incompatible"
    return ""


class RuntimeCollector(Collector):
    """The runtime's figures, taken at each scrape."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterable[Metric]:
        rt = self.runtime
        health = rt.health_snapshot()
        up = GaugeMetricFamily("chamber_line_up", "1 while the line is connected", labels=["line"])
        cycle = GaugeMetricFamily(
            "chamber_line_cycle_seconds", "The line's last polling cycle", labels=["line"]
        )
        units = GaugeMetricFamily("chamber_line_units", "Units on the line", labels=["line"])
        online = GaugeMetricFamily(
            "chamber_line_units_online", "Units on the line that answer", labels=["line"]
        )
        crc = CounterMetricFamily(
            "chamber_line_crc_errors", "Replies with a bad CRC, all units", labels=["line"]
        )
        timeouts = CounterMetricFamily(
            "chamber_line_timeouts", "Exchanges without a reply, all units", labels=["line"]
        )
        reboots = CounterMetricFamily(
            "chamber_line_reboots", "Unit restarts seen, all units", labels=["line"]
        )
        trouble = GaugeMetricFamily(
            "chamber_unit_trouble",
            "1 per unit in trouble (only those: healthy units have no series)",
            labels=["line", "address", "seat", "kind", "why"],
        )
        total: dict[str, int] = defaultdict(int)
        answering: dict[str, int] = defaultdict(int)
        errors: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for unit in health["units"]:
            line = str(unit["line"])
            total[line] += 1
            answering[line] += 1 if unit["online"] else 0
            sums = errors[line]
            sums[0] += int(unit["crc_errors"])
            sums[1] += int(unit["timeouts"])
            sums[2] += int(unit["reboots"])
            why = _trouble(unit)
            if why:
                labels = [line, str(unit["address"]), str(unit["seat"]), str(unit["kind"]), why]
                trouble.add_metric(labels, 1)
        names = {str(item["line"]) for item in health["lines"]} | set(total)
        connected = {str(item["line"]): item for item in health["lines"]}
        for line in sorted(names):
            item = connected.get(line)
            up.add_metric([line], 1 if item is not None and item["connected"] else 0)
            cycle_ms = item.get("cycle_ms") if item is not None else None
            if isinstance(cycle_ms, int | float):
                cycle.add_metric([line], cycle_ms / 1000)
            units.add_metric([line], total[line])
            online.add_metric([line], answering[line])
            crc.add_metric([line], errors[line][0])
            timeouts.add_metric([line], errors[line][1])
            reboots.add_metric([line], errors[line][2])
        yield from (up, cycle, units, online, crc, timeouts, reboots, trouble)

        mqtt = connected.get(MQTT_LINE)
        has_broker = any(d.name == MQTT_LINE for d in rt.drivers)
        broker = GaugeMetricFamily(
            "chamber_broker_up", "1 while the MQTT driver is connected to the broker"
        )
        broker.add_metric([], 1 if mqtt is not None and mqtt["connected"] else 0)
        if has_broker:
            yield broker
        reconnects = CounterMetricFamily(
            "chamber_line_reconnects", "Connections regained after a loss", labels=["line"]
        )
        for line, n in sorted(rt.stats.line_reconnects.items()):
            reconnects.add_metric([line], n)
        yield reconnects
        broker_reconnects = CounterMetricFamily(
            "chamber_broker_reconnects", "Connections to the broker regained after a loss"
        )
        broker_reconnects.add_metric([], rt.stats.line_reconnects.get(MQTT_LINE, 0))
        if has_broker:
            yield broker_reconnects

        votes = GaugeMetricFamily("chamber_votes_open", "Votes open or on hold")
        votes.add_metric([], sum(1 for v in rt.core.votes.values() if v.state in OPEN_STATES))
        yield votes
        quorum = rt.core.attendance.quorum_json()
        for name, text, key in (
            ("chamber_quorum_present", "Voting members present", "present"),
            ("chamber_quorum_required", "Voting members the quorum needs", "required"),
            ("chamber_quorum_quorate", "1 while the sitting has its quorum", "quorate"),
        ):
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], float(quorum[key]))
            yield gauge
        sitting = GaugeMetricFamily("chamber_sitting_open", "1 while a sitting is open")
        sitting.add_metric([], 1 if rt.core.sitting_open else 0)
        yield sitting

        inputs = CounterMetricFamily(
            "chamber_unit_inputs", "Unit inputs the core took, by kind", labels=["input"]
        )
        for kind, n in sorted(rt.stats.unit_inputs.items()):
            inputs.add_metric([kind], n)
        yield inputs
        batches = CounterMetricFamily("chamber_journal_commits", "Journal commits (batches)")
        batches.add_metric([], rt.stats.batches)
        yield batches
        size = GaugeMetricFamily(
            "chamber_journal_bytes", "The journal's files on disk (database and its WAL)"
        )
        size.add_metric([], _journal_bytes(str(rt.journal.path)))
        yield size
        subs = GaugeMetricFamily("chamber_stream_subscribers", "Open stream subscriptions")
        subs.add_metric([], rt.hub.subscribers)
        yield subs
        backlog = GaugeMetricFamily("chamber_core_backlog", "Inputs waiting for the core loop")
        backlog.add_metric([], rt.backlog)
        yield backlog
        if rt.faults.clock_synced is not None:
            clock = GaugeMetricFamily(
                "chamber_clock_synchronised",
                "1 while the kernel reports the system clock synchronised (adjtimex)",
            )
            clock.add_metric([], 1 if rt.faults.clock_synced else 0)
            yield clock


def _journal_bytes(path: str) -> int:
    size = 0
    for name in (path, path + "-wal"):
        try:
            size += os.stat(name).st_size
        except OSError:
            continue
    return size


class Metrics:
    """One daemon's registry: the runtime's collector and the core loop's histograms."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(RuntimeCollector(runtime))
        self.commit = Histogram(
            "chamber_journal_commit_seconds",
            "A journal commit, from enqueue to on disk",
            buckets=COMMIT_BUCKETS,
            registry=self.registry,
        )
        self.press = Histogram(
            "chamber_press_to_commit_seconds",
            "A unit input, from taken by the runtime to durable in the journal",
            buckets=PRESS_BUCKETS,
            registry=self.registry,
        )
        runtime.on_commit.append(self.observe)

    def observe(self, commit_s: float, waits: Sequence[float]) -> None:
        self.commit.observe(commit_s)
        for wait in waits:
            self.press.observe(wait)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def install(app: FastAPI, runtime: Runtime, tokens: TokenStore) -> Metrics:
    """Serve `GET /metrics` on `app` to metrics tokens."""
    metrics = Metrics(runtime)

    @app.get("/metrics", include_in_schema=False)
    async def get_metrics(request: Request) -> Response:
        try:
            principal = _check_token(tokens, bearer(request.headers))
            if principal.role is not Role.METRICS:
                raise Problem("auth.role_forbidden", role=principal.role.value, allowed="metrics")
        except Problem as exc:
            return refusal_response(request_language(request), exc.code, exc.params)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return metrics
