"""Every route of the served OpenAPI document, called by every role.

The route list is read from `app.openapi()`, so a route added later is walked too: no token
or a bad one gets 401, a role outside the route's `x-roles` gets 403, an allowed role never
gets 401/403 and never a server error. Errors are RFC 9457 problem+json.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest

from chamber.controller.auth import ALL_ROLES, Role
from chamber.controller.core.inputs import VoteKeyPressed
from chamber.drivers.base import LineHealth, UnitHealth, UnitKind

from .conftest import Hall

PATH_VALUES = {"seat": "5", "vote_id": "v1", "item_id": "1", "line": "rtu-1", "address": "5"}
NO_TOKEN = "no token"
BAD_TOKEN = "bad token"
CALLERS: tuple[Role | str, ...] = (*Role, NO_TOKEN, BAD_TOKEN)


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def example(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A small valid value for a JSON Schema of the document (required fields only)."""
    schema = _resolve(schema, spec)
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, spec).get("type") != "null"]
            return example(options[0], spec)
    kind = schema.get("type")
    if kind == "object":
        return {
            name: example(schema["properties"][name], spec) for name in schema.get("required", [])
        }
    if kind == "array":
        return []
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    return None


def operations(spec: dict[str, Any]) -> list[tuple[str, str, list[str], Any]]:
    ops = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)
            body = None
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                body = example(content["application/json"]["schema"], spec)
            ops.append((method.upper(), url, op["x-roles"], body))
    return ops


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert isinstance(problem["detail"], str)
    assert problem["detail"]
    return problem


async def call(hall: Hall, caller: Role | str, method: str, url: str, body: Any) -> httpx.Response:
    headers = {}
    if isinstance(caller, Role):
        headers["Authorization"] = f"Bearer {hall.tokens[caller]}"
    elif caller == BAD_TOKEN:
        headers["Authorization"] = "Bearer not-a-token"
    async with hall.client(None) as client:
        return await client.request(method, url, json=body, headers=headers)


async def test_every_route_declares_roles_and_problem_responses(hall: Hall) -> None:
    spec = hall.daemon.app.openapi()
    ops = operations(spec)
    # The walk below must not silently cover nothing.
    assert len(ops) >= 30
    for method, url, roles, _ in ops:
        assert roles, f"{method} {url} declares no roles"
        assert set(roles) <= {r.value for r in Role}


def mentions_health(value: Any) -> bool:
    """Whether a JSON value carries units' or lines' health anywhere."""
    if isinstance(value, dict):
        if "health" in value or str(value.get("path", "")).startswith("/health"):
            return True
        return any(mentions_health(v) for v in value.values())
    if isinstance(value, list):
        return any(mentions_health(v) for v in value)
    return False


def report_health(hall: Hall, online: bool) -> None:
    """What a keypad line's driver reports: its line and one unit (the runtime's health sink)."""
    sink = hall.daemon.runtime._on_health
    sink(LineHealth("rtu-1", connected=True, detail="/dev/ttyUSB0"))
    sink(UnitHealth("rtu-1", 5, 5, UnitKind.KEYPAD, online=online, firmware="1.4"))


async def test_every_route_by_every_role(hall: Hall) -> None:
    report_health(hall, online=True)
    await hall.open_sitting()
    async with hall.client() as chair:
        r = await chair.post("/api/votes", json={"vote_id": "v1", "title": "Nghị quyết số 1"})
        assert r.status_code == 200, r.text
    spec = hall.daemon.app.openapi()
    seen_allowed = 0
    for method, url, roles, body in operations(spec):
        for caller in CALLERS:
            response = await call(hall, caller, method, url, body)
            where = f"{caller} {method} {url}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if caller in (NO_TOKEN, BAD_TOKEN):
                assert_problem(response, 401)
                assert response.headers["www-authenticate"] == "Bearer"
            elif caller not in roles:
                problem = assert_problem(response, 403)
                assert problem["code"] == "auth.role_forbidden", where
                assert problem["params"]["role"] == str(caller), where
            else:
                seen_allowed += 1
                assert response.status_code not in (401, 403), f"{where}: {response.text}"
                if response.status_code >= 400:
                    assert_problem(response, response.status_code)
                if caller is Role.OBSERVER and "json" in response.headers["content-type"]:
                    assert not mentions_health(response.json()), where
    assert seen_allowed >= 40
    async with hall.client(Role.TECHNICIAN) as technician:
        # The walk would prove nothing if there were no health to hide.
        assert mentions_health((await technician.get("/api/state")).json())


async def test_the_stream_shows_health_to_the_staff_only(hall: Hall) -> None:
    import websockets

    report_health(hall, online=True)
    base = hall.url.replace("http://", "ws://") + "/api/stream?token="
    streams = {role: await websockets.connect(base + hall.tokens[role]) for role in ALL_ROLES}
    try:
        snapshots = {
            role: json.loads(await asyncio.wait_for(ws.recv(), 10)) for role, ws in streams.items()
        }
        # The unit goes off line, then a sitting opens: every role sees the sitting's patches.
        report_health(hall, online=False)
        await hall.open_sitting(present=range(1, 3))
        last = hall.daemon.runtime.hub.seq
        seen: dict[Role, list[dict[str, Any]]] = {}
        for role, ws in streams.items():
            seen[role] = [snapshots[role]]
            while seen[role][-1]["seq"] < last:
                seen[role].append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    finally:
        for ws in streams.values():
            await ws.close()
    for role, messages in seen.items():
        paths = {op["path"].split("/")[1] for m in messages[1:] for op in m["ops"]}
        assert "sitting" in paths, role
        if role is Role.OBSERVER:
            assert not mentions_health(messages), messages
            assert "health" not in paths
        else:
            assert "health" in messages[0]["state"], role
            assert "health" in paths, role


async def test_a_token_in_the_url_is_refused_outside_the_stream(hall: Hall) -> None:
    """Only the stream takes `?token=` (a browser's WebSocket cannot send a header)."""
    spec = hall.daemon.app.openapi()
    async with hall.client(None) as client:
        for method, url, _roles, body in operations(spec):
            response = await client.request(
                method, url, json=body, params={"token": hall.tokens[Role.CHAIR]}
            )
            assert_problem(response, 401)
        header = {"Authorization": f"Bearer {hall.tokens[Role.OBSERVER]}"}
        ok = await client.get("/api/state", headers=header)
        assert ok.status_code == 200
        assert ok.json()["type"] == "snapshot"
        forbidden = await client.post("/api/sitting/close", headers=header)
        assert_problem(forbidden, 403)


async def test_conflict_carries_the_core_sentence(hall: Hall) -> None:
    await hall.open_sitting()
    async with hall.client() as chair:
        assert (await chair.post("/api/votes", json={"vote_id": "v1", "title": "NQ"})).is_success
        assert (await chair.post("/api/votes/v1/open")).is_success
        await hall.feed(VoteKeyPressed(at=hall.clock.now(), seat=3, key=1))
        assert (await chair.post("/api/votes/v1/close")).is_success
        problem = assert_problem(await chair.post("/api/votes/v1/open"), 409)
        assert problem["code"] == "vote.wrong_state"
        assert problem["params"] == {"vote": "v1", "state": "closed", "command": "open"}
        assert problem["detail"] == (
            "Không thể mở biểu quyết v1: biểu quyết đang ở trạng thái “đã kết thúc”."
        )
        missing = assert_problem(await chair.post("/api/votes/v9/open"), 404)
        assert "v9" in missing["detail"]
        again = assert_problem(
            await chair.post("/api/votes", json={"vote_id": "v1", "title": "NQ"}), 409
        )
        assert (again["code"], again["params"]) == ("vote.exists", {"vote": "v1"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"vote_id": "có dấu", "title": "NQ"}, "vote_id"),
        ({"vote_id": "v2"}, "title"),
        ({"vote_id": "v2", "title": "NQ", "duration_s": -5}, "duration_s"),
        ({"vote_id": "v2", "title": "NQ", "mode": "whisper"}, "mode"),
        ({"vote_id": "v2", "title": "NQ", "colour": "red"}, "colour"),
    ],
)
async def test_invalid_body_names_the_field(hall: Hall, body: dict[str, Any], field: str) -> None:
    async with hall.client() as chair:
        problem = assert_problem(await chair.post("/api/votes", json=body), 422)
    assert problem["code"].startswith("request."), problem
    assert problem["params"]["field"] == field, problem
    assert any(e["field"].endswith(field) for e in problem["errors"])


async def test_invalid_path_parameter_names_it(hall: Hall) -> None:
    async with hall.client(Role.SECRETARY) as secretary:
        response = await secretary.post("/api/seats/abc/presence", json={"present": True})
    problem = assert_problem(response, 422)
    assert problem["params"]["field"] in ("path.seat", "seat"), problem


async def test_unknown_route_is_a_problem_too(hall: Hall) -> None:
    async with hall.client() as chair:
        assert_problem(await chair.get("/api/nothing-here"), 404)
        assert_problem(await chair.delete("/api/state"), 405)


async def test_stream_refuses_missing_and_bad_tokens(hall: Hall) -> None:
    import websockets

    ws_url = hall.url.replace("http://", "ws://") + "/api/stream"
    for url in (ws_url, ws_url + "?token=nope"):
        async with websockets.connect(url) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
