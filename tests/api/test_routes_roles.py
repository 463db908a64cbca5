"""Every route of the served OpenAPI document, called by every role.

The route list is read from `app.openapi()`, so a route added later is walked too: no token
or a bad one gets 401, a role outside the route's `x-roles` gets 403, an allowed role never
gets 401/403 and never a server error. Errors are RFC 9457 problem+json.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from controller.auth import Role
from controller.core.inputs import VoteKeyPressed

from .conftest import Hall

PATH_VALUES = {"seat": "5", "vote_id": "v1", "item_id": "1"}
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
    problem = response.json()
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


async def test_every_route_by_every_role(hall: Hall) -> None:
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
                assert str(caller) in problem["detail"], where
            else:
                seen_allowed += 1
                assert response.status_code not in (401, 403), f"{where}: {response.text}"
                if response.status_code >= 400:
                    assert_problem(response, response.status_code)
    assert seen_allowed >= 40


async def test_query_token_is_accepted_and_checked(hall: Hall) -> None:
    async with hall.client(None) as client:
        ok = await client.get("/api/state", params={"token": hall.tokens[Role.OBSERVER]})
        assert ok.status_code == 200
        assert ok.json()["type"] == "snapshot"
        assert_problem(await client.get("/api/state", params={"token": "nope"}), 401)
        forbidden = await client.post(
            "/api/sitting/close", params={"token": hall.tokens[Role.OBSERVER]}
        )
        assert_problem(forbidden, 403)


async def test_conflict_carries_the_core_sentence(hall: Hall) -> None:
    await hall.open_sitting()
    async with hall.client() as chair:
        assert (await chair.post("/api/votes", json={"vote_id": "v1", "title": "NQ"})).is_success
        assert (await chair.post("/api/votes/v1/open")).is_success
        await hall.feed(VoteKeyPressed(at=hall.clock.now(), seat=3, key=1))
        assert (await chair.post("/api/votes/v1/close")).is_success
        problem = assert_problem(await chair.post("/api/votes/v1/open"), 409)
        assert problem["detail"] == "vote v1 is closed: cannot open it"
        missing = assert_problem(await chair.post("/api/votes/v9/open"), 404)
        assert "v9" in missing["detail"]
        again = assert_problem(
            await chair.post("/api/votes", json={"vote_id": "v1", "title": "NQ"}), 409
        )
        assert again["detail"] == "vote v1 already exists"


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
    assert problem["detail"].startswith(f"{field}:"), problem["detail"]
    assert any(e["field"].endswith(field) for e in problem["errors"])


async def test_invalid_path_parameter_names_it(hall: Hall) -> None:
    async with hall.client(Role.SECRETARY) as secretary:
        response = await secretary.post("/api/seats/abc/presence", json={"present": True})
    problem = assert_problem(response, 422)
    assert problem["detail"].startswith("path.seat:") or problem["detail"].startswith("seat:")


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
