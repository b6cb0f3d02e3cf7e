"""Textbook and resource baskets against each school's allocation (R-BASKET-1 … 12).

Rates, enrolments, extra allocations, the catalogue, baskets and their lines. The allocation of a school is a
derived row: Σ students × rate + granted extras − committed baskets, recomputed (never typed) by `recompute`,
which the sheets' effects call in the same transaction as the change that moves it.

Reading of the livret's table for the technological track (R-BASKET-1): a student of the technological track gets
the common core (40 € in 2de, 1re and Tle) PLUS the speciality amount of their level (56 € in 2de, 42 € in 1re,
28 € in Tle): two rate rows, parts « tronc commun » and « spécialités », both summed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise import connections, fields
from tortoise.models import Model

from models.schools import Level, Mode, Track
from models.vocab import Labeled

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


class Envelope(Labeled):
    """The two envelopes of a school's allocation (R-BASKET-1)."""

    MANUELS = "manuels", "Manuels et ressources"
    CONSOMMABLES = "consommables", "Consommables"


class RatePart(Labeled):
    """Which part of a track's rate a row is (technological track: common core plus specialities)."""

    ALL = "unique", "Dotation unique"
    CORE = "tronc_commun", "Tronc commun"
    SPECIALITY = "specialites", "Spécialités"


class ItemKind(Labeled):
    """Kinds of catalogue items."""

    DIGITAL = "manuel_numerique", "Manuel numérique"
    PAPER = "manuel_papier", "Manuel papier"
    RESOURCE = "ressource", "Ressource"
    CONSUMABLE = "consommable", "Consommable"
    FREE = "manuel_libre", "Manuel libre"


PAPER_KINDS = frozenset({ItemKind.PAPER.value, ItemKind.CONSUMABLE.value})
DIGITAL_KINDS = frozenset({ItemKind.DIGITAL.value, ItemKind.RESOURCE.value})


def envelope_of_kind(kind: Any) -> Envelope:
    """The envelope an item consumes: consumables theirs, everything else textbooks and resources."""
    return Envelope.CONSOMMABLES if code_of(kind) == ItemKind.CONSUMABLE.value else Envelope.MANUELS


class BasketStatus(Labeled):
    """Life cycle of a basket."""

    DRAFT = "brouillon", "Brouillon"
    SUBMITTED = "soumis", "Soumis"
    VALIDATED = "valide", "Validé"
    TRANSMITTED = "transmis", "Transmis à l'éditeur"
    QUOTED = "devis_valide", "Devis validé"
    IN_GAR = "dans_le_gar", "Dans le GAR"
    DELIVERED = "livre", "Livré"
    REJECTED = "refuse", "Refusé"
    RETURNED = "retour", "Retourné"


# Baskets whose amount is spent from the envelope (validated and every step after).
COMMITTED = (BasketStatus.VALIDATED, BasketStatus.TRANSMITTED, BasketStatus.QUOTED, BasketStatus.IN_GAR,
             BasketStatus.DELIVERED)
OPEN = (BasketStatus.DRAFT, BasketStatus.SUBMITTED)


def code_of(value: Any) -> str:
    """The code of an enumeration member or a plain value."""
    return "" if value is None else str(getattr(value, "value", value))


def money(value: Any) -> Decimal:
    """A euro amount rounded to the cent."""
    return Decimal(str(value or 0)).quantize(CENT)


def fr_euros(value: Any) -> str:
    """1 234,50 € (French)."""
    text = f"{money(value):,.2f}".replace(",", " ").replace(".", ",")
    return f"{text} €"


# --- Models --------------------------------------------------------------------------------------------------

class Rate(Model):
    """€ per student of a campaign year, envelope, school mode, track, level and part (R-BASKET-1)."""

    id = fields.IntField(primary_key=True)
    year = fields.IntField(db_index=True)
    envelope = fields.CharEnumField(Envelope, max_length=16, default=Envelope.MANUELS)
    school_mode = fields.CharEnumField(Mode, max_length=10, default=Mode.NUMERIQUE)
    track = fields.CharEnumField(Track, max_length=16)
    level = fields.CharEnumField(Level, max_length=8)
    part = fields.CharEnumField(RatePart, max_length=16, default=RatePart.ALL)
    amount = fields.DecimalField(max_digits=8, decimal_places=2, default=0)
    version = fields.IntField(default=1)

    class Meta:
        table = "basket_rate"
        unique_together = (("year", "envelope", "school_mode", "track", "level", "part"),)


class Headcount(Model):
    """Students of a school per campaign year, track and level, as counted in May (R-BASKET-1)."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=40, unique=True)  # <UAI>-<year>-<track>-<level>: the import's matching key
    school = fields.ForeignKeyField("models.School", related_name="headcounts", on_delete=fields.CASCADE)
    year = fields.IntField(db_index=True)
    track = fields.CharEnumField(Track, max_length=16)
    level = fields.CharEnumField(Level, max_length=8)
    students = fields.IntField(default=0)
    version = fields.IntField(default=1)

    class Meta:
        table = "basket_enrolment"
        unique_together = (("school", "year", "track", "level"),)


class ExtraAllocation(Model):
    """An extra allocation requested for a new class or speciality (R-BASKET-2), granted by the Région."""

    id = fields.IntField(primary_key=True)
    school = fields.ForeignKeyField("models.School", related_name="extra_allocations", on_delete=fields.CASCADE)
    year = fields.IntField(db_index=True)
    envelope = fields.CharEnumField(Envelope, max_length=16, default=Envelope.MANUELS)
    track = fields.CharEnumField(Track, max_length=16)
    level = fields.CharEnumField(Level, max_length=8)
    students = fields.IntField(default=0)
    amount = fields.DecimalField(max_digits=10, decimal_places=2, default=0)
    granted = fields.BooleanField(default=False)
    note = fields.CharField(max_length=300, default="")
    version = fields.IntField(default=1)

    class Meta:
        table = "basket_extra"


class Allocation(Model):
    """A school's envelope of a year: computed, extra, committed, remaining (derived, never typed)."""

    id = fields.IntField(primary_key=True)
    school = fields.ForeignKeyField("models.School", related_name="allocations", on_delete=fields.CASCADE)
    year = fields.IntField(db_index=True)
    envelope = fields.CharEnumField(Envelope, max_length=16)
    computed = fields.DecimalField(max_digits=12, decimal_places=2, default=0)
    extra = fields.DecimalField(max_digits=12, decimal_places=2, default=0)
    committed = fields.DecimalField(max_digits=12, decimal_places=2, default=0)
    remaining = fields.DecimalField(max_digits=12, decimal_places=2, default=0)
    version = fields.IntField(default=1)

    class Meta:
        table = "basket_allocation"
        unique_together = (("school", "year", "envelope"),)


class CatalogueItem(Model):
    """An orderable item: textbook, resource, consumable or free textbook (R-BASKET-7, 11, 12)."""

    id = fields.IntField(primary_key=True)
    reference = fields.CharField(max_length=40, unique=True)
    title = fields.CharField(max_length=250)
    publisher = fields.CharField(max_length=120, db_index=True)
    kind = fields.CharEnumField(ItemKind, max_length=20, default=ItemKind.DIGITAL)
    levels = fields.CharField(max_length=120, default="")
    tracks = fields.CharField(max_length=120, default="")
    price = fields.DecimalField(max_digits=10, decimal_places=2, default=0)
    licence = fields.CharField(max_length=60, default="")
    approved_on = fields.DateField(null=True)
    region_funded = fields.BooleanField(default=False)
    active = fields.BooleanField(default=True)
    version = fields.IntField(default=1)

    class Meta:
        table = "catalogue_item"


class Basket(Model):
    """A school's order of one envelope and campaign year, with its life cycle."""

    id = fields.IntField(primary_key=True)
    number = fields.CharField(max_length=20, unique=True)
    school = fields.ForeignKeyField("models.School", related_name="baskets", on_delete=fields.CASCADE)
    year = fields.IntField(db_index=True)
    envelope = fields.CharEnumField(Envelope, max_length=16, default=Envelope.MANUELS)
    status = fields.CharEnumField(BasketStatus, max_length=16, default=BasketStatus.DRAFT, db_index=True)
    prescriber = fields.CharField(max_length=254, default="")
    validator = fields.CharField(max_length=254, default="")
    total = fields.DecimalField(max_digits=12, decimal_places=2, default=0)
    ordered_on = fields.DateField(null=True)
    quoted_at = fields.DatetimeField(null=True)  # when the publisher's quote was validated (R-BASKET-8)
    note = fields.CharField(max_length=300, default="")
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "basket"


class BasketLine(Model):
    """One item of a basket: quantity of student licences (or copies), price, teacher licences (R-BASKET-4)."""

    id = fields.IntField(primary_key=True)
    basket = fields.ForeignKeyField("models.Basket", related_name="lines", on_delete=fields.CASCADE)
    item = fields.ForeignKeyField("models.CatalogueItem", related_name="lines", on_delete=fields.RESTRICT)
    quantity = fields.IntField(default=1)
    unit_price = fields.DecimalField(max_digits=10, decimal_places=2, default=0)
    amount = fields.DecimalField(max_digits=12, decimal_places=2, default=0)
    teacher_licences = fields.IntField(default=0)
    kept = fields.BooleanField(default=True)
    version = fields.IntField(default=1)

    class Meta:
        table = "basket_line"


class UsageStat(Model):
    """Online consultations of a resource in a school over a period (R-BASKET-10, imported from the GAR)."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=80, unique=True)  # <UAI>-<year>-<reference>: the import's matching key
    school = fields.ForeignKeyField("models.School", related_name="usage_stats", on_delete=fields.CASCADE)
    year = fields.IntField(db_index=True)
    item = fields.ForeignKeyField("models.CatalogueItem", related_name="usage_stats", on_delete=fields.CASCADE)
    consultations = fields.IntField(default=0)
    version = fields.IntField(default=1)

    class Meta:
        table = "basket_usage"
        unique_together = (("school", "year", "item"),)


class GarReassignment(Model):
    """A school's RESP-AFFECT-GAR saying its textbooks and resources are (re)assigned in the GAR (R-BASKET-9)."""

    id = fields.IntField(primary_key=True)
    school = fields.ForeignKeyField("models.School", related_name="gar_reassignments", on_delete=fields.CASCADE)
    year = fields.IntField(db_index=True)
    done_on = fields.DateField()
    by = fields.CharField(max_length=254, default="")
    version = fields.IntField(default=1)

    class Meta:
        table = "gar_reassignment"


# --- R-BASKET-1: the livret's 2024 table ---------------------------------------------------------------------

PRO_LEVELS = (Level.SECONDE, Level.PREMIERE, Level.TERMINALE, Level.BMA1, Level.BMA2, Level.CAP1, Level.CAP2)
CONSUMABLE_LEVELS = (*PRO_LEVELS, Level.TROISIEME_PM, Level.MCFC)


def livret_2024_rates() -> list[dict[str, Any]]:
    """The allocation table of the livret 2024 (R-BASKET-1) as rate rows."""
    rows: list[dict[str, Any]] = []

    def add(envelope: Envelope, mode: Mode, track: Track, level: Level, amount: int,
            part: RatePart = RatePart.ALL) -> None:
        rows.append({"year": 2024, "envelope": envelope, "school_mode": mode, "track": track, "level": level,
                     "part": part, "amount": Decimal(amount)})

    num, man = Mode.NUMERIQUE, Envelope.MANUELS
    for level, amount in ((Level.SECONDE, 72), (Level.PREMIERE, 64), (Level.TERMINALE, 56)):
        add(man, num, Track.GENERALE, level, amount)
    for level, amount in ((Level.SECONDE, 56), (Level.PREMIERE, 42), (Level.TERMINALE, 28)):
        add(man, num, Track.TECHNOLOGIQUE, level, 40, RatePart.CORE)
        add(man, num, Track.TECHNOLOGIQUE, level, amount, RatePart.SPECIALITY)
    for level in PRO_LEVELS:
        add(man, num, Track.PROFESSIONNELLE, level, 42)
    for track, levels in ((Track.GENERALE, (Level.SECONDE, Level.PREMIERE, Level.TERMINALE)),
                          (Track.TECHNOLOGIQUE, (Level.SECONDE, Level.PREMIERE, Level.TERMINALE)),
                          (Track.PROFESSIONNELLE, CONSUMABLE_LEVELS)):
        for level in levels:
            add(man, Mode.PAPIER, track, level, 5)  # paper schools: restock only
    for mode in (Mode.NUMERIQUE, Mode.PAPIER):
        for level in CONSUMABLE_LEVELS:
            add(Envelope.CONSOMMABLES, mode, Track.PROFESSIONNELLE, level, 24)
    return rows


# --- Open-data enrolment file (wide columns become rows) -----------------------------------------------------

# The national open-data file of lycée enrolments: `2ndes_gt` is the common 2de of the general and technological
# tracks (the technological speciality starts in 1re): it is counted as générale 2de.
OPEN_DATA_COLUMNS: dict[str, tuple[Track, Level]] = {
    "2ndes_gt": (Track.GENERALE, Level.SECONDE),
    "1eres_g": (Track.GENERALE, Level.PREMIERE),
    "terminales_g": (Track.GENERALE, Level.TERMINALE),
    "1eres_sti2d": (Track.TECHNOLOGIQUE, Level.PREMIERE),
    "1eres_stmg": (Track.TECHNOLOGIQUE, Level.PREMIERE),
    "terminales_sti2d": (Track.TECHNOLOGIQUE, Level.TERMINALE),
    "terminales_stmg": (Track.TECHNOLOGIQUE, Level.TERMINALE),
}


def headcount_code(uai: str, year: int, track: Any, level: Any) -> str:
    """The matching key of an enrolment row."""
    return f"{str(uai).upper()}-{year}-{code_of(track)}-{code_of(level)}"


def wide_to_rows(record: dict[str, Any], year: int) -> list[dict[str, Any]]:
    """One open-data line (numero_lycee + wide columns) as enrolment rows (track × level summed)."""
    uai = str(record.get("numero_lycee") or "").strip().upper()
    counts: dict[tuple[Track, Level], int] = defaultdict(int)
    for column, key in OPEN_DATA_COLUMNS.items():
        raw = record.get(column)
        if raw in (None, ""):
            continue
        try:
            counts[key] += int(float(str(raw).replace(",", ".")))
        except ValueError:
            raise ValueError(f"{uai} : « {column} » = « {raw} » n'est pas un nombre d'élèves.") from None
    return [{"code": headcount_code(uai, year, t.value, lv.value), "school": uai, "year": year, "track": t.value,
             "level": lv.value, "students": n}
            for (t, lv), n in counts.items() if n]


# --- Allocations ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Budget:
    """One envelope of a school: what it gets, what is spent, what remains."""

    computed: Decimal
    extra: Decimal
    committed: Decimal

    @property
    def total(self) -> Decimal:
        """Computed plus extras."""
        return self.computed + self.extra

    @property
    def remaining(self) -> Decimal:
        """Total minus committed."""
        return self.total - self.committed


def compute_allocation(mode: str, headcounts: Iterable[tuple[str, str, int]],
                       rates: Iterable[tuple[str, str, str, str, Decimal]]) -> dict[str, Decimal]:
    """Σ students × rate per envelope (R-BASKET-1): headcounts (track, level, students), rates (envelope, mode,
    track, level, amount); several parts of one track × level add up (technological: core plus speciality)."""
    per_student: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    envelopes = {e.value for e in Envelope}
    for envelope, rate_mode, track, level, amount in rates:
        if code_of(rate_mode) == code_of(mode):
            per_student[(code_of(envelope), code_of(track), code_of(level))] += Decimal(amount)
    out = {e: ZERO for e in envelopes}
    for track, level, students in headcounts:
        for envelope in envelopes:
            out[envelope] += per_student.get((envelope, code_of(track), code_of(level)), ZERO) * students
    return {e: money(v) for e, v in out.items()}


async def recompute(year: int, school_ids: Iterable[int] | None = None) -> int:
    """Recompute the allocations of a year (every school, or the given ones) from rates, enrolments, granted
    extras and committed baskets: a few grouped queries, then one upsert per changed row. Returns rows written."""
    from models.schools import School

    ids = None if school_ids is None else sorted(set(school_ids))
    if ids == []:
        return 0
    schools = School.all() if ids is None else School.filter(id__in=ids)
    modes = dict(await schools.values_list("id", "mode"))
    rates = await Rate.filter(year=year).values_list("envelope", "school_mode", "track", "level", "amount")
    per_student: dict[tuple[str, str, str, str], Decimal] = defaultdict(Decimal)
    for envelope, mode, track, level, amount in rates:
        per_student[(code_of(mode), code_of(envelope), code_of(track), code_of(level))] += Decimal(amount)
    scope: dict[str, Any] = {"year": year} if ids is None else {"year": year, "school_id__in": ids}
    computed: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for sid, track, level, students in await Headcount.filter(**scope).values_list("school_id", "track", "level",
                                                                                    "students"):
        mode = code_of(modes.get(sid))
        for envelope in Envelope:
            rate = per_student.get((mode, envelope.value, code_of(track), code_of(level)))
            if rate:
                computed[(sid, envelope.value)] += rate * students
    extra: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for sid, envelope, amount in await ExtraAllocation.filter(granted=True, **scope).values_list(
            "school_id", "envelope", "amount"):
        extra[(sid, code_of(envelope))] += Decimal(amount)
    committed: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for sid, envelope, total in await Basket.filter(status__in=list(COMMITTED), **scope).values_list(
            "school_id", "envelope", "total"):
        committed[(sid, code_of(envelope))] += Decimal(total)
    existing = {(sid, code_of(env)): (rid, c, x, m)
                for rid, sid, env, c, x, m in await Allocation.filter(**scope).values_list(
                    "id", "school_id", "envelope", "computed", "extra", "committed")}
    written = 0
    new_rows: list[Allocation] = []
    for sid in modes:
        for envelope in Envelope:
            key = (sid, envelope.value)
            c, x, m = money(computed.get(key)), money(extra.get(key)), money(committed.get(key))
            found = existing.get(key)
            if found is None:
                if c or x or m:
                    new_rows.append(Allocation(school_id=sid, year=year, envelope=envelope, computed=c, extra=x,
                                               committed=m, remaining=c + x - m))
                continue
            rid, oc, ox, om = found
            if (money(oc), money(ox), money(om)) != (c, x, m):
                await Allocation.filter(id=rid).update(computed=c, extra=x, committed=m, remaining=c + x - m)
                written += 1
    if new_rows:
        await Allocation.bulk_create(new_rows, batch_size=1000)
        written += len(new_rows)
    return written


async def lock_budget(school_id: int, year: int, envelope: Any) -> Budget:
    """The envelope of a school read fresh for a validation, its allocation row locked (PostgreSQL: FOR UPDATE,
    so two validations of one school are serialised, and the second sees what the first committed)."""
    env = code_of(envelope)
    await recompute(year, [school_id])  # the row exists (and is current) before it is locked
    query = Allocation.filter(school_id=school_id, year=year, envelope=env)
    if connections.get("default").capabilities.dialect == "postgres":
        query = query.select_for_update()
    row = await query.first()
    committed = sum((Decimal(t) for t in await Basket.filter(
        school_id=school_id, year=year, envelope=env, status__in=list(COMMITTED)).values_list("total", flat=True)),
        ZERO)
    if row is None:
        return Budget(ZERO, ZERO, money(committed))
    return Budget(money(row.computed), money(row.extra), money(committed))


def exceeding_lines(lines: list[tuple[str, Decimal]], remaining: Decimal) -> list[tuple[str, Decimal]]:
    """The lines (label, amount) that go beyond the remaining amount, taken in order."""
    out: list[tuple[str, Decimal]] = []
    running = ZERO
    for label, amount in lines:
        running += amount
        if running > remaining:
            out.append((label, amount))
    return out


# --- R-BASKET-6: the calendar of a campaign year (dates as data: the campaign events) ------------------------

@dataclass(frozen=True)
class OrderCalendar:
    """The order and return dates of a campaign year."""

    year: int
    opens: dt.date
    closes: dt.date
    reopens: dt.date
    returns_early: dt.date  # returns of paper ordered before 31/08
    returns_late: dt.date  # returns of textbooks ordered before 30/09

    def orders_open(self, day: dt.date) -> bool:
        """Whether textbooks and consumables may be ordered that day (R-BASKET-6)."""
        return self.opens <= day <= self.closes or self.reopens <= day < dt.date(self.year + 1, 6, 1)

    def closed_message(self, day: dt.date) -> str:
        """Why orders are closed that day (French)."""
        if day < self.opens:
            return (f"Les commandes de manuels et consommables ouvrent le {self.opens:%d/%m/%Y} (R-BASKET-6) ; "
                    "les ressources restent commandables toute l'année.")
        if self.closes < day < self.reopens:
            return (f"Les commandes sont fermées depuis le {self.closes:%d/%m/%Y} ; elles rouvrent le "
                    f"{self.reopens:%d/%m/%Y} pour les élèves nouvellement arrivés (R-BASKET-6).")
        return f"Les commandes de la campagne {self.year} sont closes (R-BASKET-6)."

    def return_deadline(self, ordered_on: dt.date | None) -> dt.date | None:
        """The last day to return paper ordered that day (None: no return possible)."""
        if ordered_on is None:
            return None
        if ordered_on <= dt.date(self.year, 8, 31):
            return self.returns_early
        if ordered_on <= dt.date(self.year, 9, 30):
            return self.returns_late
        return None


def default_calendar(year: int) -> OrderCalendar:
    """The livret's dates moved to a year (used when the campaign's events are missing)."""
    return OrderCalendar(year, dt.date(year, 6, 26), dt.date(year, 9, 17), dt.date(year, 9, 19),
                         dt.date(year, 9, 17), dt.date(year, 10, 18))


async def order_calendar(year: int) -> OrderCalendar:
    """The order calendar of a campaign year, from its campaign events (slugs basket-*), else the livret's."""
    from models.campaign import CampaignEvent

    base = default_calendar(year)
    days = dict(await CampaignEvent.filter(year=year, slug__startswith="basket-").values_list("slug", "due_on"))
    return OrderCalendar(year, days.get("basket-orders-open", base.opens), days.get("basket-orders-close", base.closes),
                         days.get("basket-orders-reopen", base.reopens),
                         days.get("basket-returns-paper", base.returns_early),
                         days.get("basket-returns-late", base.returns_late))


def campaign_year(day: dt.date) -> int:
    """The campaign a day belongs to: from June of a year to May of the next."""
    return day.year if day.month >= 6 else day.year - 1


# --- Views (what the pages show, queried here) ---------------------------------------------------------------

NEARLY_SPENT = Decimal("0.10")  # an envelope is « presque consommée » once less than a tenth of it is left


async def school_budgets(school_id: int, year: int) -> dict[str, Budget]:
    """The envelopes of a school for a year (computed, extra, committed)."""
    rows = await Allocation.filter(school_id=school_id, year=year).values_list("envelope", "computed", "extra",
                                                                              "committed")
    return {code_of(e): Budget(money(c), money(x), money(m)) for e, c, x, m in rows}


async def school_baskets(school_id: int, year: int) -> list[dict[str, Any]]:
    """A school's baskets of a year, newest first."""
    return await Basket.filter(school_id=school_id, year=year).order_by("-id").values(
        "id", "number", "envelope", "status", "total", "prescriber", "validator", "ordered_on", "version")


async def basket_lines(basket_id: int) -> list[dict[str, Any]]:
    """The lines of a basket with their catalogue item."""
    return await BasketLine.filter(basket_id=basket_id).order_by("id").values(
        "id", "quantity", "teacher_licences", "unit_price", "amount", "kept", "item__reference", "item__title",
        "item__publisher", "item__kind")


async def search_catalogue(text: str, envelope: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Catalogue items matching a text (title, reference or publisher), orderable ones first (not region-funded)."""
    from tortoise.expressions import Q

    query = CatalogueItem.filter(active=True)
    words = text.strip()[:80]
    if words:
        query = query.filter(Q(title__icontains=words) | Q(reference__icontains=words)
                             | Q(publisher__icontains=words))
    rows = await query.order_by("region_funded", "title").limit(limit * 2).values(
        "reference", "title", "publisher", "kind", "price", "region_funded", "levels")
    if envelope:
        rows = [r for r in rows if envelope_of_kind(r["kind"]).value == envelope or r["region_funded"]]
    return rows[:limit]


async def regional_consumption(year: int) -> list[dict[str, Any]]:
    """Σ allocations, committed and remaining by académie and envelope (the Région's view)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for academie, envelope, c, x, m in await Allocation.filter(year=year).values_list(
            "school__academie", "envelope", "computed", "extra", "committed"):
        key = (code_of(academie), code_of(envelope))
        row = out.setdefault(key, {"academie": key[0], "envelope": key[1], "schools": 0, "total": ZERO,
                                   "committed": ZERO})
        row["schools"] += 1
        row["total"] += money(c) + money(x)
        row["committed"] += money(m)
    for row in out.values():
        row["remaining"] = row["total"] - row["committed"]
        row["share"] = float(row["committed"] / row["total"]) if row["total"] else 0.0
    return sorted(out.values(), key=lambda r: (r["academie"], r["envelope"]))


async def nearly_spent(year: int) -> tuple[int, int]:
    """How many envelopes of a year are nearly spent (less than a tenth left) and entirely spent."""
    nearly = spent = 0
    for c, x, r in await Allocation.filter(year=year).values_list("computed", "extra", "remaining"):
        total = money(c) + money(x)
        if total <= 0:
            continue
        if money(r) <= 0:
            spent += 1
        elif money(r) < total * NEARLY_SPENT:
            nearly += 1
    return nearly, spent


async def publishers() -> list[str]:
    """The publishers of the catalogue."""
    return sorted(set(await CatalogueItem.all().values_list("publisher", flat=True)))


async def shown_year(day: dt.date) -> int:
    """The campaign the pages show: that of the day, else the latest one with allocations (a demo of 2024)."""
    year = campaign_year(day)
    if await Allocation.filter(year=year).exists():
        return year
    latest = await Allocation.all().order_by("-year").first()
    return latest.year if latest is not None and latest.year < year else year


# --- R-BASKET-9: the GAR reset of 15 August and who has reassigned since -----------------------------------------

async def gar_reset_day(year: int) -> dt.date:
    """The GAR reset of a campaign year (calendar event « gar-reset », else 15 August)."""
    from models.campaign import CampaignEvent

    event = await CampaignEvent.get_or_none(year=year, slug="gar-reset")
    return event.due_on if event is not None else dt.date(year, 8, 15)


async def gar_status(year: int) -> tuple[dt.date, list[dict[str, Any]], list[dict[str, Any]]]:
    """The reset day, the digital schools that reassigned since (with when and who), and those that have not."""
    from models.schools import School

    reset = await gar_reset_day(year)
    done: dict[int, tuple[dt.date, str]] = {}
    for sid, day, by in await GarReassignment.filter(done_on__gte=reset).order_by("done_on").values_list(
            "school_id", "done_on", "by"):
        done.setdefault(sid, (day, by))
    reassigned, waiting = [], []
    for sid, uai, name, academie in await School.filter(mode=Mode.NUMERIQUE).order_by("uai").values_list(
            "id", "uai", "name", "academie"):
        row = {"uai": uai, "name": name, "academie": code_of(academie)}
        if sid in done:
            reassigned.append({**row, "done_on": done[sid][0], "by": done[sid][1]})
        else:
            waiting.append(row)
    return reset, reassigned, waiting


async def gar_pending(today: dt.date, horizon: dt.date) -> list[Any]:
    """R-BASKET-9: the GAR reset reminder, to each digital school (cc RESP-AFFECT-GAR) until it says it reassigned
    its textbooks and resources after the reset: the schools that did are no longer reminded."""
    from models.campaign import CampaignEvent
    from models.reminders import PendingItem
    from models.schools import ContactRole, School

    items: list[Any] = []
    events = await CampaignEvent.filter(slug="gar-reset", due_on__gte=today - dt.timedelta(days=60),
                                        due_on__lte=horizon)
    for event in events:
        done = set(await GarReassignment.filter(done_on__gte=event.due_on).values_list("school_id", flat=True))
        for school in await School.filter(mode=Mode.NUMERIQUE):
            if school.id in done:
                continue
            items.append(PendingItem(
                school=school, due=event.due_on, rule_id="R-BASKET-9", title=event.title,
                action=event.action + " Une fois fait, indiquez-le dans « Manuels et ressources » (Mon établissement).",
                where=event.where, cc_roles=(ContactRole.RESP_AFFECT_GAR,), days_before=event.days_before,
                key=f"{event.year}:gar-reset"))
    return items


def _register_gar_rule() -> None:
    from models.reminders import ReminderRule, register

    register(ReminderRule(code="R-BASKET-9-gar", label="Réinitialisation du GAR : réaffectations (R-BASKET-9)",
                          list_pending=gar_pending, days_before=(7, 0), supersedes=("gar-reset",), look_ahead=60,
                          url="/manuels/gar"))


_register_gar_rule()


# --- R-BASKET-10: usage beside spending ----------------------------------------------------------------------------

async def usage_beside_spending(school_id: int, year: int) -> list[dict[str, Any]]:
    """Per resource of a school: online consultations (imported) and what its committed baskets spent on it."""
    spent: dict[str, Decimal] = defaultdict(Decimal)
    titles: dict[str, str] = {}
    for reference, title, amount in await BasketLine.filter(
            basket__school_id=school_id, basket__year=year, basket__status__in=list(COMMITTED), kept=True
    ).values_list("item__reference", "item__title", "amount"):
        spent[reference] += Decimal(amount)
        titles[reference] = title
    usage: dict[str, int] = {}
    for reference, title, consultations in await UsageStat.filter(school_id=school_id, year=year).values_list(
            "item__reference", "item__title", "consultations"):
        usage[reference] = consultations
        titles[reference] = title
    rows = [{"reference": r, "title": titles[r], "consultations": usage.get(r), "spent": money(spent.get(r))}
            for r in set(spent) | set(usage)]
    return sorted(rows, key=lambda r: (-(r["consultations"] or 0), r["reference"]))


async def has_digital_lines(basket_id: int) -> bool:
    """Whether a basket holds digital licences or resources (R-BASKET-5: never returned)."""
    return await BasketLine.filter(basket_id=basket_id, kept=True, item__kind__in=sorted(DIGITAL_KINDS)).exists()


async def last_reassignment(school_id: int, since: dt.date) -> GarReassignment | None:
    """A school's latest GAR reassignment on or after a day (R-BASKET-9), if any."""
    return await GarReassignment.filter(school_id=school_id, done_on__gte=since).order_by("-done_on").first()


async def region_funded_items() -> list[dict[str, Any]]:
    """Resources the Région funds for every school (R-BASKET-12): assigned without a basket, outside allocations."""
    return await CatalogueItem.filter(region_funded=True, active=True).order_by("title").values(
        "reference", "title", "publisher")
