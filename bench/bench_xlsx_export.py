"""Benchmark of sheets/xlsx_writer.py against openpyxl's write-only mode on a fleet-like export.

Usage: python bench/bench_xlsx_export.py [--rows 500000] [--xlsxwriter] [--verify] [--keep DIR]

Each writer runs in a fresh subprocess so that its peak RSS (ru_maxrss) is its own. The row
generator (8 columns: serial, device type, school UAI, holder, status, grade, delivery date,
version) is lazy and identical for every writer; its own cost is measured too ("generator only").
Target: xlsx_writer >= 5x the rows/s of openpyxl write-only, with a peak RSS < 150 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TYPES = ("PC portable", "Tablette", "Chromebook", "PC hybride")
STATUSES = ("En service", "En stock", "En réparation", "Perdu", "Volé", "Restitué", "Réformé")
GRADES = ("Neuf", "A", "B", "C", "D")
FIRST_NAMES = ("Léa", "Hugo", "Chloé", "Lucas", "Inès", "Noé", "Zoé", "Adam", "Jade", "Raphaël", "Anaïs")
LAST_NAMES = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Lefèvre",
              "Moreau", "Garcia", "N'Diaye", "Rousseau", "Fournier", "Girard")
HEADERS = ("Numéro de série", "Type", "UAI du lycée", "Titulaire", "Statut", "État", "Livré le", "Version")


def fleet_rows(n: int) -> Iterator[tuple[object, ...]]:
    """Lazily yield n fleet-like rows (8 values each)."""
    first_day = date(2021, 8, 23).toordinal()
    for i in range(n):
        yield (
            f"UNW-{21 + i % 4}-{i:07d}",
            TYPES[i % 4],
            f"0{750000 + (i * 7) % 1300:06d}{'ABCDEFGHJKLMNPRSTUVWXYZ'[i % 23]}",
            f"{LAST_NAMES[i % 15].upper()} {FIRST_NAMES[(i // 15) % 11]}",
            STATUSES[(i * 3) % 7],
            GRADES[i % 5],
            date.fromordinal(first_day + (i * 13) % 1200),
            1 + i % 9,
        )


def run_generator(n: int, _out: Path) -> None:
    """Consume the generator only (baseline)."""
    for _ in fleet_rows(n):
        pass


def run_xlsx_writer(n: int, out: Path) -> None:
    """Write the export with sheets.engine.xlsx."""
    sys.path.insert(0, str(ROOT))
    from sheets.engine.xlsx import XlsxColumn, write_xlsx

    columns = [
        XlsxColumn(HEADERS[0]),
        XlsxColumn(HEADERS[1], "choice", choices=TYPES),
        XlsxColumn(HEADERS[2]),
        XlsxColumn(HEADERS[3]),
        XlsxColumn(HEADERS[4], "choice", choices=STATUSES),
        XlsxColumn(HEADERS[5], "choice", choices=GRADES),
        XlsxColumn(HEADERS[6], "date"),
        XlsxColumn(HEADERS[7], "integer"),
    ]
    written = write_xlsx(out, columns, fleet_rows(n), info=[("Lignes", n), ("Outil", "bench")])
    assert written == n, written


def run_openpyxl(n: int, out: Path) -> None:
    """Write the same export with openpyxl's write-only mode (plain values, bold header, filter, lists)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Données")
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title in HEADERS:
        cell = WriteOnlyCell(ws, value=title)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    for row in fleet_rows(n):
        ws.append(row)
    ws.auto_filter.ref = f"A1:H{n + 1}"
    for letter, choices in (("B", TYPES), ("E", STATUSES), ("F", GRADES)):
        validation = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True)
        validation.add(f"{letter}2:{letter}{n + 1}")
        ws.data_validations.append(validation)
    wb.save(out)


def run_xlsxwriter(n: int, out: Path) -> None:
    """Write the same export with XlsxWriter's constant_memory mode (reference only)."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(out), {"constant_memory": True})
    ws = wb.add_worksheet("Données")
    bold = wb.add_format({"bold": True})
    date_format = wb.add_format({"num_format": "dd/mm/yyyy"})
    ws.freeze_panes(1, 0)
    ws.write_row(0, 0, HEADERS, bold)
    for r, row in enumerate(fleet_rows(n), start=1):
        ws.write_row(r, 0, row[:6])
        ws.write_datetime(r, 6, row[6], date_format)
        ws.write_number(r, 7, row[7])
    ws.autofilter(0, 0, n, 7)
    for col, choices in ((1, TYPES), (4, STATUSES), (5, GRADES)):
        ws.data_validation(1, col, n, col, {"validate": "list", "source": list(choices)})
    wb.close()


WORKERS = {
    "generator": run_generator,
    "xlsx_writer": run_xlsx_writer,
    "openpyxl": run_openpyxl,
    "xlsxwriter": run_xlsxwriter,
}


def worker(name: str, n: int, out: Path) -> None:
    """Run one writer in this (fresh) process and print its figures as JSON."""
    start = time.perf_counter()
    WORKERS[name](n, out)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    size = out.stat().st_size if out.exists() else 0
    print(json.dumps({"name": name, "rows": n, "seconds": seconds, "peak_mb": peak_mb, "size": size}))


def measure(name: str, n: int, out: Path) -> dict[str, float]:
    """Run a worker in a subprocess and return its figures."""
    cmd = [sys.executable, __file__, "--worker", name, "--rows", str(n), "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def verify(path: Path, n: int) -> None:
    """Read the xlsx_writer file back with python-calamine and check its first and last rows."""
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Données").to_python()
    want = list(fleet_rows(n))
    assert len(rows) == n + 1, len(rows)
    assert tuple(rows[0]) == HEADERS
    for got, row in ((rows[1], want[0]), (rows[-1], want[-1])):
        assert got[:6] == list(row[:6]) and got[6] == row[6] and int(got[7]) == row[7], (got, row)
    print(f"verify: python-calamine read {n:,} rows back, first and last rows match")


def main() -> None:
    """Parse the arguments, run every writer in its own process and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000, help="data rows to write (default 500000)")
    parser.add_argument("--xlsxwriter", action="store_true", help="also time XlsxWriter constant_memory")
    parser.add_argument("--verify", action="store_true", help="read our file back with python-calamine")
    parser.add_argument("--keep", type=Path, help="keep the generated files in this folder")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.rows, args.out)
        return

    names = ["generator", "openpyxl", "xlsx_writer"] + (["xlsxwriter"] if args.xlsxwriter else [])
    with tempfile.TemporaryDirectory(prefix="bench_xlsx_") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{args.rows:,} rows x 8 columns, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        results = {}
        for name in names:
            out = folder / f"{name}.xlsx"
            results[name] = res = measure(name, args.rows, out)
            rate = res["rows"] / res["seconds"] if res["seconds"] else float("inf")
            size = f"{res['size'] / 1e6:8.1f} MB" if res["size"] else "       -   "
            print(f"{name:<12} {rate:>10,.0f} rows/s {res['seconds']:8.2f} s "
                  f"peak RSS {res['peak_mb']:6.1f} MB  file {size}", flush=True)
        if args.verify:
            verify(folder / "xlsx_writer.xlsx", args.rows)

    ours, theirs = results["xlsx_writer"], results["openpyxl"]
    ratio = theirs["seconds"] / ours["seconds"]
    print(f"speed ratio xlsx_writer / openpyxl write-only: {ratio:.1f}x (target >= 5x)")
    print(f"xlsx_writer peak RSS: {ours['peak_mb']:.1f} MB (target < 150 MB)")
    ok = ratio >= 5 and ours["peak_mb"] < 150
    print("targets met" if ok else "TARGETS NOT MET")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
