"""Queries, served from the read model (`controller.core.view`) but for the hall's own
description and the participation record: the caller's view, the hall, the seats, the results,
the health."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from chamber.controller.api.deps import (
    CHAIR_SECRETARY,
    STAFF,
    Context,
)
from chamber.controller.auth import ALL_ROLES
from chamber.controller.core.kinds import KIND_LABELS, kind_policies, needed, needed_json
from chamber.controller.core.model import Language, MajorityRule
from chamber.controller.core.rules import PRESETS, rule_for
from chamber.controller.core.view import Audience, results


def rule_json(rule: MajorityRule) -> dict[str, Any]:
    """A majority rule as its definition: what a console needs to say what a vote needs."""
    t = rule.threshold
    return {
        "key": rule.key,
        "comparison": t.comparison.value,
        "fraction": f"{t.fraction.numerator}/{t.fraction.denominator}",
        "constant": t.constant,
        "base": rule.base.value,
    }


def register(ctx: Context) -> None:
    runtime = ctx.runtime
    route = ctx.route
    api = ctx.api
    audience = ctx.audience

    @route(api, "GET", "/state", ALL_ROLES, "The caller's view of the hall (the stream's snapshot)")
    async def get_state(request: Request) -> dict[str, Any]:
        return runtime.hub.snapshot(audience(request)).to_json()

    @route(api, "GET", "/hall", ALL_ROLES, "The body, its delegates and the seating chart")
    async def get_hall() -> dict[str, Any]:
        hall = runtime.config.hall
        ballots = runtime.core.ballots
        entitled, all_members = ballots.member_counts()
        present = ballots.present_count()

        def need(rule: MajorityRule) -> dict[str, Any]:
            """What `rule` needs over the electorate as it stands now."""
            figure = needed(rule, all_members=all_members, entitled=entitled, present=present)
            return needed_json(rule, figure, hall.language)

        return {
            "id": runtime.config.hall_id,
            "name": hall.body.name,
            "short_name": hall.body.short_name,
            "members": hall.body.members,
            "language": hall.language.value,
            "training": runtime.config.training,
            "delegates": [
                {
                    "id": d.id,
                    "name": d.name,
                    "group": d.group,
                    "role": d.role.value,
                    "title": d.title,
                    "voting": d.voting,
                }
                for d in hall.delegates
            ],
            "seats": [
                {
                    "number": s.number,
                    "row": s.row,
                    "col": s.col,
                    "delegate": s.delegate,
                    "mic_class": s.mic_class.value,
                }
                for s in hall.seats
            ],
            # The rules a vote may name (the presets, then the hall's own) and the hall's
            # defaults for a new vote: a console offers these, never a list of its own.
            # Each with what it needs now ("needed" of "of"), so a console never works it out.
            "rules": [
                {**rule_json(r), **need(r)} for r in (*PRESETS.values(), *hall.policies.rules)
            ],
            "vote_defaults": {
                "rule": hall.policies.vote.rule,
                "mode": hall.policies.vote.mode.value,
                "duration_s": hall.policies.vote.duration_s,
                "kind": "resolution",
            },
            # The vote kinds with their rule, answers and mode in this hall, and what that
            # rule needs now; a vote is made with a kind and may still name another rule.
            "kinds": [
                {
                    "kind": k.kind.value,
                    "label": {lang.value: KIND_LABELS[lang][k.kind] for lang in Language},
                    "rule": k.rule,
                    "answers": k.answers.value,
                    "mode": (k.mode or hall.policies.vote.mode).value,
                    **need(rule_for(k.rule, hall.policies)),
                }
                for k in kind_policies(hall.policies)
            ],
        }

    @route(api, "GET", "/seats", ALL_ROLES, "Every seat: its delegate, presence and microphone")
    async def get_seats() -> list[dict[str, Any]]:
        hall = runtime.config.hall
        names = {d.id: d.name for d in hall.delegates}
        view = runtime.hub.view(Audience.OBSERVER)
        live = {speaker["seat"] for speaker in view["floor"].get("live", [])}
        present = set(view["attendance"].get("present_seats", []))
        # Who sits there now: the hall file's chart, with the delegates moved since.
        seating = runtime.core.attendance.seating
        return [
            {
                "number": s.number,
                "row": s.row,
                "col": s.col,
                "delegate": seating.delegate_at(s.number),
                "name": names.get(seating.delegate_at(s.number) or "", ""),
                "mic_class": s.mic_class.value,
                "present": s.number in present,
                "mic_live": s.number in live,
            }
            for s in hall.seats
        ]

    @route(api, "GET", "/results", ALL_ROLES, "Results of the sitting's closed votes")
    async def get_results(request: Request) -> list[dict[str, Any]]:
        return results(runtime.hub.view(audience(request)))

    @route(api, "GET", "/participation", CHAIR_SECRETARY, "Each delegate's participation record")
    async def get_participation(sitting_id: str | None = None) -> list[dict[str, Any]]:
        records = runtime.core.participation(sitting_id)
        return [record.to_json() for record in records.values()]

    @route(api, "GET", "/health", STAFF, "Every line and unit with its health")
    async def get_health() -> dict[str, Any]:
        return dict(runtime.health_snapshot())
