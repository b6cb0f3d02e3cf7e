"""The grids' « Recherche rapide » at 500,000 devices: the database's text index against the LIKE scans it replaces.

Prints the time to build the index of an existing table (once, at the first open after the upgrade), then p50/p95 of
the block the grid asks (`fetch_block`, 100 rows and the count) for a serial fragment, a school's UAI, a holder's
identifier and a model, over the whole table and inside a status filter, with the index and with the LIKE scans.
Target (issue 15): ≤ 150 ms from the last keystroke to the rows in the browser.
Run: python bench/bench_quick_search.py [--devices 500000] [--database-url sqlite:///tmp/search.sqlite3]
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
from sheets.engine import textindex  # noqa: E402
from sheets.engine.caller import Caller  # noqa: E402
from sheets.engine.declaration import get_sheet  # noqa: E402
from sheets.engine.query import COUNTS, BlockRequest, fetch_block  # noqa: E402

AGENT = Caller(actor="bench", role="agent")


async def measure(label: str, text: str, filter_model: dict, runs: int) -> None:
    sheet = get_sheet("devices")
    times, rows = [], 0
    for _ in range(runs):
        COUNTS._data.clear()  # each keystroke is a new query: no count from before
        t0 = time.perf_counter()
        block = await fetch_block(sheet, BlockRequest(0, 100, [], filter_model, text), AGENT)
        times.append((time.perf_counter() - t0) * 1000)
        rows = block["lastRow"] if block["lastRow"] is not None else len(block["rows"])
    times.sort()
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    print(f"  {label:<44} p50 {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  ({rows:,} lignes)")


async def main() -> None:
    args = fleet_arguments(__doc__, runs=10)
    t0 = time.perf_counter()
    await open_fleet(args, "rentree-quick-")
    print(f"open (with the text index built when absent): {time.perf_counter() - t0:.1f} s")
    try:
        device = await Device.all().order_by("id").offset(args.devices // 2).first()
        holder = await Holder.all().order_by("id").offset(args.devices // 3).first()
        uai = (await Device.filter(school_id__not_isnull=True).first().values("school__uai"))["school__uai"]
        status = {"status": {"filterType": "set", "values": ["remis"]}}
        cases = [("fragment of a serial", device.serial[3:10]), ("a school's UAI", uai),
                 ("a holder's identifier", holder.ident), ("a model", device.model)]
        for mode in ("index", "LIKE"):
            if mode == "LIKE":
                textindex._READY.clear()
            print(f"{mode}:")
            for label, text in cases:
                await measure(f"{label} « {text} », whole table", text, {}, args.runs)
                await measure(f"{label}, status = remis", text, status, args.runs)
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
