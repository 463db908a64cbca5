"""The long fuzz run's harness works: a short run of each codec reaches its count."""

from __future__ import annotations

import random

import pytest

from tests.fuzz import TARGETS, fuzz, main, seeds


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_come_from_the_contracts(name: str) -> None:
    assert len(seeds(name)) >= 5


def test_short_run_of_every_codec_passes() -> None:
    assert main(["--count", "300", "--seed", "7"]) == 0


def test_a_failing_target_is_reported() -> None:
    def broken(data: bytes) -> None:
        if len(data) > 3:
            raise KeyError("a bug")

    result = fuzz("broken", broken, [b"abcdef"], 100, random.Random(1))
    assert result["reached"] != 100
    assert "failed_on" in result
