"""How long the display wall takes to show a vote's result after the chair closes the vote.

One in-process daemon (the 50-seat Vietnamese council of the examples) and the real wall page
in headless Chromium. For each repetition a vote is created, opened and pressed by 30 seats;
then, with the page showing the open vote, the close request is sent and timed:

- page: from the moment the close request is sent to the moment the result element carries
  the vote's id, as a MutationObserver in the page saw it (the DOM is updated, which is what
  the next paint shows);
- floor: from the same moment to the moment a plain Python WebSocket client of
  /api/stream (in its own thread, the wall's view) receives the patch that closes the vote:
  the stream itself, with no browser and no drawing;
- http: the close request's own round trip.

The page's clock (`performance.timeOrigin + performance.now()`, in Unix milliseconds) and this
process's `time.time()` are the same system clock, but are read through different paths: their
offset is measured before the run by the round trip with the smallest delay, and the figures are
corrected by it (the uncertainty is printed and saved).

Prints p50/p99 and writes bench/results/wall_latency.json. Run with
`python -m bench.wall_latency [--repetitions N]`. Never run from the test suite: it measures,
it asserts nothing. The target is 100 ms from close to result on the page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, async_playwright
from websockets.sync.client import connect as ws_connect

from chamber.controller.auth import Role, TokenStore
from chamber.controller.config import load_config
from chamber.controller.core.inputs import PresenceChanged, VoteKeyPressed
from chamber.controller.core.patch import apply
from chamber.controller.daemon import Daemon

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "vn-council.toml"
RESULTS = ROOT / "bench" / "results" / "wall_latency.json"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TARGET_MS = 100.0
VOTERS = 30

# Resolves with the Unix time in ms at which #result first carries the vote's id.
WATCH_JS = """
(voteId) => {
  window.__resultSeen = new Promise((resolve) => {
    const result = document.getElementById("result");
    const seen = () => result.dataset.vote === voteId && !result.hidden;
    if (seen()) { resolve(performance.timeOrigin + performance.now()); return; }
    const observer = new MutationObserver(() => {
      if (seen()) {
        observer.disconnect();
        resolve(performance.timeOrigin + performance.now());
      }
    });
    observer.observe(result, { attributes: true, attributeFilter: ["data-vote", "hidden"] });
  });
}
"""


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        # Nearest rank: the smallest sample with at least q of them at or below it.
        index = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
        return round(ordered[index], 3)

    return {
        "p50": pick(0.50),
        "p99": pick(0.99),
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


async def clock_offset(page: Page, rounds: int = 20) -> tuple[float, float]:
    """(page clock - this clock, uncertainty), both in ms, from the quickest round trip."""
    best: tuple[float, float] | None = None
    for _ in range(rounds):
        before = time.time() * 1000
        page_ms: float = await page.evaluate("performance.timeOrigin + performance.now()")
        after = time.time() * 1000
        half = (after - before) / 2
        if best is None or half < best[1]:
            best = (page_ms - (before + half), half)
    assert best is not None
    return best


class StreamClient:
    """A plain WebSocket client of /api/stream, in a thread of its own so that the daemon's
    event loop (busy with the close) cannot delay its reading; notes when each close arrives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._closed_at: dict[str, float] = {}
        self._arrived: dict[str, threading.Event] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-stream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _event(self, vote_id: str) -> threading.Event:
        with self._lock:
            return self._arrived.setdefault(vote_id, threading.Event())

    def _run(self) -> None:
        view: dict[str, Any] = {}
        with ws_connect(self.url, max_size=None) as ws:
            while not self._stop.is_set():
                try:
                    raw = ws.recv(timeout=0.5)
                except TimeoutError:
                    continue
                at = time.time() * 1000
                message = json.loads(raw)
                if message.get("type") == "snapshot":
                    view = message["state"]
                    self.ready.set()
                elif message.get("type") == "patch":
                    view = apply(view, message["ops"])
                else:
                    continue
                # The wall's view (docs/stream.md): its vote, once it shows it closed.
                vote = view.get("vote") or {}
                vote_id = str(vote.get("vote_id"))
                if vote.get("state") == "closed" and vote_id not in self._closed_at:
                    with self._lock:
                        self._closed_at[vote_id] = at
                    self._event(vote_id).set()

    async def closed_at(self, vote_id: str) -> float:
        arrived = await asyncio.to_thread(self._event(vote_id).wait, 10.0)
        if not arrived:
            raise TimeoutError(f"the stream never told of {vote_id}'s close")
        with self._lock:
            return self._closed_at[vote_id]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


async def measure(repetitions: int) -> dict[str, Any]:
    config = load_config(EXAMPLE)
    tokens = TokenStore()
    chair_token = tokens.add("bench chair", Role.CHAIR)
    observer = tokens.add("bench wall", Role.OBSERVER)
    page_ms: list[float] = []
    floor_ms: list[float] = []
    http_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with Daemon(config, Path(tmp) / "bench.journal", tokens) as daemon:
            runtime = daemon.runtime
            headers = {"Authorization": f"Bearer {chair_token}"}
            async with (
                httpx.AsyncClient(base_url=daemon.url, headers=headers) as chair,
                async_playwright() as pw,
            ):
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = await browser.new_page(viewport={"width": 1920, "height": 1080})
                await page.goto(f"{daemon.url}/wall/?token={observer}")
                ws_url = (
                    daemon.url.replace("http://", "ws://")
                    + f"/api/stream?view=wall&token={observer}"
                )
                stream = StreamClient(ws_url)
                stream.start()
                if not await asyncio.to_thread(stream.ready.wait, 10.0):
                    raise RuntimeError("the stream sent no snapshot")

                async def post(path: str, body: dict[str, Any] | None = None) -> None:
                    response = await chair.post(path, json=body)
                    response.raise_for_status()

                await post(
                    "/api/sitting/open",
                    {
                        "sitting_id": "bench",
                        "title": "Kỳ họp đo thời gian hiển thị",
                        "agenda": [{"id": "1", "title": "Nghị quyết thử"}],
                    },
                )
                for seat in range(1, VOTERS + 1):
                    runtime.feed(PresenceChanged(runtime.clock.now(), seat, True))
                offset, uncertainty = await clock_offset(page)

                for i in range(repetitions):
                    vote_id = f"b{i:03d}"
                    await post("/api/votes", {"vote_id": vote_id, "title": f"Biểu quyết {i}"})
                    await post(f"/api/votes/{vote_id}/open")
                    for seat in range(1, VOTERS + 1):
                        key = 1 + (seat + i) % 3
                        runtime.feed(VoteKeyPressed(runtime.clock.now(), seat, key))
                    await page.wait_for_function(
                        "([id, n]) => { const p = document.getElementById('vote-panel');"
                        " return p.dataset.vote === id && p.dataset.state === 'open' &&"
                        " document.getElementById('voted').textContent.includes(n + '/'); }",
                        arg=[vote_id, VOTERS],
                    )
                    await page.evaluate(WATCH_JS, vote_id)
                    sent = time.time() * 1000
                    await post(f"/api/votes/{vote_id}/close")
                    answered = time.time() * 1000
                    shown: float = await page.evaluate("window.__resultSeen")
                    received = await stream.closed_at(vote_id)
                    page_ms.append(shown - offset - sent)
                    floor_ms.append(received - sent)
                    http_ms.append(answered - sent)

                await asyncio.to_thread(stream.stop)
                await browser.close()

    page_stats = percentiles(page_ms)
    return {
        "benchmark": "wall_latency",
        "what": "chair's close request sent -> result element on the wall page",
        "target_ms": TARGET_MS,
        "meets_target": page_stats["p99"] <= TARGET_MS,
        "repetitions": repetitions,
        "voters": VOTERS,
        "page_ms": page_stats,
        "floor_websocket_ms": percentiles(floor_ms),
        "close_request_ms": percentiles(http_ms),
        # What the page adds to the stream, vote by vote: parsing, the mirror, the drawing.
        "page_over_floor_ms": percentiles([p - f for p, f in zip(page_ms, floor_ms, strict=True)]),
        "clock_offset_ms": round(offset, 3),
        "clock_uncertainty_ms": round(uncertainty, 3),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": _cpus(),
            "chromium": _chromium_version(),
        },
    }


def _cpus() -> int:
    return os.cpu_count() or 0


def _chromium_version() -> str:
    try:
        out = subprocess.run(
            [CHROMIUM, "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repetitions", type=int, default=40, help="votes to close (>= 30)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.repetitions < 30:
        parser.error("at least 30 repetitions are needed for a p99 worth reading")
    figures = asyncio.run(measure(args.repetitions))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", "utf-8")
    page, floor, http = (
        figures["page_ms"],
        figures["floor_websocket_ms"],
        figures["close_request_ms"],
    )
    print(f"wall latency, close -> result on the page, {figures['repetitions']} votes:")
    print(
        f"  page      p50 {page['p50']:.1f} ms  p99 {page['p99']:.1f} ms  max {page['max']:.1f} ms"
    )
    print(f"  floor ws  p50 {floor['p50']:.1f} ms  p99 {floor['p99']:.1f} ms")
    extra = figures["page_over_floor_ms"]
    print(f"  page-floor p50 {extra['p50']:.1f} ms  p99 {extra['p99']:.1f} ms")
    print(f"  close req p50 {http['p50']:.1f} ms  p99 {http['p99']:.1f} ms")
    print(
        f"  clock offset {figures['clock_offset_ms']:.2f} ms "
        f"(± {figures['clock_uncertainty_ms']:.2f} ms)"
    )
    verdict = "meets" if figures["meets_target"] else "MISSES"
    print(f"  target p99 <= {TARGET_MS:.0f} ms: {verdict}; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
