"""Benchmark of sheets/exporter.py: a full export of 500,000 fleet-like rows from SQLite to .xlsx.

Usage: python bench/bench_sheet_export.py [--rows 500000] [--keep DIR]

Seeds a throwaway table (bench/fleet_sheet.py: one transaction, executemany), then runs
`export_sheet` in a fresh subprocess so that its peak RSS (ru_maxrss) is its own, and prints rows/s
and peak memory. Targets: >= 5x openpyxl write-only (measured here ~5-6k rows/s, see
bench_xlsx_export.py), i.e. >= 30k rows/s, and a peak RSS < 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_sheet import FLEET, open_db, seed

OPENPYXL_ROWS_PER_S = 5_500  # openpyxl write-only on the same rows, from bench_xlsx_export.py


def worker(db: Path, out: Path) -> None:
    """Export the whole table in this (fresh) process and print the figures as JSON."""
    from tortoise import Tortoise

    from sheets.engine.caller import Caller
    from sheets.engine.exporter import export_sheet

    async def run() -> tuple[int, float, int]:
        await open_db(db)
        ticks = 0

        def progress(done: int, total: int) -> None:
            nonlocal ticks
            ticks += 1

        started = time.perf_counter()
        count = await export_sheet(FLEET, out, caller=Caller("bench", "admin"), progress=progress)
        seconds = time.perf_counter() - started
        await Tortoise.close_connections()
        return count, seconds, ticks

    count, seconds, ticks = asyncio.run(run())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": count, "seconds": seconds, "peak_mb": peak, "size": out.stat().st_size,
                      "progress_calls": ticks}))


def main() -> None:
    """Seed, export in a subprocess, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--keep", type=Path, help="keep the database and the file in this folder")
    parser.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    with tempfile.TemporaryDirectory(prefix="bench_sheet_export_") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db, out = folder / "fleet.sqlite3", folder / "fleet.xlsx"
        db.unlink(missing_ok=True)
        seeded = asyncio.run(seed(db, args.rows))
        print(f"seeded {args.rows:,} rows in {seeded:.1f} s ({args.rows / seeded:,.0f} rows/s, executemany)")
        result = subprocess.run([sys.executable, __file__, "--worker", str(db), str(out)], capture_output=True,
                                text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(result.stdout + result.stderr)
        res = json.loads(result.stdout.strip().splitlines()[-1])
    rate = res["rows"] / res["seconds"]
    ratio = rate / OPENPYXL_ROWS_PER_S
    print(f"export_sheet: {res['rows']:,} rows in {res['seconds']:.1f} s = {rate:,.0f} rows/s "
          f"({ratio:.1f}x openpyxl write-only at ~{OPENPYXL_ROWS_PER_S:,} rows/s), peak RSS {res['peak_mb']:.0f} MB, "
          f"file {res['size'] / 1e6:.1f} MB, {res['progress_calls']} progress calls")
    ok = ratio >= 5 and res["peak_mb"] < 150
    print("targets met (>= 5x, < 150 MB)" if ok else "TARGETS NOT MET (>= 5x, < 150 MB)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
