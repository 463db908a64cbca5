"""Hall configuration: examples load, Vietnamese round-trips, bad files get one clear error."""

from __future__ import annotations

import math
import re
import tomllib
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamber.controller.cli import main as chamber
from chamber.controller.config import (
    HALL_ID,
    MAX_FILE_BYTES,
    ConfigError,
    LineKind,
    load_config,
    parse_config,
)
from chamber.controller.core.inputs import CreateVote, OpenSitting
from chamber.controller.core.limits import (
    MAX_OPEN_MICS,
    MAX_REQUESTS,
    MAX_TURN_S,
    MAX_TURN_WARNING_S,
    MAX_VOICE_HOLD_S,
    MAX_VOICE_OPEN_DB,
    MAX_VOTE_DURATION_S,
    MAX_VOTE_WARNING_S,
    MIN_OPEN_MICS,
    MIN_VOICE_OPEN_DB,
    UNTIMED,
)
from chamber.controller.core.model import Base, Comparison, Language, MicClass, Role
from chamber.controller.core.rules import PRESETS
from chamber.controller.core.sitting import MeetingCore
from chamber.controller.hallgen import PROFILES, _q, generate, sized
from chamber.firmware_specs import load_spec
from chamber.protocols.mqtt import MessageKind, MqttUsageError, Topics, render_acl

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("name", "seats"), [("vn-council", 50), ("assembly-500", 500), ("hall-4096", 4096)]
)
def test_examples_load(name: str, seats: int) -> None:
    cfg = load_config(EXAMPLES / f"{name}.toml")
    assert len(cfg.hall.seats) == seats
    assert cfg.hall.body.members == seats
    assert len(cfg.units) == seats


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_examples_are_what_the_generator_makes(name: str) -> None:
    """The shipped files are generated; a change to the generator must be re-run on them."""
    assert (EXAMPLES / f"{name}.toml").read_text(encoding="utf-8") == generate(PROFILES[name])


def test_vietnamese_council_example() -> None:
    cfg = load_config(EXAMPLES / "vn-council.toml")
    hall = cfg.hall
    assert hall.language is Language.VI
    assert hall.body.name == "Hội đồng nhân dân tỉnh Ninh Bình khóa XV"
    assert hall.policies.vote.rule == "vn-council"
    chair = hall.delegates[0]
    assert chair.role is Role.CHAIR
    assert chair.title == "Chủ tịch Hội đồng nhân dân tỉnh"
    assert hall.seat(1).mic_class is MicClass.CHAIR
    kinds = {ln.kind for ln in cfg.lines}
    assert kinds == {LineKind.MODBUS_RTU, LineKind.MIC_SERIAL}
    assert sum(u.ip for u in cfg.units) == 6
    rule = hall.policies.rules[0]
    assert rule.threshold.comparison is Comparison.AT_LEAST
    assert rule.threshold.fraction == Fraction(2, 3)
    assert rule.base is Base.PRESENT


def _minimal(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "hall": {"id": "h1"},
        "body": {"name": "Hội đồng", "members": 2},
        "delegates": [{"id": "a", "name": "Nguyễn Văn An"}, {"id": "b", "name": "Lê Thị Hà"}],
        "lines": [
            {"id": "rtu1", "kind": "modbus-rtu", "device": "/dev/ttyUSB0"},
            {"id": "mic1", "kind": "mic-serial", "device": "/dev/ttyUSB1"},
        ],
        "seats": [
            {
                "number": 1,
                "row": 1,
                "col": 1,
                "delegate": "a",
                "keypad": {"line": "rtu1", "address": 1},
                "mic": {"line": "mic1", "address": 1},
            },
            {"number": 2, "row": 1, "col": 2, "delegate": "b", "ip": True},
        ],
    }
    doc.update(overrides)
    return doc


def test_minimal_config_builds_the_hall() -> None:
    cfg = parse_config(_minimal())
    assert cfg.hall.delegate("a").name == "Nguyễn Văn An"
    assert cfg.units[0].keypad is not None
    assert cfg.units[0].keypad.address == 1
    assert cfg.broker.embedded


def _seats_with(seat0: dict[str, object]) -> list[object]:
    seats: list[dict[str, object]] = list(_minimal()["seats"])  # type: ignore[call-overload]
    seats[0] = {**seats[0], **seat0}
    return list(seats)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            _minimal(seats=_seats_with({"keypad": {"line": "rtu9", "address": 1}})),
            "t.toml: seats[0].keypad.line: no line named 'rtu9' (lines: rtu1, mic1)",
        ),
        (
            _minimal(seats=_seats_with({"keypad": {"line": "mic1", "address": 1}})),
            "t.toml: seats[0].keypad.line: line 'mic1' is mic-serial; a keypad needs "
            "modbus-rtu or modbus-tcp",
        ),
        (
            _minimal(seats=_seats_with({"keypad": {"line": "rtu1", "address": 248}})),
            "t.toml: seats[0].keypad.address: Input should be less than or equal to 247",
        ),
        (
            _minimal(seats=_seats_with({"delegate": "zz"})),
            "t.toml: seats[0].delegate: no delegate 'zz'",
        ),
        (
            _minimal(seats=_seats_with({"delegate": "b"})),
            "t.toml: seats[1].delegate: delegate 'b' already sits at seat 1",
        ),
        (
            _minimal(seats=_seats_with({"col": 2})),
            "t.toml: seats[1]: (row, col) (1, 2) repeats seats[0]",
        ),
        (
            _minimal(body={"name": "X", "members": 1}),
            "t.toml: body.members: 1 members, but 2 delegates are voting members",
        ),
        (
            _minimal(body={"name": "X", "members": 2, "colour": "red"}),
            "t.toml: body.colour: unknown key (check its spelling)",
        ),
        (_minimal(hall={}), "t.toml: hall.id: missing (this key is required)"),
        (
            _minimal(policies={"vote": {"rule": "simple"}}),
            "t.toml: policies: vote.rule 'simple' is neither a preset nor a rule of this hall "
            "(known: roberts-majority, vn-council, vn-two-thirds)",
        ),
        (
            _minimal(policies={"floor": {"max_open": 26}}),
            "t.toml: policies.floor.max_open: Input should be less than or equal to 25",
        ),
        (
            _minimal(policies={"quorum": {"comparison": "more-than", "fraction": "3/2"}}),
            "t.toml: policies.quorum.fraction: a fraction between 0 and 1 is needed, got '3/2'",
        ),
        (
            _minimal(lines=[{"id": "rtu1", "kind": "modbus-tcp", "host": "10.0.0.1"}]),
            "t.toml: lines[0]: a modbus-tcp line needs host and port",
        ),
    ],
)
def test_bad_config_is_refused_with_one_clear_message(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, "t.toml")
    assert str(info.value).split(" (and ")[0] == message.split(" (and ")[0]


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "hall.toml"
    path.write_text('[hall]\nid = "h1"\n[body\nname = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"hall\.toml: TOML syntax: .*line 3"):
        load_config(path)


def test_non_utf8_and_missing_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "hall.toml"
    path.write_bytes(b'[hall]\nid = "h\xff"\n')
    with pytest.raises(ConfigError, match=r"hall\.toml: line 2: not UTF-8"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=60).filter(lambda s: s.strip() == s and s.strip()))
def test_any_name_round_trips_exactly(name: str) -> None:
    """Names in any script (Vietnamese in NFC or NFD, emoji, quotes) come back byte for byte."""
    text = f'[hall]\nid = "h"\n[body]\nname = {_q(name)}\nmembers = 1\n'
    text += f'[[delegates]]\nid = "a"\nname = {_q(name)}\n'
    text += '[[seats]]\nnumber = 1\nrow = 1\ncol = 1\ndelegate = "a"\nip = true\n'
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        # TOML forbids some control characters even escaped in a basic string; nothing to test.
        return
    cfg = parse_config(data)
    assert cfg.hall.body.name == name
    assert cfg.hall.delegate("a").name == name


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("seats", [1, 2, 3, 4, 123])
def test_generated_hall_of_any_size_loads(tmp_path: Path, seats: int, language: str) -> None:
    """Every size `config generate --seats` takes gives a hall its own check accepts (a hall
    of one or two seats had three officers)."""
    path = tmp_path / "h.toml"
    path.write_text(generate(sized(seats, language)), encoding="utf-8")
    cfg = load_config(path)
    assert len(cfg.hall.seats) == seats
    assert cfg.hall.body.members == seats
    assert all(u.ip for u in cfg.units)
    assert f"({seats} seat{'s' if seats > 1 else ''})" in path.read_text("utf-8")


def test_cli_check_and_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.toml"
    assert chamber(["config", "generate", "--seats", "12", "--out", str(out)]) == 0
    assert chamber(["config", "check", str(out)]) == 0
    assert "12 seats" in capsys.readouterr().out
    out.write_text(out.read_text().replace("members = 12", "members = 0"))
    assert chamber(["config", "check", str(out)]) == 2
    assert "body.members" in capsys.readouterr().err


# --- bounded numbers ---------------------------------------------------------------------------


def _quorum(**threshold: object) -> dict[str, object]:
    return _minimal(policies={"quorum": {"comparison": "more-than", **threshold}})


@pytest.mark.parametrize(
    "fraction",
    [
        "1e-999999999",  # Fraction() would build 10**999999999: minutes of work
        "1e-2",
        "1E0",
        "0x1",
        "1_0/20",
        " 1/2",
        "1/2 ",
        "-1/2",
        "+1/2",
        "nan",
        "inf",
        "1/0",
        "1234567890/2",
        "0.1234567891",
        "½",
        "",
    ],
)
def test_fractions_are_digits_only(fraction: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_quorum(fraction=fraction), "t.toml")
    message = str(err.value)
    assert message.startswith("t.toml: policies.quorum.fraction: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("fraction", "value"),
    [("2/3", Fraction(2, 3)), ("0.5", Fraction(1, 2)), ("1", Fraction(1)), ("0", Fraction(0))],
)
def test_plain_fractions_are_read_exactly(fraction: str, value: Fraction) -> None:
    cfg = parse_config(_quorum(fraction=fraction))
    assert cfg.hall.policies.quorum.threshold.fraction == value


def test_an_exponent_bomb_in_a_file_is_refused_by_config_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (EXAMPLES / "vn-council.toml").read_text(encoding="utf-8")
    assert text.count('fraction = "1/2"') == 1
    path = tmp_path / "bomb.toml"
    path.write_text(text.replace('fraction = "1/2"', 'fraction = "1e-999999999"'), "utf-8")
    assert chamber(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {path}: policies.quorum.fraction: not a fraction")


@pytest.mark.parametrize(
    ("policies", "key"),
    [
        ({"quorum": {"comparison": "more-than", "constant": -1000}}, "policies.quorum.constant"),
        ({"quorum": {"comparison": "more-than", "constant": -1}}, "policies.quorum.constant"),
        ({"quorum": {"comparison": "more-than", "constant": 3}}, "policies.quorum.constant"),
        ({"quorum": {"comparison": "more-than", "constant": 10**30}}, "policies.quorum.constant"),
        (
            {"rules": [{"key": "r1", "comparison": "at-least", "base": "present", "constant": 3}]},
            "policies.rules[0].constant",
        ),
        (
            {"rules": [{"key": "r1", "comparison": "at-least", "base": "present", "constant": -2}]},
            "policies.rules[0].constant",
        ),
        ({"vote": {"duration_s": math.nan}}, "policies.vote.duration_s"),
        ({"vote": {"duration_s": math.inf}}, "policies.vote.duration_s"),
        ({"vote": {"warning_s": -math.inf}}, "policies.vote.warning_s"),
        ({"floor": {"speak_time_s": math.nan}}, "policies.floor.speak_time_s"),
        ({"floor": {"voice_open_db": -math.inf}}, "policies.floor.voice_open_db"),
    ],
)
def test_constants_and_durations_are_bounded(policies: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_minimal(policies=policies), "t.toml")
    assert str(err.value).startswith(f"t.toml: {key}: "), str(err.value)


def test_a_constant_up_to_the_members_is_accepted() -> None:
    cfg = parse_config(_quorum(constant=2))
    assert cfg.hall.policies.quorum.threshold.constant == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = 1" + "0" * 5000, "TOML: Exceeds the limit"),
        ("x = " + "[" * 100_000 + "]" * 100_000, "TOML: arrays or tables nested too deeply"),
    ],
)
def test_toml_bombs_get_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bomb.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)


def test_a_huge_file_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    with path.open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ConfigError, match="larger than 16 MiB"):
        load_config(path)


# --- one hall id rule for `config check` and `chamber run` --------------------------------------


def test_the_hall_id_rule_is_the_mqtt_contracts() -> None:
    contract_pattern = load_spec("mqtt_asyncapi.yaml")["components"]["parameters"]["hall"]
    assert HALL_ID.pattern == contract_pattern["x-pattern"]


@pytest.mark.parametrize(
    "hall_id",
    ["hall-", "x" * 33, "a" * 64, "-a", "Hall", "hội-trường", "a_b", "a.b", "a b", ""],
)
def test_ids_chamber_run_could_not_use_are_refused(hall_id: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_minimal(hall={"id": hall_id}), "t.toml")
    assert str(err.value).startswith("t.toml: hall.id: ")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcxyz0189-_.A", min_size=0, max_size=36))
def test_config_accepts_exactly_the_ids_that_run_can_use(hall_id: str) -> None:
    """An id `config check` accepts works for everything `chamber run` does with it: the MQTT
    topics, the broker's ACL and accounts, the controller's client id, the journal's file name.
    `chamber run` itself is started with such ids in tests/test_startup.py."""
    try:
        parse_config(_minimal(hall={"id": hall_id}))
    except ConfigError:
        accepted = False
    else:
        accepted = True
    try:
        topics = Topics(hall_id)
        render_acl(hall_id, [1, 2], "chamber-controller", "chamber-wall")
    except MqttUsageError:
        usable = False
    else:
        usable = True
        assert topics.topic(MessageKind.VOTE_KEY, 2) == f"chamber/{hall_id}/seat/2/unit/vote"
        journal = Path(f"{hall_id}.journal")
        assert journal.name == f"{hall_id}.journal"
        assert journal.parent == Path(".")
    assert accepted == usable


# --- the limits come from the core's table ------------------------------------------------

_ABOVE = math.inf
_BELOW = -math.inf


def _past(bound: float, direction: float) -> float:
    """The first number past `bound` (an int bound: the next int)."""
    if isinstance(bound, int):
        return bound + (1 if direction > 0 else -1)
    return math.nextafter(bound, direction)


# (section, key, bound, which way is out, other keys the bound needs). A timed vote's warning
# must come before its end, so the longest warning is tried on an untimed vote.
_BOUNDS: list[tuple[str, str, float, float, dict[str, object]]] = [
    ("vote", "duration_s", UNTIMED, _BELOW, {}),
    ("vote", "duration_s", MAX_VOTE_DURATION_S, _ABOVE, {}),
    ("vote", "warning_s", MAX_VOTE_WARNING_S, _ABOVE, {"duration_s": UNTIMED}),
    ("floor", "max_open", MIN_OPEN_MICS, _BELOW, {}),
    ("floor", "max_open", MAX_OPEN_MICS, _ABOVE, {}),
    ("floor", "max_requests", MAX_REQUESTS, _ABOVE, {}),
    ("floor", "speak_time_s", MAX_TURN_S, _ABOVE, {}),
    ("floor", "question_time_s", MAX_TURN_S, _ABOVE, {}),
    ("floor", "reply_time_s", MAX_TURN_S, _ABOVE, {}),
    ("floor", "warning_s", MAX_TURN_WARNING_S, _ABOVE, {}),
    ("floor", "voice_open_db", MIN_VOICE_OPEN_DB, _BELOW, {}),
    ("floor", "voice_open_db", MAX_VOICE_OPEN_DB, _ABOVE, {}),
    ("floor", "voice_hold_s", MAX_VOICE_HOLD_S, _ABOVE, {}),
]


@pytest.mark.parametrize(
    ("section", "key", "bound", "out", "extra"),
    _BOUNDS,
    ids=[f"{s}.{k}={b:g}" for s, k, b, _, _ in _BOUNDS],
)
def test_a_policy_at_the_cores_limit_is_accepted_and_one_past_it_refused(
    section: str, key: str, bound: float, out: float, extra: dict[str, object]
) -> None:
    """The hall file's bounds are the core's table: a file at a limit loads and the core takes
    the hall it builds (its floor, and a vote with the hall's defaults); one past is refused,
    naming the key."""
    cfg = parse_config(_minimal(policies={section: {**extra, key: bound}}), "t.toml")
    policy = getattr(cfg.hall.policies, section)
    assert getattr(policy, key) == bound
    core = MeetingCore(cfg.hall)
    core.handle(OpenSitting(at=1.0, sitting_id="s1", title="Kỳ họp"))
    core.handle(CreateVote(at=1.0, vote_id="v1", title="Tờ trình"))
    with pytest.raises(ConfigError) as err:
        parse_config(_minimal(policies={section: {**extra, key: _past(bound, out)}}), "t.toml")
    assert str(err.value).startswith(f"t.toml: policies.{section}.{key}: "), str(err.value)


def test_an_untimed_vote_in_a_hall_file_needs_no_shorter_warning() -> None:
    """0 is no time limit: the default warning (10 s) is not "longer than the vote", and the
    core's vote has neither a countdown nor a warning."""
    cfg = parse_config(_minimal(policies={"vote": {"duration_s": UNTIMED}}), "t.toml")
    assert cfg.hall.policies.vote.duration_s == UNTIMED
    core = MeetingCore(cfg.hall)
    core.handle(OpenSitting(at=1.0, sitting_id="s1", title="Kỳ họp"))
    core.handle(CreateVote(at=1.0, vote_id="v1", title="Tờ trình"))
    vote = core.snapshot()["votes"][0]
    assert (vote["duration_s"], vote["warning_s"]) == (UNTIMED, 0.0)
    # A timed vote still needs its warning before its end.
    with pytest.raises(ConfigError, match="warning_s must be shorter than duration_s"):
        parse_config(_minimal(policies={"vote": {"duration_s": 5, "warning_s": 5}}), "t.toml")


def test_the_preset_rules_are_the_cores() -> None:
    """A hall file may name any of the core's presets, and may not redefine one."""
    for key in PRESETS:
        assert parse_config(_minimal(policies={"vote": {"rule": key}})).hall.policies.vote.rule
        rule = {"key": key, "comparison": "at-least", "base": "present"}
        with pytest.raises(ConfigError, match="shadowing a preset"):
            parse_config(_minimal(policies={"rules": [rule]}), "t.toml")


def test_delegates_name_their_cards_in_hex() -> None:
    delegates = [
        {"id": "a", "name": "Nguyễn Văn An", "cards": ["04a1b2c3d4e5f6", "DEADBEEF"]},
        {"id": "b", "name": "Lê Thị Hà"},
    ]
    cfg = parse_config(_minimal(delegates=delegates))
    assert cfg.hall.delegate("a").cards == ("04A1B2C3D4E5F6", "DEADBEEF")
    assert cfg.hall.delegate("b").cards == ()


@pytest.mark.parametrize(
    ("cards_a", "cards_b", "message"),
    [
        (["04A1B2C3D4E5"], [], "card '04A1B2C3D4E5' is not a card UID"),
        (["04A1B2C3D4E5FZ"], [], "card '04A1B2C3D4E5FZ' is not a card UID"),
        (["DEADBEEF"], ["deadbeef"], "t.toml: delegates[1].cards: card DEADBEEF is already"),
    ],
)
def test_bad_cards_are_refused(cards_a: list[str], cards_b: list[str], message: str) -> None:
    delegates = [
        {"id": "a", "name": "Nguyễn Văn An", "cards": cards_a},
        {"id": "b", "name": "Lê Thị Hà", "cards": cards_b},
    ]
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(_minimal(delegates=delegates), "t.toml")
