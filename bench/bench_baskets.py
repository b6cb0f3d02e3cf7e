"""Recomputing every allocation of 470 schools (target: ≤ 1 s).

Seeds the demo schools (about 470) with their enrolments, the livret's 2024 rates and a few hundred validated
baskets, then times `models.baskets.recompute(2024)` as the engine's effects call it for a change of the rates:
- the first computation (every allocation row created);
- a run with nothing to change (steady state);
- after a change of one rate touching every digital school (most rows updated);
- one school alone (what a validation or an enrolment change costs).
Run: python bench/bench_baskets.py [--database-url postgres://…]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models import db  # noqa: E402
from models.baskets import Allocation, Basket, Rate, recompute  # noqa: E402
from models.schools import School  # noqa: E402
from seed.baskets import YEAR, seed_enrolments, seed_rates  # noqa: E402
from seed.demo import seed_demo  # noqa: E402


async def timed(label: str, year: int, school_ids: list[int] | None = None) -> float:
    started = time.perf_counter()
    written = await recompute(year, school_ids)
    seconds = time.perf_counter() - started
    print(f"{label:<55} {seconds * 1000:8.1f} ms  ({written} ligne(s) écrite(s))")
    return seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    url = args.database_url or f"sqlite://{Path(tempfile.mkdtemp(prefix='bench-baskets-')) / 'bench.sqlite3'}"
    await db.init(url)
    try:
        await seed_demo()
        await seed_rates(YEAR)
        await seed_enrolments(YEAR)  # computes once
        await Allocation.all().delete()
        schools = list(await School.all().values_list("id", "uai"))
        baskets = [Basket(number=f"B{YEAR}-{n:05d}", school_id=sid, year=YEAR, status="valide",
                          total=Decimal(100 + n % 50)) for n, (sid, _uai) in enumerate(schools * 2)]
        await Basket.bulk_create(baskets, batch_size=1000)
        print(f"{len(schools)} établissements, {await Rate.filter(year=YEAR).count()} taux, {len(baskets)} paniers "
              f"validés ({url.split(':')[0]})")
        first = await timed("Premier calcul (création des lignes)", YEAR)
        steady = await timed("Recalcul sans changement", YEAR)
        rate = await Rate.get(year=YEAR, school_mode="numerique", track="generale", level="2de")
        rate.amount = Decimal(73)
        await rate.save()
        changed = await timed("Recalcul après changement d'un taux (toutes les écoles)", YEAR)
        one = await timed("Un établissement (validation, effectif)", YEAR, [schools[0][0]])
        worst = max(first, steady, changed) * 1000
        print(f"\nPire cas pour 470 établissements : {worst:.0f} ms (objectif ≤ 1 000 ms) ; "
              f"un établissement : {one * 1000:.1f} ms")
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
