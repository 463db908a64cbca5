"""Property-based fuzzing of the served OpenAPI document with Schemathesis: no request the
document allows (or nearly allows) may get a server error.

The daemon serves on the test's event loop; Schemathesis (synchronous `requests`) runs in a
worker thread against it, as an outside client would. A chair token opens every route.
"""

from __future__ import annotations

import asyncio
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from chamber.controller.auth import Role
from chamber.controller.core.inputs import VoteKeyPressed

from .conftest import Hall

# Bounded so the whole document is walked in well under a minute on a small machine.
EXAMPLES_PER_ROUTE = 25
PROBLEM = "application/problem+json"


def fuzz(schema: Any, base_url: str, token: str) -> list[str]:
    """Run every operation's examples; the server errors found, as readable lines."""
    failures: list[str] = []
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30

    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_ROUTE,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, session=session, timeout=10)
            content_type = (response.headers.get("content-type") or [""])[0]
            if response.status_code >= 500 or (
                response.status_code >= 400 and not content_type.startswith(PROBLEM)
            ):
                failures.append(
                    f"{case.method} {case.formatted_path} {case.body!r} {case.query!r} -> "
                    f"{response.status_code} {content_type} {response.text}"
                )

        check()
    session.close()
    return failures


async def test_no_request_gets_a_server_error(hall: Hall) -> None:
    await hall.open_sitting()
    async with hall.client() as chair:
        for body in (
            {"vote_id": "v1", "title": "Nghị quyết số 1"},
            {"vote_id": "v2", "title": "Bầu cử", "mode": "secret"},
        ):
            assert (await chair.post("/api/votes", json=body)).is_success
        assert (await chair.post("/api/votes/v1/open")).is_success
    await hall.feed(VoteKeyPressed(at=hall.clock.now(), seat=4, key=2))
    schema = schemathesis.openapi.from_dict(hall.daemon.app.openapi())
    failures = await asyncio.to_thread(fuzz, schema, hall.url, hall.tokens[Role.CHAIR])
    assert failures == []
    # The daemon is still whole after the fuzzing.
    async with hall.client(Role.OBSERVER) as observer:
        assert (await observer.get("/api/state")).status_code == 200
