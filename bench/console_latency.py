"""Figure 7: stream -> screen on the operator console, with the demo hall's health traffic.

One run brings up `chamber demo` as a process of its own (the 50-seat Vietnamese council on the
real transports: keypads on RTU lines, microphones on serial lines, IP units and the wall over
MQTT, the daemon as its own process, the simulated delegates; its units report their health
as they do in the demo, several messages a second). In this process:

- the operator console (`ChamberConsole`, the chair's token) under Textual's pilot
  (`App.run_test`, headless at 120x40), on the chair's tab, as the chair sees it;
- the floor: a plain WebSocket client of /api/stream with the same token, in a thread of its
  own, that does nothing but note when each message arrives.

Each sample the chair's API creates a vote whose title carries a marker. Timed from the moment
the request is sent (`time.perf_counter()`, one clock for every part of this process):
- stream: the plain client receives the patch that adds the vote;
- screen: the console's vote panel shows the title, and the screen has been refreshed after
  that drawing pass (`call_after_refresh` after the pass, as the console's `after_draw`);
- stream -> screen: screen minus stream, per sample: what the console adds to the stream.

Samples are spread by a seeded random pause (0.2 to 0.6 s), so that they land anywhere in the
console's drawing period (at most 10 passes a second). p50/p99 per round; the figure is the
median over rounds of the stream -> screen p99, beside the stream's own p99 (the floor) in the
same rounds. Also noted: the health messages per second the stream carried and this process's
CPU use (the console, the pilot and the floor's thread) while measuring.

Run alone with `python -m bench.console_latency [--quick] [--rounds N] [--samples N]`. It
measures; it asserts nothing. The demo (and everything it started) is stopped on the way out.
The target is a p99 of 250 ms or less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from textual.widgets import Static
from websockets.sync.client import connect as ws_connect

from bench.common import RESULTS, Figure, median, percentile, report, temp_dir, write_json
from chamber.console.app import ChamberConsole
from chamber.console.client import ApiClient

TARGET_MS = 250.0
DEMO_START_S = 240.0
SAMPLE_TIMEOUT_S = 30.0
SEED = 7
SIZE = (120, 40)
CHAMBER = (sys.executable, "-m", "chamber.controller.cli")


@dataclass(frozen=True)
class Demo:
    url: str
    chair: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def demo(directory: Path) -> AsyncIterator[Demo]:
    """`chamber demo` without a terminal (it then runs until SIGTERM): its address and the
    chair's token, read from the banner it prints once the sitting is open."""
    log = (directory / "demo.err").open("wb")
    proc = await asyncio.create_subprocess_exec(
        *CHAMBER, "demo", "--data", str(directory / "data"), "--port", str(_free_port()),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=log,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        url = token = None
        async with asyncio.timeout(DEMO_START_S):
            while url is None or token is None:
                line = (await proc.stdout.readline()).decode("utf-8", "replace")
                if not line:
                    raise RuntimeError(f"the demo ended while starting: see {log.name}")
                if found := re.search(r"(https?://\S+?)/api/state", line):
                    url = found.group(1)
                if found := re.search(r"Chair token:\s+(\S+)", line):
                    token = found.group(1)
        yield Demo(url, token)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 60.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


class Floor:
    """A plain client of /api/stream in a thread of its own: when each marker first arrived,
    and how many messages (and health messages) came."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._wanted: dict[str, threading.Event] = {}
        self.arrived: dict[str, float] = {}
        self.messages = 0
        self.health = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-floor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def expect(self, marker: str) -> threading.Event:
        with self._lock:
            return self._wanted.setdefault(marker, threading.Event())

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.messages, self.health

    def _run(self) -> None:
        with ws_connect(self.url, max_size=None) as ws:
            while not self._stop.is_set():
                try:
                    raw = ws.recv(timeout=0.5)
                except TimeoutError:
                    continue
                at = time.perf_counter()
                text = raw if isinstance(raw, str) else raw.decode("utf-8")
                with self._lock:
                    self.messages += 1
                    if '"/health' in text:
                        self.health += 1
                    for marker, event in self._wanted.items():
                        if marker not in self.arrived and marker in text:
                            self.arrived[marker] = at
                            event.set()
                self.ready.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(samples, 0.50), 2),
        "p99": round(percentile(samples, 0.99), 2),
        "max": round(max(samples), 2),
    }


async def measure_async(rounds: int, samples: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    with temp_dir("console") as tmp:
        async with demo(Path(tmp)) as hall:
            ws_url = hall.url.replace("http", "ws", 1) + f"/api/stream?token={hall.chair}"
            floor = Floor(ws_url)
            floor.start()
            if not await asyncio.to_thread(floor.ready.wait, 30.0):
                raise RuntimeError("the stream sent nothing")
            client = ApiClient(hall.url, hall.chair)
            app = ChamberConsole(client)
            shown: dict[str, float] = {}
            waiting: dict[str, asyncio.Event] = {}

            def on_screen() -> None:
                at = time.perf_counter()
                text = str(app.query_one("#vote", Static).render())
                for marker, event in list(waiting.items()):
                    if marker in text:
                        shown[marker] = at
                        event.set()
                        del waiting[marker]

            app.after_draw(on_screen)
            per_round: list[dict[str, Any]] = []
            headers = {"Authorization": f"Bearer {hall.chair}"}
            try:
                async with (
                    app.run_test(size=SIZE),
                    httpx.AsyncClient(base_url=hall.url, headers=headers, timeout=30) as chair,
                ):
                    async with asyncio.timeout(60):
                        await client.wait_for(lambda c: c.mirror.ready)
                    n = 0
                    for _ in range(rounds):
                        stream_ms: list[float] = []
                        screen_ms: list[float] = []
                        delta_ms: list[float] = []
                        missed = 0
                        cpu0, wall0 = _cpu_s(), time.perf_counter()
                        load0 = os.getloadavg()[0]
                        msgs0, health0 = floor.counts()
                        for _ in range(samples):
                            await asyncio.sleep(rng.uniform(0.2, 0.6))
                            n += 1
                            marker = f"[probe {n:04d}]"
                            drawn = waiting[marker] = asyncio.Event()
                            streamed = floor.expect(marker)
                            sent = time.perf_counter()
                            reply = await chair.post(
                                "/api/votes", json={"title": f"Đo độ trễ {marker}"}
                            )
                            reply.raise_for_status()
                            try:
                                async with asyncio.timeout(SAMPLE_TIMEOUT_S):
                                    await drawn.wait()
                            except TimeoutError:
                                missed += 1
                                waiting.pop(marker, None)
                                continue
                            if not await asyncio.to_thread(streamed.wait, SAMPLE_TIMEOUT_S):
                                missed += 1
                                continue
                            at_stream = floor.arrived[marker]
                            stream_ms.append((at_stream - sent) * 1000)
                            screen_ms.append((shown[marker] - sent) * 1000)
                            delta_ms.append((shown[marker] - at_stream) * 1000)
                        elapsed = time.perf_counter() - wall0
                        msgs1, health1 = floor.counts()
                        per_round.append(
                            {
                                "samples": len(delta_ms),
                                "missed": missed,
                                "stream_to_screen_ms": _summary(delta_ms),
                                "command_to_stream_ms": _summary(stream_ms),
                                "command_to_screen_ms": _summary(screen_ms),
                                "stream_messages_per_s": round((msgs1 - msgs0) / elapsed, 1),
                                "health_messages_per_s": round((health1 - health0) / elapsed, 1),
                                "console_process_cpu_percent": round(
                                    100 * (_cpu_s() - cpu0) / elapsed, 1
                                ),
                                # The machine's 1-minute load average at the round's start
                                # and end: a shared machine slows every part of the figure.
                                "load_average": [load0, os.getloadavg()[0]],
                            }
                        )
                        print(f"  round {len(per_round)}: {per_round[-1]}", file=sys.stderr)
                    passes, draws = app.passes, dict(app.draws)
            finally:
                floor.stop()
    return {"rounds": per_round, "console_passes": passes, "console_draws": draws}


def figure_from(run: dict[str, Any], quick: bool) -> Figure:
    rounds = run["rounds"]
    value = median([r["stream_to_screen_ms"]["p99"] for r in rounds])
    floor = median([r["command_to_stream_ms"]["p99"] for r in rounds])
    return Figure(
        number=7,
        name="stream -> screen on the console (p99), demo hall's health traffic",
        value=round(value, 1),
        unit="ms",
        target=f"p99 <= {TARGET_MS:g} ms",
        meets=value <= TARGET_MS,
        floor=round(floor, 1),
        ratio=round(value / floor, 2) if floor > 0 else None,
        details={
            "quick": quick,
            "screen_p50_ms": median([r["stream_to_screen_ms"]["p50"] for r in rounds]),
            "command_to_screen_p99_ms": median([r["command_to_screen_ms"]["p99"] for r in rounds]),
            "health_messages_per_s": median([r["health_messages_per_s"] for r in rounds]),
            "console_process_cpu_percent": median(
                [r["console_process_cpu_percent"] for r in rounds]
            ),
            "cpus": os.cpu_count() or 0,
            "size": list(SIZE),
            "floor_is": "command -> the plain stream client has the patch (p99)",
            **run,
        },
    )


def measure(quick: bool = False, rounds: int = 3, samples: int = 40) -> Figure:
    if quick:
        rounds, samples = 1, 8
    return figure_from(asyncio.run(measure_async(rounds, samples)), quick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console_latency")
    parser.add_argument("--quick", action="store_true", help="one round of 8 samples")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=40, help="samples per round")
    parser.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    figure = measure(args.quick, args.rounds, args.samples)
    path = write_json("console_latency", figure.to_json(), args.results)
    report(figure)
    print(json.dumps(figure.details["rounds"], ensure_ascii=False, indent=1))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
