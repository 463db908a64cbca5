"""`GET /metrics` during a simulated sitting matches the simulator's ground truth: units online
and installed per line, the quorum, votes open, and the presses the units took. Only a metrics
token reads it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from chamber.controller.auth import Role
from chamber.drivers.mqtt import MQTT_LINE
from tests.e2e.conftest import Council
from tests.e2e.hall import WAIT_S, choices_of, vote_of

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def per_line(samples: Samples, name: str) -> dict[str, float]:
    return {dict(labels)["line"]: v for (n, labels), v in samples.items() if n == name}


def one(samples: Samples, name: str) -> float:
    return samples[(name, ())]


def sim_units(hall: Council) -> dict[str, int]:
    """The units on each line, as the simulator has them."""
    sim = hall.rig.sim
    hosts: dict[str, Any] = {**sim.keypad_lines, **sim.gateways, **sim.mic_lines}
    found = {line: len(host.units) for line, host in hosts.items()}
    if sim.ip_units:
        found[MQTT_LINE] = len(sim.ip_units)
    return found


async def until(client: httpx.AsyncClient, hall: Council, check: Any, what: str) -> Samples:
    """Scrape now and after each message of the daemon's stream (every change of its state,
    health included, is one) until `check(samples)` holds."""
    assert hall.rig.daemon is not None
    sub = hall.rig.daemon.runtime.hub.subscribe()
    try:
        async with asyncio.timeout(WAIT_S):
            while True:
                samples = await scrape(client)
                if check(samples):
                    return samples
                await sub.get()
    except TimeoutError:
        raise AssertionError(f"/metrics never showed {what}") from None
    finally:
        sub.close()


async def test_metrics_match_the_simulator_during_a_sitting(hall: Council) -> None:
    rig = hall.rig
    async with rig.client(Role.METRICS) as metrics:
        units = sim_units(hall)
        samples = await until(
            metrics,
            hall,
            lambda s: per_line(s, "chamber_line_units_online") == units,
            "every simulated unit online",
        )
        assert per_line(samples, "chamber_line_units") == units
        assert all(v == 1 for v in per_line(samples, "chamber_line_up").values())
        assert set(per_line(samples, "chamber_line_up")) == set(units)
        assert not [k for k in samples if k[0] == "chamber_unit_trouble"]

        # The quorum: every seat the simulator seats is present.
        st = await rig.wait_state(lambda st: True)
        quorum = st["quorum"]
        assert one(samples, "chamber_quorum_present") == len(hall.seats) == quorum["present"]
        assert one(samples, "chamber_quorum_required") == quorum["required"]
        assert one(samples, "chamber_quorum_quorate") == 1
        assert one(samples, "chamber_sitting_open") == 1
        assert one(samples, "chamber_votes_open") == 0
        assert one(samples, "chamber_stream_subscribers") >= 0
        assert one(samples, "chamber_journal_bytes") > 0

        since = await hall.open_vote("bq-01", "Biểu quyết thông qua chương trình")
        samples = await scrape(metrics)
        assert one(samples, "chamber_votes_open") == 1
        await rig.sim.perform(hall.plan(hall.seats, seed=5))
        expected = hall.expected(since)
        await rig.sim.drain()
        await hall.wait(lambda st: choices_of(vote_of(st, "bq-01")) == dict(expected.choices))
        await hall.close_and_check("bq-01", expected)
        took = len(rig.sim.truth.votes())
        assert took > 0
        samples = await scrape(metrics)
        assert samples[("chamber_unit_inputs_total", (("input", "vote-key"),))] == took
        assert one(samples, "chamber_votes_open") == 0
        assert one(samples, "chamber_press_to_commit_seconds_count") >= took
        assert one(samples, "chamber_journal_commit_seconds_count") > 0

        # A unit that stops answering: one line's count drops, and the unit gets a series.
        ref = rig.sim.unit_ref(8)
        rig.sim.faults.silence(ref)
        line = ref.line
        samples = await until(
            metrics,
            hall,
            lambda s: per_line(s, "chamber_line_units_online").get(line) == units[line] - 1,
            f"a unit offline on {line}",
        )
        trouble = [dict(k[1]) for k in samples if k[0] == "chamber_unit_trouble"]
        assert trouble == [
            {
                "line": line,
                "address": str(ref.address),
                "seat": "8",
                "kind": "keypad",
                "why": "offline",
            }
        ]
        assert per_line(samples, "chamber_line_timeouts_total")[line] > 0
        rig.sim.faults.silence(ref, False)


async def test_metrics_refuse_every_other_token(hall: Council) -> None:
    rig = hall.rig
    async with httpx.AsyncClient(base_url=rig.url, timeout=30.0) as anonymous:
        answer = await anonymous.get("/metrics")
        assert answer.status_code == 401
        assert answer.json()["code"] == "auth.token_missing"
        bad = await anonymous.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
    for role in Role:
        if role is Role.METRICS:
            continue
        async with rig.client(role) as client:
            answer = await client.get("/metrics")
            assert answer.status_code == 403, role
            assert answer.json()["code"] == "auth.role_forbidden"
    # And a metrics token reads nothing of the API, nor the stream.
    async with rig.client(Role.METRICS) as metrics:
        assert (await metrics.get("/api/state")).status_code == 403
    url = rig.url.replace("http://", "ws://") + "/api/stream?token=" + rig.tokens.metrics
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT_S)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
