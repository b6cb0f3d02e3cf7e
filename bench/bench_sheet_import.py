"""Benchmark of sheets/importer.py: a dry run of a 500,000-row .xlsx into a 500,000-row table.

Usage: python bench/bench_sheet_import.py [--rows 500000] [--keep DIR]

Seeds the throwaway fleet-like table (bench/fleet_sheet.py), writes the file with
`sheets.engine.xlsx.write_xlsx` (choice labels, real dates; 1 row in 50 with a changed holder),
then runs `import_xlsx(..., dry_run=True)` in a fresh subprocess so that its peak RSS is its own.
Targets: under 60 s and under 600 MB peak RSS.
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
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_sheet import FLEET, GRADES, STATUSES, TYPES, fleet_rows, open_db, seed

from sheets.engine.exporter import xlsx_columns
from sheets.engine.xlsx import write_xlsx


def write_file(path: Path, n: int) -> int:
    """The import file: every row of the table as exported, 1 in 50 with another holder."""
    def rows() -> Iterator[tuple[object, ...]]:
        for i, (serial, type_, uai, holder, status, grade, delivered, version) in enumerate(fleet_rows(n)):
            yield (serial, TYPES[type_], uai, holder + " (modifié)" if i % 50 == 0 else holder, STATUSES[status],
                   GRADES[grade], delivered, version)

    return write_xlsx(path, xlsx_columns(FLEET), rows())


def worker(db: Path, path: Path) -> None:
    """Dry-run import in this (fresh) process; print the figures as JSON."""
    from tortoise import Tortoise

    from sheets.engine.importer import import_xlsx

    async def run() -> tuple[dict, float]:
        await open_db(db)
        started = time.perf_counter()
        report = await import_xlsx(FLEET, path, actor="bench", dry_run=True)
        seconds = time.perf_counter() - started
        await Tortoise.close_connections()
        return report.as_dict(), seconds

    report, seconds = asyncio.run(run())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    keys = ("rows", "new", "changed", "unchanged", "refused", "changed_cells", "fatal")
    print(json.dumps({"seconds": seconds, "peak_mb": peak, **{k: report[k] for k in keys}}))


def main() -> None:
    """Seed, write the file, import in a subprocess, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--keep", type=Path, help="keep the database and the file in this folder")
    parser.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    with tempfile.TemporaryDirectory(prefix="bench_sheet_import_") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db, path = folder / "fleet.sqlite3", folder / "fleet-import.xlsx"
        db.unlink(missing_ok=True)
        seeded = asyncio.run(seed(db, args.rows))
        print(f"seeded {args.rows:,} rows in {seeded:.1f} s")
        started = time.perf_counter()
        write_file(path, args.rows)
        print(f"wrote the {args.rows:,}-row file in {time.perf_counter() - started:.1f} s "
              f"({path.stat().st_size / 1e6:.1f} MB)")
        result = subprocess.run([sys.executable, __file__, "--worker", str(db), str(path)], capture_output=True,
                                text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(result.stdout + result.stderr)
        res = json.loads(result.stdout.strip().splitlines()[-1])
    rate = res["rows"] / res["seconds"]
    print(f"import dry run: {res['rows']:,} rows in {res['seconds']:.1f} s ({rate:,.0f} rows/s),"
          f" peak RSS {res['peak_mb']:.0f} MB; {res['changed']:,} changed, {res['unchanged']:,} unchanged, "
          f"{res['new']:,} new, {res['refused']:,} refused {res['fatal'] or ''}")
    ok = res["seconds"] < 60 and res["peak_mb"] < 600 and not res["fatal"]
    print("targets met (< 60 s, < 600 MB)" if ok else "TARGETS NOT MET (< 60 s, < 600 MB)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
