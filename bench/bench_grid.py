"""Grid block requests on 500,000 rows: server time of `fetch_block` at several depths, with a choice filter
and a sort on another column; and the cached and uncached row count.

Uses the audit sheet (the fleet-scale table the product has today). Prints median and p95 per depth.
Run: python bench/bench_grid.py [--rows 500000] [--database-url sqlite:///tmp/bench.sqlite3]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tortoise import connections  # noqa: E402

from models import db  # noqa: E402
from sheets.engine.dataversion import forget_local  # noqa: E402
from sheets.engine.declaration import get_sheet  # noqa: E402
from sheets.engine.query import COUNTS, LANDMARKS, BlockRequest, fetch_block  # noqa: E402

SOURCES = ["grid", "bulk", "paste", "import", "api", "cli", "job"]


async def seed(n: int) -> None:
    """Insert n audit rows in one transaction (executemany fast path)."""
    conn = connections.get("default")
    rng = random.Random(1)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = [(start + dt.timedelta(seconds=i * 37), f"agent{rng.randint(1, 30):02d}@iledefrance.fr", "fleet",
             i, f"UNW-{i:07d}", rng.choice(["status", "grade", "holder"]), '"a"', '"b"', rng.choice(SOURCES),
             f"{i // 50:032x}", False) for i in range(n)]
    t0 = time.perf_counter()
    await conn.execute_many(
        "INSERT INTO audit_entry (at, actor, sheet, row_id, row_key, \"column\", old_value, new_value, source, "
        "batch, undone) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    print(f"seed: {n:,} rows in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    await db.analyze()
    print(f"ANALYZE: {time.perf_counter() - t0:.2f} s")


def _p(times: list[float]) -> str:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return f"p50 {statistics.median(times):6.1f} ms, p95 {p95:6.1f} ms"


async def measure(n: int, runs: int) -> None:
    """Median and p95 of block requests at depths 0, n/2 and n-100: cold (no cursor, no landmark) and as a person
    gets them (the landmarks of the view built in the background after its first block)."""
    sheet = get_sheet("audit")
    filter_model = {"source": {"filterType": "set", "values": ["bulk", "import"]}}
    sort_model = [{"colId": "at", "sort": "desc"}]
    matching = await sheet.model.filter(source__in=["bulk", "import"]).count()
    depths = (0, matching // 2, matching - 100)
    for depth in depths:
        times = []
        for _ in range(runs):
            forget_local(["audit"])  # a new data version: no cursor, no landmark (the count is recomputed too)
            await COUNTS.count(sheet, filter_model, "")
            t0 = time.perf_counter()
            block = await fetch_block(sheet, BlockRequest(depth, depth + 100, sort_model, filter_model))
            times.append((time.perf_counter() - t0) * 1000)
            assert len(block["rows"]) == 100
            await asyncio.gather(*LANDMARKS._tasks)  # let a background build end before the next cold run
        print(f"cold jump to depth {depth:>7,} (filter source ∈ {{bulk, import}}, sort at desc): {_p(times)}")
    forget_local(["audit"])
    t0 = time.perf_counter()
    await fetch_block(sheet, BlockRequest(0, 100, sort_model, filter_model))  # the view opens: landmarks start
    await asyncio.gather(*LANDMARKS._tasks)
    print(f"landmarks of the view built in the background in {(time.perf_counter() - t0) * 1000:.0f} ms")
    rng = random.Random(2)
    times = []
    for _ in range(runs * 4):
        depth = rng.randrange(0, matching - 100)
        t0 = time.perf_counter()
        block = await fetch_block(sheet, BlockRequest(depth, depth + 100, sort_model, filter_model))
        times.append((time.perf_counter() - t0) * 1000)
        assert len(block["rows"]) == 100
    print(f"jumps to random depths once the landmarks exist (same filter and sort): {_p(times)}")
    # A person scrolling: each block starts where the previous one ended (keyset cursor).
    times = []
    start = matching // 2
    await fetch_block(sheet, BlockRequest(start - 100, start, sort_model, filter_model))
    for i in range(runs * 4):
        t0 = time.perf_counter()
        await fetch_block(sheet, BlockRequest(start + i * 100, start + (i + 1) * 100, sort_model, filter_model))
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(f"scrolling from depth {start:,} (keyset cursor): p50 {statistics.median(times):6.1f} ms, "
          f"p95 {times[int(len(times) * 0.95)]:6.1f} ms")
    forget_local(["audit"])
    t0 = time.perf_counter()
    await COUNTS.count(sheet, filter_model, "")
    print(f"count with filter: {(time.perf_counter() - t0) * 1000:.1f} ms uncached, ", end="")
    t0 = time.perf_counter()
    await COUNTS.count(sheet, filter_model, "")
    print(f"{(time.perf_counter() - t0) * 1000:.3f} ms cached")


async def main() -> None:
    """Seed and measure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    url = args.database_url or f"sqlite://{tempfile.mkdtemp(prefix='rentree-bench-')}/bench.sqlite3"
    await db.init(url)
    try:
        if await get_sheet("audit").model.all().count() < args.rows:
            await seed(args.rows)
        await measure(args.rows, args.runs)
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
