"""Demo of the 2024 textbook campaign: the livret's rates, enrolments of every demo school, a catalogue of a few
hundred items, baskets in every state (some envelopes nearly spent), a few extra allocations, usage statistics.
Everything is written through the engine (system caller), so the allocations are recomputed by its effects."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from models.baskets import (
    Basket,
    BasketLine,
    BasketStatus,
    CatalogueItem,
    Envelope,
    Headcount,
    ItemKind,
    Rate,
    code_of,
    headcount_code,
    livret_2024_rates,
    recompute,
)
from models.schools import Enrolment, School
from sheets.engine.caller import Caller
from sheets.engine.writes import create_rows, set_values

Progress = Callable[[str], None]
ORDER = 35
YEAR = 2024
SEED = Caller.job("seed-baskets")
_START = dt.datetime(YEAR, 7, 1, 10)
_CLOCK = [_START]  # the seed's clock: July 2024, moved on where a step needs time (R-BASKET-8)

PUBLISHERS = ("Nathan", "Hachette Éducation", "Belin", "Magnard", "Hatier", "Bordas", "Lelivrescolaire.fr",
              "Foucher", "Delagrave", "Casteilla")
SUBJECTS = ("Mathématiques", "Français", "Histoire-géographie", "Anglais", "Espagnol", "Allemand",
            "Physique-chimie", "SVT", "SES", "Philosophie", "Enseignement scientifique", "EMC", "Management",
            "Sciences de l'ingénieur", "Économie-droit", "Prévention santé environnement", "Arts appliqués")
LEVELS = ("2de", "1re", "Tle")


async def seed_rates(year: int = YEAR) -> int:
    """The livret's 2024 table (R-BASKET-1) for a year, through the engine; rows already there are kept."""
    from sheets.baskets import RATES

    if await Rate.filter(year=year).exists():
        return 0
    rows = [{**{k: code_of(v) for k, v in r.items() if k not in ("year", "amount")}, "year": year,
             "amount": r["amount"]} for r in livret_2024_rates()]
    result = await create_rows(RATES, rows, SEED)
    return result.changed_rows


def _ean(n: int) -> str:
    base = f"9782{n:08d}"
    digits = [int(c) for c in base]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return base + str(check)


def catalogue_rows(rng: random.Random, count: int = 300) -> list[dict[str, Any]]:
    """Plausible catalogue items with prices (every kind, a few region-funded resources and free textbooks)."""
    rows: list[dict[str, Any]] = []
    for n in range(count):
        subject, level = SUBJECTS[n % len(SUBJECTS)], LEVELS[(n // len(SUBJECTS)) % 3]
        roll = rng.random()
        if roll < 0.55:
            kind, price, licence = ItemKind.DIGITAL, Decimal(rng.choice((8, 9, 10, 11, 12, 14))), "1 an"
        elif roll < 0.75:
            kind, price, licence = ItemKind.PAPER, Decimal(rng.choice((22, 25, 28, 31, 34))), ""
        elif roll < 0.88:
            kind, price, licence = ItemKind.RESOURCE, Decimal(rng.choice((2, 3, 4, 5))), "1 an"
        elif roll < 0.95:
            kind, price, licence = ItemKind.CONSUMABLE, Decimal(rng.choice((6, 9, 12, 15))), ""
        else:
            kind, price, licence = ItemKind.FREE, Decimal(0), "4 ans"
        rows.append({"reference": _ean(n), "title": f"{subject} {level} — {kind.label} ({n + 1})",
                     "publisher": rng.choice(PUBLISHERS), "kind": kind.value, "levels": level,
                     "tracks": "generale,technologique" if n % 5 else "professionnelle", "price": price,
                     "licence": licence, "approved_on": dt.date(2024, 3, 15) if kind == ItemKind.RESOURCE else None,
                     "region_funded": False})
    rows.append({"reference": "QIOZ-REGION", "title": "QIOZ — ressource de langues",
                 "publisher": "Région Île-de-France",
                 "kind": ItemKind.RESOURCE.value, "levels": "2de,1re,Tle", "tracks": "toutes", "price": Decimal(0),
                 "licence": "1 an", "approved_on": dt.date(2023, 6, 1), "region_funded": True})
    return rows


async def seed_catalogue(rng: random.Random) -> int:
    """A catalogue of a few hundred items."""
    from sheets.baskets import CATALOGUE

    if await CatalogueItem.exists():
        return 0
    return (await create_rows(CATALOGUE, catalogue_rows(rng), SEED)).changed_rows


async def seed_enrolments(year: int = YEAR) -> int:
    """Every demo school's stored enrolments as the campaign's May counts (bulk, then one recompute)."""
    have = set(await Headcount.filter(year=year).values_list("school_id", flat=True))
    uais = dict(await School.all().values_list("id", "uai"))
    rows = [Headcount(code=headcount_code(uais[sid], year, track, level), school_id=sid, year=year, track=track,
                      level=level, students=students)
            for sid, track, level, students in await Enrolment.all().values_list("school_id", "track", "level",
                                                                                  "students")
            if sid not in have and students]
    await Headcount.bulk_create(rows, batch_size=2000)
    await recompute(year)
    return len(rows)


async def seed_demo_baskets(rng: random.Random, year: int = YEAR) -> int:
    """Baskets in every state for a sample of schools, some envelopes nearly spent."""
    from sheets.baskets import BASKETS, EXTRAS, LINES

    if await Basket.filter(year=year).exists():
        return 0
    items = await CatalogueItem.filter(region_funded=False).values("reference", "kind", "price")
    manuels = [i for i in items if code_of(i["kind"]) != ItemKind.CONSUMABLE.value]
    schools = await School.all().order_by("uai").values("id", "uai")
    states = ["brouillon", "soumis", "valide", "transmis", "devis_valide", "dans_le_gar", "livre", "refuse"]
    created = 0
    for n, school in enumerate(schools[: min(len(schools), 60)]):
        alloc = await _remaining(school["id"], year)
        if alloc <= 0:
            continue
        target = states[n % len(states)]
        nearly = n % 7 == 0  # some envelopes nearly spent
        budget = alloc * (Decimal("0.97") if nearly else Decimal(rng.choice(("0.2", "0.35", "0.5"))))
        result = await create_rows(BASKETS, [{"school": school["uai"], "year": year, "envelope": "manuels"}], SEED)
        number = result.created[0][1]
        lines, spent = [], Decimal(0)
        for item in rng.sample(manuels, 12):
            price = Decimal(item["price"]) or Decimal(1)
            quantity = max(1, int((budget - spent) / price / 3))
            if spent + price * quantity > budget:
                quantity = int((budget - spent) / price)
            if quantity < 1:
                continue
            spent += price * quantity
            lines.append({"basket": number, "item": item["reference"], "quantity": quantity,
                          "teacher_licences": 2 if code_of(item["kind"]) == ItemKind.DIGITAL.value else 0})
        if lines:
            await create_rows(LINES, lines, SEED)
        basket = await Basket.get(number=number)
        path = {"brouillon": [], "soumis": ["soumis"], "refuse": ["refuse"],
                "valide": ["valide"], "transmis": ["valide", "transmis"],
                "devis_valide": ["valide", "transmis", "devis_valide"],
                "dans_le_gar": ["valide", "transmis", "devis_valide", "dans_le_gar"],
                "livre": ["valide", "transmis", "devis_valide", "dans_le_gar", "livre"]}[target]
        for status in path:
            if status == "dans_le_gar":  # R-BASKET-8: in the GAR 24 to 48 h after the quote
                _CLOCK[0] += dt.timedelta(hours=30)
            await set_values(BASKETS, [basket.id], {"status": status}, SEED)
        _CLOCK[0] = _START.replace(tzinfo=_CLOCK[0].tzinfo)
        created += 1
    paper = [i for i in items if code_of(i["kind"]) == ItemKind.PAPER.value][:2]
    if len(schools) > 64 and paper:  # a paper order returned within the dates (R-BASKET-6)
        result = await create_rows(BASKETS, [{"school": schools[64]["uai"], "year": year, "envelope": "manuels"}], SEED)
        number = result.created[0][1]
        await create_rows(LINES, [{"basket": number, "item": i["reference"], "quantity": 3} for i in paper], SEED)
        basket = await Basket.get(number=number)
        for status in ("valide", "retour"):
            await set_values(BASKETS, [basket.id], {"status": status}, SEED)
        created += 1
    for school in schools[60:64]:
        await create_rows(EXTRAS, [{"school": school["uai"], "year": year, "envelope": "manuels",
                                    "track": "generale", "level": "2de", "students": 35, "granted": True,
                                    "note": "Ouverture d'une classe de 2de à la rentrée"}], SEED)
    return created


async def _remaining(school_id: int, year: int) -> Decimal:
    from models.baskets import Allocation

    row = await Allocation.get_or_none(school_id=school_id, year=year, envelope=Envelope.MANUELS.value)
    return Decimal(row.remaining) if row else Decimal(0)


async def seed_area(progress: Progress | None = None) -> dict[str, int]:
    """The 2024 textbook campaign of the demo (idempotent)."""
    import settings as settings_module

    rng = random.Random(2024)
    say = progress or (lambda _m: None)
    real_now = settings_module.now
    _CLOCK[0] = _START.replace(tzinfo=settings_module.tz())
    settings_module.now = lambda: _CLOCK[0]  # type: ignore[assignment]  # baskets are ordered in July 2024
    try:
        rates = await seed_rates(YEAR)
        items = await seed_catalogue(rng)
        counts = await seed_enrolments(YEAR)
        baskets = await seed_demo_baskets(rng, YEAR)
    finally:
        settings_module.now = real_now  # type: ignore[assignment]
    say(f"Manuels : {rates} taux, {items} articles, {counts} effectifs, {baskets} paniers.")
    return {"basket_rates": rates, "catalogue_items": items, "basket_enrolments": counts, "baskets": baskets}


__all__ = ["BasketLine", "BasketStatus", "seed_area", "seed_rates"]
