"""The hall's PTZ cameras: which preset each camera shows, decided from the floor and votes.

Pure, like the rest of the core: no I/O, no clock (`now` is passed in). The runtime's camera
job (`controller/cameras.py`) feeds `CameraDirector.update` the public state after each
durable batch (so a recall always follows the journaled change that caused it) and sends
the `PresetRecall`s it returns to the camera drivers.

The rules, per camera, in this order (`CameraDirector._wanted`):
1. a secret ballot is open or on hold: the overview, at once and whatever else holds, and
   never a preset that the hall file also gives a seat or the chair (then no recall at all:
   the camera stays where the secret vote found it, on the overview of the vote before or a
   shot chosen before the vote was opened, never a new one of a seat);
2. a technician holds the camera in manual: no automatic recall;
3. any other vote open or on hold: the overview, at once;
4. the newest live delegate microphone whose seat this camera frames: that seat, at once
   when the camera shows the chair or the overview; when it shows another speaker, only
   once the newcomer has been live for `hold_s` (a short interjection does not swing the
   camera) and the shot has been held `hold_s`;
5. nobody speaks: the chair, once the shot has been held `hold_s`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MAX_CAMERAS = 16
DEFAULT_HOLD_S = 4.0
_LIVE_VOTE = frozenset({"open", "hold"})


class CameraTransport(StrEnum):
    VISCA_IP = "visca-ip"  # Sony's VISCA over IP, UDP 52381
    VISCA_UDP = "visca-udp"  # raw VISCA in UDP datagrams on a configured port


@dataclass(frozen=True)
class CameraSpec:
    """One camera of the hall file's `[[cameras]]`."""

    id: str
    host: str
    port: int = 52381
    transport: CameraTransport = CameraTransport.VISCA_IP
    chair_preset: int | None = None
    overview_preset: int | None = None
    # seat -> the preset of this camera that frames it
    seats: Mapping[int, int] = field(default_factory=dict)
    hold_s: float = DEFAULT_HOLD_S

    def framing_presets(self) -> frozenset[int]:
        """Presets that frame a person: a seat's or the chair's."""
        found = set(self.seats.values())
        if self.chair_preset is not None:
            found.add(self.chair_preset)
        return frozenset(found)

    def secret_safe(self, preset: int | None) -> bool:
        return preset is not None and preset not in self.framing_presets()


class Shot(StrEnum):
    CHAIR = "chair"
    OVERVIEW = "overview"
    SEAT = "seat"


@dataclass(frozen=True)
class PresetRecall:
    """Have camera `camera` recall `preset` (what it shows: `shot`, and `seat` for a seat)."""

    camera: str
    preset: int
    shot: Shot
    seat: int | None = None
    at: float = 0.0


@dataclass(frozen=True)
class Scene:
    """What the cameras follow, read from the public state."""

    # (seat, started) of every live delegate microphone
    live: tuple[tuple[int, float], ...] = ()
    vote_live: bool = False
    secret_live: bool = False


def scene_from_state(state: Mapping[str, Any]) -> Scene:
    """The scene of a view of the core (`MeetingCore.snapshot` or the chair's view)."""
    floor = state.get("floor") or {}
    live: list[tuple[int, float]] = []
    for turn in floor.get("live") or ():
        seat, started = turn.get("seat"), turn.get("started")
        if isinstance(seat, int) and isinstance(started, int | float):
            live.append((seat, float(started)))
    vote_live = secret = False
    for vote in state.get("votes") or ():
        if vote.get("state") in _LIVE_VOTE:
            vote_live = True
            secret = secret or vote.get("mode") == "secret"
    return Scene(tuple(live), vote_live, secret)


@dataclass
class _Camera:
    spec: CameraSpec
    preset: int | None = None
    shot: Shot | None = None
    seat: int | None = None
    since: float = -math.inf
    manual: bool = False


class CameraDirector:
    """Keeps what each camera shows and decides the next recall; see the module's rules."""

    def __init__(self, cameras: tuple[CameraSpec, ...]) -> None:
        self._cameras = {spec.id: _Camera(spec) for spec in cameras}
        self._scene = Scene()

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(self._cameras)

    def shown(self, camera: str) -> tuple[Shot | None, int | None, int | None]:
        c = self._cameras[camera]
        return c.shot, c.seat, c.preset

    def manual(self, camera: str) -> bool:
        return self._cameras[camera].manual

    def set_manual(self, camera: str, manual: bool, now: float) -> list[PresetRecall]:
        """A technician takes the camera in hand (`manual=True`) or gives it back. What the
        camera shows is then unknown; giving it back recalls what the scene wants."""
        c = self._cameras[camera]
        c.manual = manual
        c.preset = c.shot = c.seat = None
        c.since = -math.inf
        return self.update(self._scene, now)

    def update(self, scene: Scene, now: float) -> list[PresetRecall]:
        """The recalls the scene asks for now; remember them as sent."""
        self._scene = scene
        recalls = []
        for c in self._cameras.values():
            wanted = self._wanted(c, scene, now)
            if wanted is None:
                continue
            shot, seat, preset = wanted
            if preset == c.preset and shot == c.shot and seat == c.seat:
                continue
            c.preset, c.shot, c.seat, c.since = preset, shot, seat, now
            recalls.append(PresetRecall(c.spec.id, preset, shot, seat, now))
        return recalls

    def next_deadline(self, now: float) -> float | None:
        """When a recall put off for the hold may become due (for the runtime's timer)."""
        due: list[float] = []
        for c in self._cameras.values():
            if c.manual or self._scene.vote_live:
                continue
            hold = c.spec.hold_s
            for _, started in self._scene.live:
                due.append(started + hold)
            due.append(c.since + hold)
        later = [t for t in due if math.isfinite(t) and t > now]
        return min(later) if later else None

    def _wanted(self, c: _Camera, scene: Scene, now: float) -> tuple[Shot, int | None, int] | None:
        spec = c.spec
        if scene.secret_live:
            if spec.secret_safe(spec.overview_preset):
                assert spec.overview_preset is not None
                return Shot.OVERVIEW, None, spec.overview_preset
            return None
        if c.manual:
            return None
        if scene.vote_live:
            if spec.overview_preset is None:
                return None
            return Shot.OVERVIEW, None, spec.overview_preset
        held = now - c.since >= spec.hold_s
        framed = [(started, seat) for seat, started in scene.live if seat in spec.seats]
        if framed:
            started, seat = max(framed)
            if c.shot is Shot.SEAT and c.seat == seat:
                return Shot.SEAT, seat, spec.seats[seat]
            if c.shot is Shot.SEAT and c.seat in {s for _, s in framed}:
                if not (held and now - started >= spec.hold_s):
                    return None
            elif c.shot is Shot.SEAT and not held:
                # the framed speaker has just stopped and another speaks: wait out the hold
                return None
            return Shot.SEAT, seat, spec.seats[seat]
        if spec.chair_preset is None:
            return None
        if c.shot is Shot.SEAT and not held:
            return None
        return Shot.CHAIR, None, spec.chair_preset


def check_cameras(cameras: tuple[CameraSpec, ...]) -> None:
    """Raise ValueError for a camera map the director cannot follow."""
    if len(cameras) > MAX_CAMERAS:
        raise ValueError(f"{len(cameras)} cameras (at most {MAX_CAMERAS})")
    seen: set[str] = set()
    for spec in cameras:
        if spec.id in seen:
            raise ValueError(f"camera {spec.id!r} is given twice")
        seen.add(spec.id)
        if not math.isfinite(spec.hold_s) or not 0 <= spec.hold_s <= 600:
            raise ValueError(f"camera {spec.id!r}: hold_s {spec.hold_s} is not in 0..600")
