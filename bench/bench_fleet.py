"""The fleet at scale: seed 500,000 devices, grid blocks at any depth, regional counts, a 10,000-device state change.

Prints: seed time; p50/p95 of `fetch_block` (server time, 100 rows, sort by serial) at depths 0, n/2 and n-100
without a filter, with a status filter, and with a school + status filter; the regional grouped counts; a bulk
state change of 10,000 devices with its audit rows.
Run: python bench/bench_fleet.py [--devices 500000] [--database-url sqlite:///tmp/fleet.sqlite3]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fleet_db import fleet_arguments, open_fleet  # noqa: E402
from models import db  # noqa: E402
from models.audit import AuditEntry  # noqa: E402
from models.fleet import Device, Status, regional_counts, regional_holder_flags  # noqa: E402
from models.schools import School  # noqa: E402
from sheets.engine.caller import Caller  # noqa: E402
from sheets.engine.dataversion import bump_versions, forget_local  # noqa: E402
from sheets.engine.declaration import get_sheet  # noqa: E402
from sheets.engine.query import COUNTS, BlockRequest, fetch_block  # noqa: E402
from sheets.engine.writes import bulk_set  # noqa: E402


def _stats(times: list[float]) -> str:
    times = sorted(times)
    return f"p50 {statistics.median(times):6.1f} ms, p95 {times[min(len(times) - 1, int(len(times) * 0.95))]:6.1f} ms"


async def blocks(label: str, filter_model: dict[str, Any], runs: int) -> None:
    """Jumps to depth 0, the middle and the end of a filter (no cursor), then scrolling from the middle."""
    sheet = get_sheet("devices")
    sort_model = [{"colId": "serial", "sort": "asc"}]
    forget_local(["devices"])
    total = await COUNTS.count(sheet, filter_model, "")
    for depth in sorted({0, total // 2, max(0, total - 100)}):
        times = []
        for _ in range(runs):
            forget_local(["devices"])  # a jump, not a scroll: forget the cursors and landmarks
            await COUNTS.count(sheet, filter_model, "")
            t0 = time.perf_counter()
            block = await fetch_block(sheet, BlockRequest(depth, depth + 100, sort_model, filter_model))
            times.append((time.perf_counter() - t0) * 1000)
            assert block["rows"], (label, depth)
        print(f"{label:<34} jump to depth {depth:>7,} / {total:>7,}: {_stats(times)}")
    start = total // 2
    if start < 100 or total - start < 100 * runs * 3:
        print(f"{label:<34} scrolling: too few rows ({total:,}) for {runs * 3} blocks from the middle")
        return
    await fetch_block(sheet, BlockRequest(start - 100, start, sort_model, filter_model))
    times = []
    for i in range(runs * 3):
        t0 = time.perf_counter()
        await fetch_block(sheet, BlockRequest(start + i * 100, start + (i + 1) * 100, sort_model, filter_model))
        times.append((time.perf_counter() - t0) * 1000)
    print(f"{label:<34} scrolling from depth {start:,} (keyset): {_stats(times)}")


async def main() -> None:
    """Seed when needed, then measure."""
    args = fleet_arguments(__doc__, runs=15)
    await open_fleet(args, "rentree-fleet-")
    try:
        from tortoise.functions import Count

        busiest = await Device.filter(status="remis").annotate(n=Count("id")).group_by("school_id").order_by(
            "-n").first().values_list("school_id", flat=True)  # the school with the most handed-out devices
        uai = (await School.get(id=busiest)).uai
        await blocks("no filter, sort serial", {}, args.runs)
        await blocks("status = remis, sort serial", {"status": {"filterType": "set", "values": ["remis"]}}, args.runs)
        await blocks(f"school {uai} + status, sort serial", {
            "school": {"filterType": "text", "type": "equals", "filter": uai},
            "status": {"filterType": "set", "values": ["remis"]}}, args.runs)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            counts = await regional_counts()
            times.append((time.perf_counter() - t0) * 1000)
        print(f"regional counts by school and status (one grouped query, {len(counts)} schools): {_stats(times)}")
        t0 = time.perf_counter()
        await regional_holder_flags()
        print(f"regional holder flags (without device, Tle undecided, to collect): "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms")
        from pages.fleet import regional_rows  # the data of the /parc page

        t0 = time.perf_counter()
        rows = await regional_rows()  # the very first computation (at start, the app does it in the background)
        print(f"/parc data, first computation: {(time.perf_counter() - t0) * 1000:.0f} ms, {len(rows)} rows")
        forget_local(["devices"])
        await bump_versions(["devices"])  # a write elsewhere: the flags are served stale and recomputed behind
        t0 = time.perf_counter()
        await regional_rows()
        print(f"/parc data right after a write (last figures served, recomputation started): "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms")
        from sheets.engine.dataversion import STEERING

        t0 = time.perf_counter()
        await asyncio.gather(*[t for t in STEERING._running.values() if not t.done()])
        print(f"  background recomputation ended {(time.perf_counter() - t0) * 1000:.0f} ms later")
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            await regional_rows()
            times.append((time.perf_counter() - t0) * 1000)
        print(f"/parc data while nothing changed (steering cache, data versions checked): {_stats(times)}")
        ids = list(await Device.filter(status=Status.DISTRIBUTED).order_by("id").limit(10_000)
                   .values_list("id", flat=True))
        before = await AuditEntry.all().count()
        t0 = time.perf_counter()
        result = await bulk_set(get_sheet("devices"), ids, "status", "a_restituer", Caller("bench", "admin"))
        elapsed = time.perf_counter() - t0
        audit = await AuditEntry.all().count() - before
        print(f"bulk state change of {result.changed_rows:,} devices (remis → à restituer) with {audit:,} audit "
              f"rows: {elapsed:.2f} s")
        await Device.filter(id__in=ids).update(status=Status.DISTRIBUTED)  # leave the database as it was
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
