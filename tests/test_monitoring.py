"""docs/monitoring: the Prometheus alert rules parse, hold the expected groups and alerts, and
they and the Grafana dashboard name only series that `/metrics` serves, so neither can drift
from the daemon. (Debian's prometheus package, which has promtool, is 96 MB installed: the
rules' structure is checked here in Python instead.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.common import sized_config
from chamber.controller.core.clock import FakeClock
from chamber.controller.journal import Journal
from chamber.controller.metrics import Metrics
from chamber.controller.runtime import Runtime
from chamber.drivers.base import LineHealth
from chamber.drivers.mosquitto import BrokerEndpoint
from chamber.drivers.mqtt import MqttUnits

DOCS = Path(__file__).resolve().parent.parent / "docs" / "monitoring"
SERIES = re.compile(r"\bchamber_[a-z_]+\b")
# What the rules and the dashboard use that Prometheus itself makes.
PROMETHEUS_OWN = {"up"}


async def served(tmp_path: Path) -> set[str]:
    """Every series family a daemon's /metrics serves: an IP hall with its MQTT driver (not
    run: its health is what it has before it connects), a line and a unit in trouble."""
    config = sized_config(8, tmp_path)
    with Journal.open(tmp_path / "j.journal") as journal:
        runtime = Runtime(config, journal, clock=FakeClock(10.0))
        metrics = Metrics(runtime)
        runtime.drivers.append(
            MqttUnits(
                config.hall_id,
                range(1, 9),
                BrokerEndpoint("127.0.0.1", 1883, None, None),
                runtime.clock,
                runtime.feed,
                runtime._on_health,
            )
        )
        runtime._on_health(LineHealth("mqtt", connected=False))
        runtime._on_health(LineHealth("mqtt", connected=True))
        metrics.observe(0.003, [0.01])
        text = metrics.render().decode("utf-8")
    # Families, as the text declares them (a counter without samples yet is still served).
    return {family(f.name) for f in text_string_to_metric_families(text)}


def family(series: str) -> str:
    return re.sub(r"_(total|bucket|count|sum|created)$", "", series)


def rules() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCS / "chamber-alerts.yml").read_text("utf-8"))
    return data


def test_the_alert_rules_have_the_expected_groups_and_alerts() -> None:
    groups = rules()["groups"]
    assert [g["name"] for g in groups] == ["chamber-lines", "chamber-journal", "chamber-broker"]
    alerts = {r["alert"]: r for g in groups for r in g["rules"]}
    assert set(alerts) == {
        "ChamberLineDown",
        "ChamberUnitsOffline",
        "ChamberJournalCommitSlow",
        "ChamberBrokerDown",
        "ChamberDaemonDown",
    }
    for name, rule in alerts.items():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, name
        assert isinstance(rule["expr"], str), name
        assert re.fullmatch(r"\d+[smh]", rule["for"]), name
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        assert rule["expr"].count("(") == rule["expr"].count(")"), name


def test_the_dashboard_is_a_grafana_10_dashboard() -> None:
    dash = json.loads((DOCS / "chamber-dashboard.json").read_text("utf-8"))
    assert dash["schemaVersion"] >= 36
    assert dash["__inputs"][0]["pluginId"] == "prometheus"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        assert p["type"] in {"stat", "timeseries", "table"}
        assert set(p["gridPos"]) == {"x", "y", "w", "h"}
        assert p["targets"]
        assert all(t["expr"] for t in p["targets"])


async def test_every_series_the_rules_and_the_dashboard_use_is_served(tmp_path: Path) -> None:
    names = await served(tmp_path)
    dash = json.loads((DOCS / "chamber-dashboard.json").read_text("utf-8"))
    exprs = [r["expr"] for g in rules()["groups"] for r in g["rules"]]
    exprs += [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {family(m) for e in exprs for m in SERIES.findall(e)}
    assert len(used) > 15
    assert sorted(used - names) == []
    # And the dashboard shows every family the daemon serves, but the commits' counter.
    assert sorted(names - used) == ["chamber_journal_commits"]
    assert {"up"} == PROMETHEUS_OWN
    assert 'up{job="chamber"}' in " ".join(exprs)
