"""Demo fleet: holders and devices in every state of the life cycle, inserted fast (executemany, one transaction).

From a fixed random seed; additive and idempotent: `seed_fleet(n)` creates the devices missing up to n.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from models.equipment import EquipmentKind, EquipmentStatus, FixedEquipment, TrackNeed
from models.fleet import Device, DeviceKind, EndChoice, Grade, Holder, HolderKind, Situation, Status
from models.schools import School
from seed.demo import FIRST_NAMES, LAST_NAMES

Progress = Callable[[str], None]
DEFAULT_DEVICES = 5000  # the demo's first start stays fast; `python app.py seed --devices 500000` for scale

KINDS: list[tuple[DeviceKind, float]] = [
    (DeviceKind.STUDENT_LAPTOP, 0.85), (DeviceKind.TEACHER_LAPTOP, 0.10), (DeviceKind.STAFF_LAPTOP, 0.02),
    (DeviceKind.SCREEN, 0.02), (DeviceKind.OPS, 0.01),
]
LAPTOP_STATUSES: list[tuple[Status, float]] = [
    (Status.STOCK, 0.04), (Status.ASSIGNED, 0.03), (Status.DELIVERED, 0.06), (Status.DISTRIBUTED, 0.68),
    (Status.KEPT, 0.06), (Status.TO_RETURN, 0.04), (Status.RETURNED, 0.02), (Status.RECONDITIONED, 0.02),
    (Status.AFTER_SALES, 0.03), (Status.STOLEN, 0.01), (Status.LOST, 0.01),
]
WITH_HOLDER = {Status.ASSIGNED, Status.DELIVERED, Status.DISTRIBUTED, Status.KEPT, Status.TO_RETURN,
               Status.RETURNED, Status.AFTER_SALES, Status.STOLEN, Status.LOST}
WITHOUT_SCHOOL = {Status.STOCK, Status.RECONDITIONED, Status.ASSIGNED}
MODELS = {DeviceKind.STUDENT_LAPTOP: "Y-Book 2", DeviceKind.TEACHER_LAPTOP: "Y-Book Pro",
          DeviceKind.STAFF_LAPTOP: "Y-Book Pro", DeviceKind.SCREEN: "Speechi 75\"", DeviceKind.OPS: "Speechi 86\" OPS"}
SUPPLIERS = {DeviceKind.SCREEN: "Speechi", DeviceKind.OPS: "Speechi"}
CLASS_LETTERS = "ABCDEFGH"

DEVICE_COLUMNS = ("id", "serial", "kind", "model", "supplier", "school_id", "holder_id", "status", "grade", "computer",
                  "mdm_enrolled", "mdm_unenroll_by", "loan_accepted_on", "delivered_on", "distributed_on",
                  "office_installed", "evidence_ref", "wave", "training_done", "restock_id", "version", "created_at",
                  "updated_at")
HOLDER_COLUMNS = ("id", "ident", "kind", "last_name", "first_name", "school_id", "class_name", "level", "track",
                  "situation", "end_choice", "version", "updated_at")


def _pick(rng: random.Random, table: Sequence[tuple[Any, float]]) -> Any:
    roll, acc = rng.random(), 0.0
    for value, weight in table:
        acc += weight
        if roll < acc:
            return value
    return table[-1][0]


def _insert_sql(table: str, columns: Sequence[str], dialect: str) -> str:
    marks = ", ".join(f"${i + 1}" if dialect == "postgres" else "?" for i in range(len(columns)))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def generate(start: int, count: int, schools: list[int], holder_start: int, seed: int = 2024,
             ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows of `count` devices numbered from `start` and their holders (ids from `holder_start`)."""
    rng = random.Random(seed * 1_000_003 + start)
    now = dt.datetime(2024, 9, 2, 8, 0, tzinfo=dt.UTC)
    devices: list[tuple[Any, ...]] = []
    holders: list[tuple[Any, ...]] = []
    hid = holder_start
    screen_counts: dict[int, int] = {}
    day = dt.date(2024, 9, 2)
    for n in range(start, start + count):
        kind = _pick(rng, KINDS)
        school = rng.choice(schools)
        status = _pick(rng, LAPTOP_STATUSES) if kind not in (DeviceKind.SCREEN, DeviceKind.OPS) else Status.DISTRIBUTED
        grade = rng.choice((Grade.AS_NEW, Grade.AS_NEW, Grade.FAIR, Grade.FAIR, Grade.WORN)).value
        holder_id = None
        wave, training = None, False
        if kind in (DeviceKind.SCREEN, DeviceKind.OPS):
            screen_counts[school] = screen_counts.get(school, 0) + 1
            wave = (screen_counts[school] - 1) // 10 + 1  # R-FLEET-14: waves of 10 per school
            training = rng.random() < 0.6
        elif status in WITH_HOLDER and not (status == Status.DELIVERED and rng.random() < 0.08):
            hid += 1
            holder_id = hid
            hkind = {DeviceKind.STUDENT_LAPTOP: HolderKind.STUDENT, DeviceKind.TEACHER_LAPTOP: HolderKind.TEACHER,
                     DeviceKind.STAFF_LAPTOP: HolderKind.STAFF}[kind]
            holders.append(_holder(rng, hid, hkind, school, status, now))
        at_school = status not in WITHOUT_SCHOOL
        distributed = status in (Status.DISTRIBUTED, Status.KEPT, Status.TO_RETURN, Status.RETURNED,
                                 Status.AFTER_SALES, Status.STOLEN, Status.LOST)
        dist_on = day - dt.timedelta(days=rng.randint(0, 1200)) if distributed else None
        evidence = {Status.STOLEN: f"PV-{rng.randint(10000, 99999)}", Status.LOST: f"MC-{rng.randint(10000, 99999)}",
                    Status.AFTER_SALES: f"SAV-{rng.randint(100000, 999999)}"}.get(status, "")
        devices.append((
            n + 1, f"{'UNW' if kind not in (DeviceKind.SCREEN, DeviceKind.OPS) else 'ENI'}{n + 1:08d}", kind.value,
            MODELS[kind], SUPPLIERS.get(kind, "Unowhy"), school if at_school or kind in (DeviceKind.SCREEN,
                                                                                        DeviceKind.OPS) else None,
            holder_id, status.value, grade, kind != DeviceKind.SCREEN, distributed and status != Status.KEPT,
            dt.date(2024 if dist_on is None or dist_on.month < 9 else dist_on.year + 1, 9, 30)
            if status == Status.KEPT else None,
            dist_on if distributed and rng.random() < 0.93 else None,
            (dist_on - dt.timedelta(days=7)) if dist_on else (day if status == Status.DELIVERED else None),
            dist_on, bool(dist_on and dist_on >= dt.date(2021, 9, 1)
                          and kind not in (DeviceKind.SCREEN, DeviceKind.OPS)),
            evidence, wave, training, None, 1, now, now,
        ))
    # Holders still without a device (new students, R-SLOT-7's « présent sans PC »): about 1 %.
    for _ in range(max(1, count // 100)):
        hid += 1
        holders.append(_holder(rng, hid, HolderKind.STUDENT, rng.choice(schools), Status.STOCK, now))
    return devices, holders


def _holder(rng: random.Random, hid: int, kind: HolderKind, school: int, status: Status,
            now: dt.datetime) -> tuple[Any, ...]:
    level = rng.choice(("2de", "1re", "Tle")) if kind == HolderKind.STUDENT else None
    situation = Situation.IN_SCHOOL
    end_choice = None
    if status == Status.KEPT:
        situation, level, end_choice = Situation.FINISHED, "Tle", EndChoice.KEEP.value
    elif status in (Status.TO_RETURN, Status.RETURNED):
        situation = (rng.choice((Situation.LEFT_IDF, Situation.FINISHED)) if kind == HolderKind.STUDENT
                     else rng.choice((Situation.LEFT_IDF, Situation.RETIRED)))
        if situation == Situation.FINISHED:
            level, end_choice = "Tle", EndChoice.RETURN.value
    elif level == "Tle" and rng.random() < 0.4:
        end_choice = rng.choice((EndChoice.KEEP, EndChoice.RETURN)).value
    prefix = {HolderKind.STUDENT: "INE", HolderKind.TEACHER: "NUM", HolderKind.STAFF: "PER"}[kind]
    class_name = f"{ {'2de': '2nde', '1re': '1re', 'Tle': 'Tle'}[level]} {rng.choice(CLASS_LETTERS)}" if level else ""
    return (hid, f"{prefix}{hid:09d}", kind.value, rng.choice(LAST_NAMES), rng.choice(FIRST_NAMES), school,
            class_name, level,
            "generale" if level else None, situation.value, end_choice, 1, now)


async def seed_fleet(devices: int = DEFAULT_DEVICES, progress: Progress | None = None, seed: int = 2024,
                     chunk: int = 50_000) -> dict[str, int]:
    """Create the demo devices missing up to `devices` (with their holders), in one transaction."""
    say = progress or (lambda _msg: None)
    equipment = await seed_equipment(seed=seed)
    have = await Device.all().count()
    if have >= devices:
        say(f"Parc : {have} appareil(s) déjà présent(s), rien à ajouter.")
        return {"devices": 0, "holders": 0, "equipment": equipment}
    schools = list(await School.all().order_by("id").values_list("id", flat=True))
    if not schools:
        raise RuntimeError("Aucun établissement : créez d'abord les établissements (python app.py seed).")
    start_id = max(await Device.all().order_by("-id").limit(1).values_list("id", flat=True) or [0])
    holder_start = max(await Holder.all().order_by("-id").limit(1).values_list("id", flat=True) or [0])
    started = time.perf_counter()
    created = {"devices": 0, "holders": 0, "equipment": equipment}
    async with in_transaction() as conn:
        dialect = connections.get("default").capabilities.dialect
        device_sql = _insert_sql("device", DEVICE_COLUMNS, dialect)
        holder_sql = _insert_sql("holder", HOLDER_COLUMNS, dialect)
        todo = devices - have
        position = max(have, int(start_id))
        while todo > 0:
            n = min(chunk, todo)
            device_rows, holder_rows = generate(position, n, schools, int(holder_start), seed)
            await conn.execute_many(holder_sql, holder_rows)
            await conn.execute_many(device_sql, device_rows)
            holder_start += len(holder_rows)
            created["devices"] += n
            created["holders"] += len(holder_rows)
            position += n
            todo -= n
            say(f"  parc : {created['devices']} / {devices - have} appareils "
                f"({time.perf_counter() - started:.1f} s)")
        if dialect == "postgres":
            for table in ("device", "holder"):
                await conn.execute_script(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    say(f"Parc : {created['devices']} appareil(s) et {created['holders']} porteur(s) ajoutés en "
        f"{time.perf_counter() - started:.1f} s.")
    return created


DEFAULT_EQUIPMENT = 300
ROOMS = ("Salle 204", "Salle 112", "Salle informatique A", "Salle informatique B", "CDI", "Salle des professeurs",
         "Atelier", "Laboratoire de physique", "Salle 301", "Vie scolaire")
EQUIPMENT_KINDS: list[tuple[EquipmentKind, float]] = [
    (EquipmentKind.DESKTOP, 0.45), (EquipmentKind.PROJECTOR, 0.2), (EquipmentKind.WIFI, 0.15),
    (EquipmentKind.PRINTER, 0.1), (EquipmentKind.SERVER, 0.05), (EquipmentKind.OTHER, 0.05),
]
EQUIPMENT_STATUSES: list[tuple[EquipmentStatus, float]] = [
    (EquipmentStatus.NEED, 0.25), (EquipmentStatus.ORDERED, 0.2), (EquipmentStatus.DELIVERED, 0.15),
    (EquipmentStatus.INSTALLED, 0.35), (EquipmentStatus.WITHDRAWN, 0.05),
]


async def seed_equipment(rows: int = DEFAULT_EQUIPMENT, seed: int = 2024) -> int:
    """Demo needs of fixed equipment (R-FLEET-15), dates coherent with their status; none when some exist."""
    if await FixedEquipment.exists():
        return 0
    schools = list(await School.all().order_by("id").values_list("id", "track_generale", "track_technologique",
                                                                 "track_professionnelle"))
    if not schools:
        return 0
    rng = random.Random(seed + 15)
    items = []
    for n in range(rows):
        school_id, *flags = rng.choice(schools)
        tracks = [t for t, on in zip((TrackNeed.GENERALE, TrackNeed.TECHNOLOGIQUE, TrackNeed.PROFESSIONNELLE),
                                     flags, strict=True) if on]
        status = _pick(rng, EQUIPMENT_STATUSES)
        kind = _pick(rng, EQUIPMENT_KINDS)
        ordered = dt.date(2024, 3, 1) + dt.timedelta(days=rng.randint(0, 400))
        delivered = ordered + dt.timedelta(days=rng.randint(10, 60))
        installed = delivered + dt.timedelta(days=rng.randint(1, 30))
        rank = {EquipmentStatus.NEED: 0, EquipmentStatus.ORDERED: 1, EquipmentStatus.DELIVERED: 2,
                EquipmentStatus.INSTALLED: 3, EquipmentStatus.WITHDRAWN: 3}[status]
        items.append(FixedEquipment(
            school_id=school_id, room=rng.choice(ROOMS), kind=kind,
            track=rng.choice([TrackNeed.ALL, *tracks]), status=status,
            quantity=rng.randint(10, 30) if kind == EquipmentKind.DESKTOP else rng.randint(1, 4),
            ordered_on=ordered if rank >= 1 else None, delivered_on=delivered if rank >= 2 else None,
            installed_on=installed if rank >= 3 else None,
            order_ref=f"LYS-{2024 + n % 3}-{rng.randint(1000, 9999)}" if rank >= 1 else ""))
    await FixedEquipment.bulk_create(items, batch_size=500)
    return len(items)


ORDER = 20


async def seed_area(progress: Progress | None = None, devices: int | None = None) -> dict[str, int]:
    """The demo fleet (discovered by seed.seed_everything); `devices` for a fleet at scale."""
    return await seed_fleet(devices or DEFAULT_DEVICES, progress=progress)
