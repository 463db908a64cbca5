"""The console's client of the daemon's API: REST commands, and the live stream kept mirrored.

`ApiClient(url, token)` talks to a daemon only through its public API (never in-process): it
fetches the hall, follows `/api/stream` (the token's view, then patches to it) into a
`Mirror`, and reconnects by itself (with `since=` the last sequence number) when the daemon
goes away or a message does not follow. Commands return the daemon's sequence number (a new
vote: the id the daemon gave it) or raise `ApiError` with the refusal's `code` and `params`;
`ApiError.text(lang)` words it in the console's language from the daemon's catalogue of
refusals (GET /api/refusals, fetched once with the hall).

It must never import the meeting core or the runtime: the console is a remote client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, WebSocketException

from chamber.console.i18n import Lang
from chamber.console.mirror import HallInfo, Mirror, StreamError
from chamber.console.refusals import Catalogue

log = logging.getLogger("chamber.console")

Clock = Callable[[], float]
Listener = Callable[[], None]


class ApiError(Exception):
    """A command the daemon refused or could not take: `code` and `params` name the refusal
    (None for an answer that is no refusal of the catalogue), `detail` is the daemon's own
    sentence (in the language it chose), and `text(lang)` the sentence in the console's."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        code: str | None = None,
        params: dict[str, Any] | None = None,
        refusals: Catalogue | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" + (f" [{code}]" if code else ""))
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.params: dict[str, Any] = params or {}
        self.refusals = refusals or Catalogue()

    def text(self, lang: Lang) -> str:
        """The refusal in `lang`: from its code and parameters; a code the catalogue does not
        hold gives a generic sentence with the code; an answer without a code, its status and
        detail."""
        if self.code is not None:
            return self.refusals.render(self.code, self.params, lang)
        return self.refusals.render(
            "console.http_error", {"status": self.status, "detail": self.detail}, lang
        )


class Link(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


def stream_url(base: str, since: int | None, stream: str | None = None) -> str:
    """The WebSocket address of `base`'s stream (http -> ws, https -> wss), resuming after
    message `since` of the daemon run `stream` when both are known."""
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    params: dict[str, str | int] = {}
    if since is not None:
        params["since"] = since
        if stream is not None:
            params["stream"] = stream
    query = urlencode(params)
    path = parts.path.rstrip("/") + "/api/stream"
    return urlunsplit((scheme, parts.netloc, path, query, ""))


class ApiClient:
    """One daemon, mirrored. `await start()`, then read `mirror` and `hall`; `await close()`."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        clock: Clock = time.monotonic,
        retry_s: tuple[float, float] = (0.5, 5.0),
        timeout_s: float = 10.0,
        heartbeat_s: float = 1.0,
        ca_file: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        # HTTPS and WSS: the hall CA's certificate when given (`--ca`), else the system's CAs.
        self._tls = ssl.create_default_context(cafile=ca_file)
        self._token = token
        self.clock = clock
        self._retry_s = retry_s
        self._timeout_s = timeout_s
        self.mirror = Mirror()
        self.hall: HallInfo | None = None
        self.link = Link.CONNECTING
        self.link_detail = ""
        self.connections = 0
        # When the daemon was last heard (a stream message or the answer to a ping), by `clock`.
        self.heard_at: float | None = None
        self._heartbeat_s = heartbeat_s
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
            verify=self._tls,
        )
        self._listeners: list[Listener] = []
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # The daemon's refusal catalogue (GET /api/refusals), fetched with the hall.
        self.refusals = Catalogue()

    @property
    def token(self) -> str:
        """The token this console connects with (the access panel shows it)."""
        return self._token

    # --- life --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start following the daemon in the background (it may not be up yet)."""
        if self._tasks:
            return
        self._tasks = [asyncio.create_task(self._follow(), name="console-stream")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._http.aclose()

    def add_listener(self, listener: Listener) -> None:
        """Called after every change of the mirror or of the link."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        for listener in tuple(self._listeners):
            try:
                listener()
            except Exception:  # a broken view must not stop the stream
                log.exception("console listener failed")

    async def wait_for(self, predicate: Callable[[ApiClient], bool]) -> None:
        """Wait (event-driven, no polling) until `predicate(self)` holds; bound it with
        `asyncio.timeout`."""
        while not predicate(self):
            await self._changed.wait()

    # --- the stream ----------------------------------------------------------------------------

    async def _follow(self) -> None:
        delay = self._retry_s[0]
        while True:
            try:
                await self._load_hall()
                await self._stream()
                detail = "the daemon closed the stream"
            except (OSError, WebSocketException, httpx.HTTPError, TimeoutError) as exc:
                detail = _describe(exc)
            except (ApiError, StreamError) as exc:
                detail = str(exc)
            except ValueError as exc:  # a frame that is not JSON: the peer's fault
                detail = f"unreadable message from the daemon: {exc}"
            else:
                delay = self._retry_s[0]
            was_connected = self.link is Link.CONNECTED
            self.link = Link.DISCONNECTED
            self.link_detail = detail
            if was_connected:
                delay = self._retry_s[0]
                log.warning("console lost the daemon: %s", detail)
            self._notify()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._retry_s[1])

    async def _load_refusals(self) -> None:
        """The daemon's refusal catalogue, once; a daemon that serves none leaves it empty
        (its refusals then read as a generic sentence with their code)."""
        if self.refusals.codes:
            return
        response = await self._http.get("/api/refusals")
        if response.is_success:
            try:
                self.refusals = Catalogue.from_json(response.json())
            except ValueError:
                log.warning("the daemon's refusal catalogue is not JSON")

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        return _body(response, self.refusals)

    async def _load_hall(self) -> None:
        await self._load_refusals()
        self.hall = HallInfo.from_json(await self._get("/api/hall"))

    async def _stream(self) -> None:
        since = self.mirror.seq if self.mirror.ready else None
        async with connect(
            stream_url(self.url, since, self.mirror.stream),
            additional_headers={"Authorization": f"Bearer {self._token}"},
            open_timeout=self._timeout_s,
            max_size=None,
            ssl=self._tls if self.url.startswith("https://") else None,
            close_timeout=1,
        ) as ws:
            self.mirror.reset_clock()
            self.connections += 1
            self.link = Link.CONNECTED
            self.link_detail = ""
            self.heard_at = self.clock()
            self._notify()
            beat = asyncio.create_task(self._heartbeat(ws), name="console-heartbeat")
            try:
                async for raw in ws:
                    self.heard_at = self.clock()
                    self.mirror.feed(json.loads(raw), self.heard_at)
                    self._notify()
            finally:
                beat.cancel()

    async def _heartbeat(self, ws: ClientConnection) -> None:
        """A ping every `heartbeat_s`: a quiet hall sends no message, but its pong says the
        daemon is there (and a daemon too busy to answer shows as stale data)."""
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                pong = await ws.ping()
                await asyncio.wait_for(pong, self._timeout_s)
            except TimeoutError:
                continue  # nothing heard: the console's "last update" mark grows
            except WebSocketException:
                return  # the stream's loop sees the connection end
            self.heard_at = self.clock()
            self._notify()

    # --- REST ------------------------------------------------------------------------------------

    async def _get(self, path: str) -> dict[str, Any]:
        return self._answer(await self._http.get(path))

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> int:
        reply = self._answer(await self._http.post(path, json=body or {}))
        seq = reply.get("seq")
        return seq if isinstance(seq, int) else -1

    async def create_vote(
        self,
        title: str,
        *,
        secret: bool = False,
        duration_s: float | None = None,
        vote_id: str | None = None,
    ) -> str:
        """Prepare a vote; returns its id (the daemon gives one when `vote_id` is None)."""
        body: dict[str, Any] = {"title": title}
        if vote_id is not None:
            body["vote_id"] = vote_id
        if secret:
            body["mode"] = "secret"
        if duration_s is not None:
            body["duration_s"] = duration_s
        reply = self._answer(await self._http.post("/api/votes", json=body))
        made = reply.get("vote_id")
        if not isinstance(made, str):
            raise ApiError(
                200,
                "Unexpected answer",
                "the daemon did not name the new vote",
                code="console.no_vote_id",
            )
        return made

    async def hall_info(self) -> dict[str, Any]:
        """`GET /api/hall` as it stands now: the kinds and rules with what each needs for the
        electorate present (the new-vote dialog shows it)."""
        return await self._get("/api/hall")

    async def prepare_vote(self, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /api/votes` with a whole body; the answer names the vote and carries its
        warnings and what it needs."""
        reply = self._answer(await self._http.post("/api/votes", json=body))
        if not isinstance(reply.get("vote_id"), str):
            raise ApiError(
                200,
                "Unexpected answer",
                "the daemon did not name the new vote",
                code="console.no_vote_id",
            )
        return reply

    async def annul_vote(self, vote_id: str, reason: str) -> int:
        return await self._post(f"/api/votes/{vote_id}/annul", {"reason": reason})

    async def rerun_vote(self, vote_id: str) -> str:
        """Run an annulled vote again; returns the new vote's id."""
        reply = self._answer(await self._http.post(f"/api/votes/{vote_id}/rerun", json={}))
        made = reply.get("vote_id")
        if not isinstance(made, str):
            raise ApiError(
                200,
                "Unexpected answer",
                "the daemon did not name the new vote",
                code="console.no_vote_id",
            )
        return made

    async def manual_result(
        self, vote_id: str, method: str, totals: tuple[int, ...], present: int | None
    ) -> int:
        body: dict[str, Any] = {"method": method, "totals": list(totals)}
        if present is not None:
            body["present"] = present
        return await self._post(f"/api/votes/{vote_id}/manual-result", body)

    async def vote_step(self, vote_id: str, step: str) -> int:
        """open, hold, resume, close, cancel or publish."""
        if step not in {"open", "hold", "resume", "close", "cancel", "publish"}:
            raise ValueError(f"no vote step {step!r}")
        return await self._post(f"/api/votes/{vote_id}/{step}")

    async def grant(self, seat: int, speaker_list: str | None = None) -> int:
        body: dict[str, Any] = {"seat": seat}
        if speaker_list is not None:
            body["list"] = speaker_list
        return await self._post("/api/floor/grant", body)

    async def grant_next(self, speaker_list: str | None = None) -> int:
        return await self._post(
            "/api/floor/next", {} if speaker_list is None else {"list": speaker_list}
        )

    async def revoke(self, seat: int | None = None) -> int:
        return await self._post("/api/floor/revoke", {} if seat is None else {"seat": seat})

    async def priority(self, held: bool) -> int:
        return await self._post("/api/floor/priority", {"held": held})

    async def mic_override(self, seat: int, on: bool) -> int:
        return await self._post(f"/api/seats/{seat}/mic", {"on": on})

    async def identify(self, line: str, address: int, seconds: int) -> dict[str, Any]:
        """Ask a unit to blink its LEDs or ring for `seconds`; the daemon's answer once the
        unit took it (ApiError with the daemon's sentence when it cannot)."""
        return self._answer(
            await self._http.post(
                f"/api/units/{quote(line, safe='')}/{address}/identify", json={"seconds": seconds}
            )
        )

    async def ack_fault(self, fault_id: str) -> int:
        """The technician has seen fault `fault_id` (kept, marked, until it clears)."""
        return await self._post("/api/faults/ack", {"id": fault_id})

    # --- the sitting, attendance and the floor (console/sitting.py) -----------------------------

    async def open_sitting(self, body: dict[str, object]) -> int:
        return await self._post("/api/sitting/open", body)

    async def close_sitting(self) -> int:
        return await self._post("/api/sitting/close")

    async def set_item(self, item_id: str) -> int:
        return await self._post(f"/api/agenda/{quote(item_id, safe='')}/current")

    async def roll_call(self, start: bool) -> int:
        """Start a roll call (each delegate confirms on the seat's unit), or end it."""
        if start:
            return await self._post("/api/attendance/open", {"confirm": True})
        return await self._post("/api/attendance/close")

    async def set_presence(self, seat: int, present: bool, reason: str) -> int:
        return await self._post(
            f"/api/seats/{seat}/presence", {"present": present, "reason": reason}
        )

    async def move_delegate(self, seat: int, to_seat: int, reason: str) -> int:
        return await self._post(f"/api/seats/{seat}/move", {"to_seat": to_seat, "reason": reason})

    async def register_speaker(self, seat: int, speaker_list: str) -> int:
        return await self._post("/api/floor/register", {"seat": seat, "list": speaker_list})

    async def extend_turn(self, seat: int, seconds: float) -> int:
        return await self._post("/api/floor/extend", {"seat": seat, "seconds": seconds})

    async def mic_mode(self, mode: str, max_open: int | None) -> int:
        body: dict[str, object] = {"mode": mode}
        if max_open is not None:
            body["max_open"] = max_open
        return await self._post("/api/floor/mode", body)

    # --- a sitting prepared in advance (console/prepared.py) -----------------------------------

    async def load_sitting(self, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /api/sitting/load` with a sitting file's text; the answer says what the load
        does (or, with `check`, would do): the votes it prepares, those kept, the warnings."""
        return self._answer(await self._http.post("/api/sitting/load", json=body))

    async def next_vote(self) -> dict[str, Any]:
        """Open the next prepared vote (agenda order); the answer names it."""
        return self._answer(await self._http.post("/api/sitting/next-vote", json={}))

    async def add_mic(self) -> int:
        """Open the next one's microphone beside those live (refused at the cap)."""
        return await self._post("/api/floor/add")


def _body(response: httpx.Response, refusals: Catalogue | None = None) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.is_error:
        problem = data if isinstance(data, dict) else {}
        code = problem.get("code")
        params = problem.get("params")
        raise ApiError(
            response.status_code,
            str(problem.get("title") or response.reason_phrase),
            str(problem.get("detail") or response.text[:200]),
            code=code if isinstance(code, str) and code else None,
            params=params if isinstance(params, dict) else None,
            refusals=refusals,
        )
    if not isinstance(data, dict):
        raise ApiError(
            response.status_code,
            "Bad reply",
            "the daemon did not answer JSON",
            code="console.not_json",
        )
    return data


def _describe(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                "the daemon's certificate is not trusted (is --ca the hall CA?): "
                f"{cause.verify_message or cause}"
            )
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, InvalidHandshake):
        return f"the daemon refused the stream ({exc})"
    text = str(exc) or type(exc).__name__
    return text
