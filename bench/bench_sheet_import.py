"""Benchmark of sheets/engine/importer.py: a dry run of a 500,000-row file, two ways.

Usage: python bench/bench_sheet_import.py [--rows 500000] [--keep DIR] [--only table|cli]

1. table: seeds the throwaway fleet-like table (bench/fleet_sheet.py), writes the file with
   `sheets.engine.xlsx.write_xlsx` (choice labels, real dates; 1 row in 50 with a changed holder), then runs
   `import_xlsx(..., dry_run=True)` in a fresh subprocess so that its peak RSS is its own;
2. cli: the devices sheet's own export through the command line, as an agent would do it:
   `python app.py seed --devices N` into a temporary data folder, `python app.py export devices out.xlsx`,
   then `python app.py import devices out.xlsx --dry-run`, timed, its peak RSS read by the parent.
Targets (issue 10): each dry run ≤ 15 s and ≤ 400 MB peak RSS (before: 21.7 s and 755 MB through the CLI).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

    from sheets.engine.caller import Caller
    from sheets.engine.importer import import_xlsx

    async def run() -> tuple[dict, float]:
        await open_db(db)
        started = time.perf_counter()
        report = await import_xlsx(FLEET, path, caller=Caller("bench", "admin"), dry_run=True)
        seconds = time.perf_counter() - started
        await Tortoise.close_connections()
        return report.as_dict(), seconds

    report, seconds = asyncio.run(run())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    keys = ("rows", "new", "changed", "unchanged", "refused", "changed_cells", "fatal")
    print(json.dumps({"seconds": seconds, "peak_mb": peak, **{k: report[k] for k in keys}}))


TARGET_SECONDS, TARGET_MB = 15, 400

_PEAK = """
import resource, subprocess, sys, time
started = time.perf_counter()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(result.stdout[-3000:] + result.stderr[-3000:])
print("RESULT", result.returncode, time.perf_counter() - started,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def run_app(env: dict[str, str], *args: str) -> tuple[int, float, float, str]:
    """Run `python app.py ARGS` in a fresh process: (exit code, seconds, peak RSS in MB, output)."""
    app = str(Path(__file__).resolve().parent.parent / "app.py")
    result = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, app, *args], capture_output=True,
                            text=True, env=env, check=False)
    last = result.stdout.strip().splitlines()[-1].split()
    return int(last[1]), float(last[2]), float(last[3]), result.stdout


def bench_table(rows: int, folder: Path) -> bool:
    """The throwaway fleet-like table: seed, write, dry run in a subprocess; print the figures."""
    db, path = folder / "fleet.sqlite3", folder / "fleet-import.xlsx"
    db.unlink(missing_ok=True)
    seeded = asyncio.run(seed(db, rows))
    print(f"[table] seeded {rows:,} rows in {seeded:.1f} s")
    started = time.perf_counter()
    write_file(path, rows)
    print(f"[table] wrote the {rows:,}-row file in {time.perf_counter() - started:.1f} s "
          f"({path.stat().st_size / 1e6:.1f} MB)")
    result = subprocess.run([sys.executable, __file__, "--worker", str(db), str(path)], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(result.stdout + result.stderr)
    res = json.loads(result.stdout.strip().splitlines()[-1])
    rate = res["rows"] / res["seconds"]
    print(f"[table] import dry run: {res['rows']:,} rows in {res['seconds']:.1f} s ({rate:,.0f} rows/s),"
          f" peak RSS {res['peak_mb']:.0f} MB; {res['changed']:,} changed, {res['unchanged']:,} unchanged, "
          f"{res['new']:,} new, {res['refused']:,} refused {res['fatal'] or ''}")
    return res["seconds"] <= TARGET_SECONDS and res["peak_mb"] <= TARGET_MB and not res["fatal"]


def bench_cli(rows: int, folder: Path) -> bool:
    """The devices sheet's own export, imported as a dry run through the CLI; print the figures."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RENTREE_DATA_DIR": str(data), "DATABASE_URL": f"sqlite://{data / 'bench.sqlite3'}",
           "RENTREE_ENV": "demo", "STORAGE_SECRET": "bench-" + "x" * 40, "SEED_DEMO": "false",
           "SCHEDULER_ENABLED": "false", "DEMO_SMTP_SERVER": "false"}
    out = folder / "devices.xlsx"
    code, seconds, _, output = run_app(env, "seed", "--devices", str(rows))
    if code:
        raise SystemExit(output)
    print(f"[cli] seed --devices {rows:,}: {seconds:.1f} s")
    code, seconds, peak, output = run_app(env, "export", "devices", str(out))
    if code:
        raise SystemExit(output)
    print(f"[cli] export devices: {seconds:.1f} s, peak RSS {peak:.0f} MB ({out.stat().st_size / 1e6:.1f} MB)")
    code, seconds, peak, output = run_app(env, "import", "devices", str(out), "--dry-run")
    summary = next((line for line in output.splitlines() if "ligne(s) lue(s)" in line or "refusé" in line), "")
    print(f"[cli] import devices --dry-run: {seconds:.1f} s, peak RSS {peak:.0f} MB (exit {code}): {summary}")
    return code == 0 and seconds <= TARGET_SECONDS and peak <= TARGET_MB


def main() -> None:
    """Run both benchmarks (or one), print the figures and whether the targets are met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--keep", type=Path, help="keep the databases and the files in this folder")
    parser.add_argument("--only", choices=("table", "cli"))
    parser.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench_sheet_import_") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if args.only != "cli":
            ok &= bench_table(args.rows, folder)
        if args.only != "table":
            ok &= bench_cli(args.rows, folder)
    target = f"each ≤ {TARGET_SECONDS} s, ≤ {TARGET_MB} MB"
    print(f"targets met ({target})" if ok else f"TARGETS NOT MET ({target})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
