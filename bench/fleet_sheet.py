"""A throwaway fleet-like table and its sheet declaration, for the sheet export and import benchmarks.

Not part of the app: the model lives only in the benchmark's own SQLite file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from tortoise import Tortoise, connections, fields
from tortoise.models import Model
from tortoise.transactions import in_transaction

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sheets.engine.declaration import Column, Sheet  # noqa: E402

TYPES = {"laptop": "PC portable", "tablet": "Tablette", "chromebook": "Chromebook", "hybrid": "PC hybride"}
STATUSES = {"in_use": "En service", "stock": "En stock", "repair": "En réparation", "lost": "Perdu",
            "stolen": "Volé", "returned": "Restitué", "retired": "Réformé"}
GRADES = {"new": "Neuf", "a": "A", "b": "B", "c": "C", "d": "D"}
FIRST_NAMES = ("Léa", "Hugo", "Chloé", "Lucas", "Inès", "Noé", "Zoé", "Adam", "Jade", "Raphaël", "Anaïs")
LAST_NAMES = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Lefèvre",
              "Moreau", "Garcia", "N'Diaye", "Rousseau", "Fournier", "Girard")


class BenchDevice(Model):
    """A fleet-like row: serial, type, school, holder, status, grade, delivery date, version."""

    id = fields.IntField(primary_key=True)
    serial = fields.CharField(max_length=20, unique=True)
    type = fields.CharField(max_length=12)
    school_uai = fields.CharField(max_length=8)
    holder = fields.CharField(max_length=80, default="")
    status = fields.CharField(max_length=12)
    grade = fields.CharField(max_length=4)
    delivered = fields.DateField(null=True)
    version = fields.IntField(default=1)

    class Meta:
        table = "bench_device"


FLEET = Sheet(
    name="bench_fleet", label="Parc (bench)", model=BenchDevice, key="serial", default_sort=("serial",),
    columns=(
        Column("serial", "Numéro de série", width=150),
        Column("type", "Type", kind="choice", editable=True, choices=tuple(TYPES.items()), width=110),
        Column("school_uai", "UAI du lycée", editable=True, width=100),
        Column("holder", "Titulaire", editable=True, width=200),
        Column("status", "Statut", kind="choice", editable=True, choices=tuple(STATUSES.items()), width=120),
        Column("grade", "État", kind="choice", editable=True, choices=tuple(GRADES.items()), width=70),
        Column("delivered", "Livré le", kind="date", editable=True, width=100),
        Column("version", "Version", kind="integer", width=70),
    ),
)


def fleet_rows(n: int) -> Iterator[tuple[object, ...]]:
    """Lazily yield n fleet-like rows as stored (codes for choices)."""
    types, statuses, grades = list(TYPES), list(STATUSES), list(GRADES)
    first_day = date(2021, 8, 23).toordinal()
    for i in range(n):
        yield (
            f"UNW-{21 + i % 4}-{i:07d}", types[i % 4],
            f"0{750000 + (i * 7) % 1300:06d}{'ABCDEFGHJKLMNPRSTUVWXYZ'[i % 23]}",
            f"{LAST_NAMES[i % 15].upper()} {FIRST_NAMES[(i // 15) % 11]}",
            statuses[(i * 3) % 7], grades[i % 5], date.fromordinal(first_day + (i * 13) % 1200), 1 + i % 9,
        )


async def open_db(path: Path) -> None:
    """Open (and create) the benchmark's SQLite file with the project's pragmas."""
    from models.db import SQLITE_PRAGMAS

    await Tortoise.init(config={
        "connections": {"default": {"engine": "tortoise.backends.sqlite",
                                    "credentials": {"file_path": str(path), **SQLITE_PRAGMAS}}},
        "apps": {"bench": {"models": ["fleet_sheet"], "default_connection": "default"}},
        "use_tz": True, "timezone": "Europe/Paris",
    })


async def seed(path: Path, n: int) -> float:
    """Create the table and insert n rows (one transaction, executemany); return the seconds taken."""
    await open_db(path)
    started = time.perf_counter()
    await Tortoise.generate_schemas()
    conn = connections.get("default")
    sql = ("INSERT INTO bench_device (serial, type, school_uai, holder, status, grade, delivered, version) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    async with in_transaction() as tx:
        batch: list[tuple[object, ...]] = []
        for row in fleet_rows(n):
            batch.append((*row[:6], row[6].isoformat(), row[7]))  # type: ignore[union-attr]
            if len(batch) == 50_000:
                await tx.execute_many(sql, batch)
                batch = []
        if batch:
            await tx.execute_many(sql, batch)
    await conn.execute_script("ANALYZE;")
    seconds = time.perf_counter() - started
    await Tortoise.close_connections()
    return seconds
