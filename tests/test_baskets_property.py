"""Budget (issue 13, done-when): no sequence of requests a school's people can make overspends an envelope.

A property test: hypothesis draws sequences of requests (new basket, add a line, set a line aside or back, submit,
validate, reject, return, days passing) made through the engine by the school's prescriber and validator; after
every request the committed amount equals the validated baskets' totals and never exceeds the allocation.
One SQLite database for the whole run (each example starts from no basket), so the run stays within seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import settings as settings_module
from models.baskets import COMMITTED, Allocation, Basket, BasketLine, recompute
from sheets.baskets import BASKETS, LINES, add_line
from sheets.engine.actions import run_action
from sheets.engine.writes import WriteRefused, create_rows, set_values

PARIS = ZoneInfo("Europe/Paris")
REFERENCES = ["9782091000001", "9782091000002", "9782091000003", "RES-0001", "LIBRE-1"]
DAYS = [dt.datetime(2024, m, d, 10, tzinfo=PARIS) for m, d in ((7, 1), (8, 25), (9, 10), (9, 18), (9, 25), (10, 20))]

DONE: dict[str, int] = {}  # what the run did (the property must have validated and refused some baskets)

request = st.one_of(
    st.tuples(st.just("basket")),
    st.tuples(st.just("add"), st.integers(0, 3), st.sampled_from(REFERENCES), st.integers(-1, 40)),
    st.tuples(st.just("add"), st.integers(0, 3), st.sampled_from(REFERENCES[:2]), st.integers(1, 30)),
    st.tuples(st.just("validate"), st.integers(0, 3)),
    st.tuples(st.just("keep"), st.integers(0, 11), st.booleans()),
    st.tuples(st.sampled_from(["submit", "validate", "reject", "return", "reopen"]), st.integers(0, 3)),
    st.tuples(st.just("day"), st.integers(0, len(DAYS) - 1)),
)


async def check_invariant(school_id: int) -> None:
    """Committed = Σ validated-and-later totals ≤ computed + extra; every basket total = Σ its kept lines."""
    allocation = await Allocation.get(school_id=school_id, year=2024, envelope="manuels")
    totals = await Basket.filter(school_id=school_id, status__in=list(COMMITTED)).values_list("total", flat=True)
    assert Decimal(allocation.committed) == sum((Decimal(t) for t in totals), Decimal(0))
    assert allocation.committed <= allocation.computed + allocation.extra
    assert allocation.remaining >= 0
    for basket in await Basket.filter(school_id=school_id):
        kept = await BasketLine.filter(basket_id=basket.id, kept=True).values_list("amount", flat=True)
        assert Decimal(basket.total) == sum((Decimal(a) for a in kept), Decimal(0)) or basket.status in COMMITTED


async def play(requests: list[tuple[Any, ...]], school_id: int, uai: str, callers: dict[str, Any],
               moment: list[dt.datetime]) -> None:
    await BasketLine.all().delete()
    await Basket.all().delete()
    await recompute(2024, [school_id])
    moment[0] = DAYS[0]
    baskets: list[Basket] = []
    for req in [("basket",), ("basket",), *requests]:
        kind = req[0]
        try:
            if kind == "basket":
                result = await create_rows(BASKETS, [{"school": uai}], callers["prescriber"])
                baskets.append(await Basket.get(number=result.created[0][1]))
            elif kind == "add" and baskets:
                await add_line(baskets[req[1] % len(baskets)].number, req[2], req[3], callers["prescriber"])
                DONE["add"] = DONE.get("add", 0) + 1
            elif kind == "keep":
                ids = await BasketLine.filter(basket__school_id=school_id).order_by("id").values_list("id", flat=True)
                if ids:
                    await set_values(LINES, [ids[req[1] % len(ids)]], {"kept": req[2]}, callers["validator"])
            elif kind == "day":
                moment[0] = DAYS[req[1]]
            elif baskets:
                who = callers["prescriber"] if kind in ("submit", "reopen") else callers["validator"]
                await run_action(BASKETS, kind, [baskets[req[1] % len(baskets)].id], {}, who)
                DONE[kind] = DONE.get(kind, 0) + 1
        except WriteRefused:
            DONE["refused"] = DONE.get("refused", 0) + 1
        await check_invariant(school_id)


def test_budget_no_sequence_of_requests_overspends(isolated_settings: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Budget property: whatever the requests and their order, the envelope is never overspent (R-BASKET-3 rights,
    R-BASKET-5/6 moves and the budget check all in play)."""
    from models import db as database
    from tests import test_baskets_rules as rules

    moment = [DAYS[0]]
    monkeypatch.setattr(settings_module, "now", lambda: moment[0])
    loop = asyncio.new_event_loop()
    url = f"sqlite://{isolated_settings / 'property.sqlite3'}"
    try:
        loop.run_until_complete(database.init(url))
        school, prescriber, validator, _ = loop.run_until_complete(rules.world(students=6))  # 432 €
        callers = {"prescriber": prescriber, "validator": validator}

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                  database=None)
        @given(st.lists(request, min_size=4, max_size=30))
        def scenario(requests: list[tuple[Any, ...]]) -> None:
            loop.run_until_complete(play(requests, school.id, school.uai, callers, moment))

        scenario()
        assert DONE.get("validate", 0) > 5 and DONE.get("refused", 0) > 5, DONE
    finally:
        loop.run_until_complete(database.close())
        loop.close()
