"""The header's search at scale: `sheets.search.search` over 500,000 devices and their holders (issue 15: ≤ 50 ms).

Prints p50/p95 (server time, the function `GET /api/search` calls) for a UAI, a school name, a full serial, the
start of a serial, a holder's INE, a last name, a ticket number and a query that finds nothing, as an agent (every
provider) and as maintenance (no holders).
Run: python bench/bench_search.py [--devices 500000] [--database-url sqlite:///tmp/search.sqlite3]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fleet_db import fleet_arguments, open_fleet  # noqa: E402
from models import db  # noqa: E402
from models.fleet import Device, Holder  # noqa: E402
from models.schools import School  # noqa: E402
from sheets.engine.caller import Caller  # noqa: E402


async def measure(label: str, q: str, caller: Caller, runs: int) -> None:
    from sheets.search import search

    times, hits = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        hits = await search(q, caller)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    first = hits[0].label[:50] if hits else "—"
    print(f"{label:<34} {caller.role:<12} p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms  "
          f"{len(hits):2d} résultats, 1er : {first}")


async def main() -> None:
    args = fleet_arguments(__doc__, runs=30)
    await open_fleet(args, "rentree-search-")
    try:
        import importlib
        import pkgutil

        import pages

        for info in pkgutil.iter_modules(pages.__path__):  # as the app does: each area registers its providers
            if not info.ispkg and not info.name.startswith("_"):
                importlib.import_module(f"pages.{info.name}")

        school = await School.all().order_by("id").offset(200).first()
        device = await Device.all().order_by("id").offset(args.devices // 2).first()
        holder = await Holder.all().order_by("id").offset(args.devices // 3).first()
        from models.tickets import Ticket

        ticket = await Ticket.all().order_by("id").first()
        print(f"{await Device.all().count():,} devices, {await Holder.all().count():,} holders")
        for role in ("agent", "maintenance"):
            caller = Caller(actor="bench", role=role)
            await measure("UAI", school.uai, caller, args.runs)
            await measure("nom d'établissement (un mot)", school.name.split()[-1], caller, args.runs)
            await measure("n° de série complet", device.serial, caller, args.runs)
            await measure("début de n° de série", device.serial[:6], caller, args.runs)
            await measure("INE d'un porteur", holder.ident, caller, args.runs)
            await measure("nom de famille", holder.last_name.lower(), caller, args.runs)
            if ticket is not None:
                await measure("n° de ticket", ticket.number, caller, args.runs)
            await measure("rien ne correspond", "zzzzqqq", caller, args.runs)
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
