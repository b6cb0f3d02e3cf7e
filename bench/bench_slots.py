"""The distribution planner at the scale of the Région: the plan of every school of a campaign (target ≤ 2 s).

Seeds the demo schools (~470, with their enrolments and contacts) and the 2024 slots campaign, then times:
- `plan_all(2024)`: the classes of every booked school read in one pass, then the planner (R-SLOT-6) on each;
- the planner alone (pure function) on the same classes;
- a replan through the engine of one school (its sessions rewritten, with their audit), as a change of order does.
Run: python bench/bench_slots.py [--runs 5] [--database-url postgres://…]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models import db  # noqa: E402
from models.slots import (  # noqa: E402
    Slot,
    class_names,
    ordered_classes,
    plan_all,
    plan_distribution,
    school_classes,
)
from seed.demo import seed_demo  # noqa: E402
from seed.slots import seed_slots  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    url = args.database_url or f"sqlite://{Path(tempfile.mkdtemp(prefix='bench-slots-')) / 'bench.sqlite3'}"
    await db.init(url)
    try:
        started = time.perf_counter()
        await seed_demo()
        created = await seed_slots()
        await db.analyze()
        print(f"Base : {url.split('@')[-1]}")
        print(f"Données : {created['slots']} créneaux, {created['sessions']} passages en "
              f"{time.perf_counter() - started:.1f} s")
        timings = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            plans = await plan_all(2024)
            timings.append(time.perf_counter() - t0)
        sessions = sum(len(p) for p in plans.values())
        print(f"Planifier toutes les écoles (lecture des classes + planificateur) : {min(timings) * 1000:.0f} ms "
              f"(meilleur de {args.runs}, pire {max(timings) * 1000:.0f} ms) — {len(plans)} écoles, "
              f"{sessions} classes ; cible ≤ 2 000 ms")
        slots = await Slot.filter(year=2024).exclude(distribution_on=None).values(
            "school_id", "distribution_on", "rooms", "class_order")
        classes = await school_classes([s["school_id"] for s in slots])
        t0 = time.perf_counter()
        for s in slots:
            plan_distribution(ordered_classes(classes.get(s["school_id"], {}), class_names(s["class_order"])),
                              s["distribution_on"], s["rooms"])
        print(f"Planificateur seul (fonction pure) : {(time.perf_counter() - t0) * 1000:.1f} ms pour {len(slots)} "
              "écoles")
        from sheets.engine.caller import Caller
        from sheets.slots import replan

        slot = await Slot.filter(year=2024).exclude(distribution_on=None).order_by("-laptops").first()
        assert slot is not None
        t0 = time.perf_counter()
        count = await replan(slot, Caller.job("bench"))
        print(f"Recalcul d'un plan par le moteur (plus grosse école, {count} classes) : "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms")
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
