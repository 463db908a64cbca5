"""The camera director: the floor's and the votes' shots, the hold, manual, secret ballots.

Times are the rules' real values (a 4 s hold) on plain numbers: the director reads no clock.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chamber.controller.core.cameras import (
    CameraDirector,
    CameraSpec,
    PresetRecall,
    Scene,
    Shot,
    scene_from_state,
)

SPEC = CameraSpec(
    "cam1", "127.0.0.1", chair_preset=1, overview_preset=2, seats={5: 15, 6: 16}, hold_s=4.0
)


def presets(recalls: list[PresetRecall]) -> list[int]:
    return [r.preset for r in recalls]


def test_chair_then_speaker_then_chair() -> None:
    d = CameraDirector((SPEC,))
    assert d.update(Scene(), 0.0) == [PresetRecall("cam1", 1, Shot.CHAIR, None, 0.0)]
    assert d.update(Scene(), 1.0) == []
    assert d.update(Scene(((5, 10.0),)), 10.0) == [PresetRecall("cam1", 15, Shot.SEAT, 5, 10.0)]
    # the speaker stops before the hold is out: the camera stays, then goes back to the chair
    assert d.update(Scene(), 12.0) == []
    assert d.next_deadline(12.0) == 14.0
    assert presets(d.update(Scene(), 14.0)) == [1]


def test_a_short_interjection_does_not_swing_the_camera() -> None:
    d = CameraDirector((SPEC,))
    d.update(Scene(((5, 0.0),)), 0.0)
    assert d.shown("cam1") == (Shot.SEAT, 5, 15)
    both = Scene(((5, 0.0), (6, 20.0)))
    assert d.update(both, 20.0) == []  # seat 6 is newest, but has spoken for 0 s
    assert d.next_deadline(20.0) == 24.0
    assert d.update(Scene(((5, 0.0),)), 22.0) == []  # it stopped after 2 s: still seat 5
    again = Scene(((5, 0.0), (6, 30.0)))
    assert d.update(again, 30.0) == []
    assert presets(d.update(again, 34.0)) == [16]  # live 4 s: now the camera goes


def test_votes_take_the_overview_at_once() -> None:
    d = CameraDirector((SPEC,))
    d.update(Scene(((5, 0.0),)), 0.0)
    assert presets(d.update(Scene(((5, 0.0),), vote_live=True), 0.5)) == [2]
    assert presets(d.update(Scene(((5, 0.0),)), 1.0)) == [15]


def test_secret_ballot_never_frames_a_seat_even_held_in_manual() -> None:
    d = CameraDirector((SPEC,))
    d.update(Scene(((5, 0.0),)), 0.0)
    d.set_manual("cam1", True, 1.0)
    assert d.update(Scene(((6, 2.0),)), 2.0) == []  # manual: no automatic recall
    secret = Scene(((6, 2.0),), vote_live=True, secret_live=True)
    assert presets(d.update(secret, 3.0)) == [2]
    # an overview that is also a seat's preset is never recalled in a secret vote
    unsafe = CameraSpec("cam2", "h", chair_preset=1, overview_preset=15, seats={5: 15})
    d2 = CameraDirector((unsafe,))
    assert d2.update(secret, 3.0) == []


def test_manual_given_back_recalls_what_the_scene_wants() -> None:
    d = CameraDirector((SPEC,))
    d.update(Scene(), 0.0)
    d.set_manual("cam1", True, 1.0)
    assert d.manual("cam1")
    assert presets(d.set_manual("cam1", False, 2.0)) == [1]


def test_scene_from_a_state() -> None:
    state = {
        "floor": {"live": [{"seat": 5, "started": 3.0}, {"seat": "x", "started": 1}]},
        "votes": [{"state": "closed", "mode": "open"}, {"state": "open", "mode": "secret"}],
    }
    assert scene_from_state(state) == Scene(((5, 3.0),), True, True)
    assert scene_from_state({}) == Scene()


events = st.lists(
    st.tuples(
        st.floats(0, 20, allow_nan=False),
        st.frozensets(st.sampled_from([5, 6, 7]), max_size=3),
        st.booleans(),
        st.booleans(),
        st.booleans(),
    ),
    max_size=40,
)


@given(events)
def test_no_recall_frames_a_seat_during_a_secret_vote(
    steps: list[tuple[float, frozenset[int], bool, bool, bool]],
) -> None:
    """Whatever the floor, the hold and the technician do, while a secret vote is live no
    recall frames a seat or the chair, and the camera is taken to a safe overview."""
    unsafe = CameraSpec("cam2", "h", chair_preset=1, overview_preset=16, seats={5: 15, 6: 16})
    d = CameraDirector((SPEC, unsafe))
    now = 0.0
    for dt, seats, vote, secret, manual in steps:
        now += dt
        if manual:
            d.set_manual("cam1", not d.manual("cam1"), now)
        scene = Scene(tuple((s, now - 1.0) for s in sorted(seats)), vote or secret, secret)
        for recall in d.update(scene, now):
            if secret:
                spec = SPEC if recall.camera == "cam1" else unsafe
                assert recall.shot is Shot.OVERVIEW
                assert recall.preset not in spec.framing_presets()
        if secret:
            assert d.shown("cam1") == (Shot.OVERVIEW, None, 2)
