"""Textbook and resource baskets as sheets (R-BASKET-1 … 12): rates, enrolments, extra allocations, allocations,
the catalogue, baskets and their lines, usage statistics.

Allocations are derived: every change of a rate, an enrolment, a granted extra or a basket's commitment
recomputes the allocations it moves, in the same transaction (`models.baskets.recompute`, the sheet marked
changed with `touch`). A validation locks the school's allocation row (PostgreSQL: FOR UPDATE) before it reads
what is committed: two validations at once are serialised and never overspend the envelope.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from models.baskets import (
    COMMITTED,
    DIGITAL_KINDS,
    PAPER_KINDS,
    Allocation,
    Basket,
    BasketLine,
    BasketStatus,
    CatalogueItem,
    Envelope,
    ExtraAllocation,
    GarReassignment,
    Headcount,
    ItemKind,
    Rate,
    RatePart,
    UsageStat,
    campaign_year,
    code_of,
    envelope_of_kind,
    exceeding_lines,
    fr_euros,
    headcount_code,
    lock_budget,
    money,
    order_calendar,
    recompute,
    wide_to_rows,
)
from models.schools import TYPE_TRACKS, Level, Mode, School, Track, check_track_level
from sheets.engine.actions import ActionContext, RowAction
from sheets.engine.caller import REGION_EDITORS, REGION_READERS, Caller
from sheets.engine.declaration import Column, Nav, Sheet, register
from sheets.engine.importer import import_xlsx
from sheets.engine.lifecycle import LifeCycle, Transition
from sheets.engine.writes import Forbidden, WriteContext, create_rows, touch

REGION = REGION_EDITORS
STAFF_READ = REGION_READERS
PRESCRIBER = "ecole:crre_prescripteur"
VALIDATOR = "ecole:crre_valideur"
ORDERERS = frozenset({PRESCRIBER, VALIDATOR})  # R-BASKET-3: both create baskets
SCHOOL_READ = frozenset({PRESCRIBER, VALIDATOR, "ecole:chef_etablissement", "ecole:resp_affect_gar"})
ROLE_NAMES = {"admin": "l'administration", "agent": "les agents de la Région", PRESCRIBER: "les CRRE-PRESCRIPTEUR",
              VALIDATOR: "les CRRE-VALIDEUR"}


def _non_negative(value: Any) -> Any:
    if value is not None and value < 0:
        raise ValueError("Un nombre positif ou nul est attendu.")
    return value


def _students(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= 20_000:
        raise ValueError("Nombre d'élèves attendu entre 0 et 20 000.")
    return value


def _licences(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= 100_000:
        raise ValueError("Nombre de licences ou d'exemplaires attendu entre 0 et 100 000.")
    return value


def _year(value: int | None) -> int | None:
    if value is not None and not 2000 <= value <= 2100:
        raise ValueError("Année de campagne attendue entre 2000 et 2100 (ex. 2024).")
    return value


def teaches(school: School, track: str) -> bool:
    """Whether a school teaches a track (its flags, else what its type teaches, R-SCH-4)."""
    tracks = [t.value for t in school.tracks] or list(TYPE_TRACKS.get(code_of(school.type), ()))
    return code_of(track) in tracks


async def _school_of(ctx: WriteContext) -> School:
    if ctx.instance is not None and getattr(ctx.instance, "school_id", None):
        return await School.get(id=ctx.instance.school_id)
    school = await School.get_or_none(uai=str(ctx.uai or ctx.values.get("school") or ""))
    if school is None:
        raise ValueError("Établissement inconnu : indiquez l'UAI d'un établissement de la liste.")
    return school


# --- Rates (R-BASKET-1) --------------------------------------------------------------------------------------

def _check_rate(row: dict[str, Any]) -> None:
    if row.get("track") and row.get("level"):
        check_track_level(code_of(row["track"]), code_of(row["level"]))
    if row.get("amount") is not None and row["amount"] < 0:
        raise ValueError("Le montant par élève ne peut pas être négatif.")


async def _rates_moved(ctx: WriteContext) -> None:
    year = ctx.values.get("year") or getattr(ctx.instance, "year", None)
    if year:
        await recompute(int(year))
        touch("allocations")


async def copy_rates(ctx: ActionContext) -> str:
    """Copy a year's table to the next year (rows already there are kept)."""
    source = int(ctx.values.get("from_year") or 0)
    rows = await Rate.filter(year=source).values("envelope", "school_mode", "track", "level", "part", "amount")
    if not rows:
        raise ValueError(f"Aucun barème pour {source} : rien à recopier.")
    there = {(code_of(e), code_of(m), code_of(t), code_of(lv), code_of(p)) for e, m, t, lv, p in
             await Rate.filter(year=source + 1).values_list("envelope", "school_mode", "track", "level", "part")}
    new = [{"year": source + 1, **{k: code_of(v) if k != "amount" else v for k, v in r.items()}} for r in rows
           if (code_of(r["envelope"]), code_of(r["school_mode"]), code_of(r["track"]), code_of(r["level"]),
               code_of(r["part"])) not in there]
    if new:
        await ctx.create(new)
    return f"Barème {source} recopié sur {source + 1} : {len(new)} ligne(s) ajoutée(s)."


RATES = register(Sheet(
    name="rates",
    label="Manuels : barème des dotations",
    model=Rate,
    read_roles=STAFF_READ | {"ecole"},
    edit_roles=REGION,
    create_roles=REGION,
    delete_roles=REGION,
    key="id",
    default_sort=("year", "envelope", "school_mode", "track", "level", "part"),
    row_validator=_check_rate,
    after_change=_rates_moved,
    after_create=_rates_moved,
    nav=Nav("Manuels et ressources", "euro", 30, "Barème"),
    description="€ par élève d'une année de campagne, par enveloppe, type d'établissement, voie et niveau "
                "(R-BASKET-1). Voie technologique : tronc commun (40 €) PLUS spécialités du niveau (56, 42, 28 €), "
                "deux lignes qui s'additionnent. Recopié d'une année sur l'autre par l'action « Recopier ».",
    columns=(
        Column("id", "N°", kind="integer", width=70),
        Column("year", "Année", kind="integer", on_create=True, required=True, validator=_year, width=80),
        Column("envelope", "Enveloppe", kind="choice", choices=Envelope, on_create=True, required=True, width=170),
        Column("school_mode", "Type d'établissement", kind="choice", choices=Mode, on_create=True, required=True,
               width=130),
        Column("track", "Voie", kind="choice", choices=Track, on_create=True, required=True, width=140),
        Column("level", "Niveau", kind="choice", choices=Level, on_create=True, required=True, width=130),
        Column("part", "Part", kind="choice", choices=RatePart, on_create=True, width=130),
        Column("amount", "€ par élève", kind="euro", editable=True, required=True, width=110),
    ),
    actions=(
        RowAction("copy_year", "Recopier le barème sur l'année suivante", REGION, copy_rates, rows="none",
                  fields=(Column("from_year", "Année à recopier", kind="integer", required=True),), icon="content_copy",
                  rule="R-BASKET-1"),
    ),
))


# --- Enrolments (R-BASKET-1, R-SCH-4) ------------------------------------------------------------------------

async def _enrolment_created(ctx: WriteContext) -> None:
    v = ctx.values
    check_track_level(code_of(v.get("track")), code_of(v.get("level")))
    school = await _school_of(ctx)
    if not teaches(school, v["track"]):
        raise ValueError(f"{school.uai} ({school.name}) n'enseigne pas la voie {Track.label_of(v['track'])} "
                         f"(R-SCH-4) : effectif refusé.")
    v["code"] = headcount_code(school.uai, int(v["year"]), v["track"], v["level"])


async def _enrolment_moved(ctx: WriteContext) -> None:
    instance = ctx.instance
    if instance is not None:
        await recompute(int(instance.year), [instance.school_id])  # type: ignore[attr-defined]
        touch("allocations")


ENROLMENTS = register(Sheet(
    name="enrolments",
    label="Manuels : effectifs",
    model=Headcount,
    read_roles=STAFF_READ | {"ecole"},
    edit_roles=REGION,
    create_roles=REGION,
    delete_roles=REGION,
    key="code",
    school_path="school__uai",
    default_sort=("code",),
    create_hook=_enrolment_created,
    after_create=_enrolment_moved,
    after_change=_enrolment_moved,
    nav=Nav("Manuels et ressources", "groups", 40, "Effectifs"),
    description="Élèves par établissement, voie et niveau, comptés en mai (R-BASKET-1). Import du fichier national "
                "des effectifs (colonnes 2ndes_gt, 1eres_g… transformées en lignes) depuis la page « Manuels ».",
    columns=(
        Column("code", "Clé", on_create=True, width=200, help="UAI-année-voie-niveau (calculée)."),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), on_create=True, required=True,
               width=110, link="/ecoles/{value}"),
        Column("school_name", "Établissement", path="school__name", width=220),
        Column("year", "Année", kind="integer", on_create=True, required=True, validator=_year, width=80),
        Column("track", "Voie", kind="choice", choices=Track, on_create=True, required=True, width=140),
        Column("level", "Niveau", kind="choice", choices=Level, on_create=True, required=True, width=130),
        Column("students", "Élèves", kind="integer", editable=True, required=True, validator=_students,
               width=90),
    ),
))


def open_data_rows(path: str | Path, year: int, source_year: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    """The wide open-data file as enrolment rows for campaign `year`, each with its line in the file: the lines of
    `source_year` (rentree_scolaire; default: the file's latest), one row per track × level."""
    import csv
    import io

    text = Path(path).read_text(encoding="utf-8-sig")
    delimiter = ";" if ";" in text.split("\n", 1)[0] else ","
    records = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    if not records or "numero_lycee" not in records[0]:
        raise ValueError("Fichier d'effectifs non reconnu : la colonne « numero_lycee » manque (fichier national des "
                         "effectifs des lycées attendu).")
    years = sorted({str(r.get("rentree_scolaire") or "") for r in records} - {""})
    pick = str(source_year) if source_year is not None else (years[-1] if years else None)
    return [(n + 2, row) for n, record in enumerate(records)
            if pick is None or str(record.get("rentree_scolaire") or "") == pick
            for row in wide_to_rows(record, year)]


def _write_long_csv(rows: list[dict[str, Any]]) -> str:
    import csv

    out = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8", newline="")
    with out:
        writer = csv.writer(out)
        writer.writerow(["code", "school", "year", "track", "level", "students"])
        for r in rows:
            writer.writerow([r["code"], r["school"], r["year"], r["track"], r["level"], r["students"]])
    return out.name


async def import_open_data(path: str | Path, year: int, caller: Caller, *, source_year: int | None = None,
                           dry_run: bool = False) -> Any:
    """Import the national open-data file of lycée enrolments (wide columns `2ndes_gt`, `1eres_g`…) as the
    enrolments of campaign `year` through the engine's importer (matched on the key, refused per line with its
    reason: unknown school; a track the school does not teach, R-SCH-4, already in the preview). Returns the
    import report (its lines are the file's)."""
    import asyncio
    import os

    from sheets.engine.writes import Issue

    rows = await asyncio.to_thread(open_data_rows, path, year, source_year)
    schools = {s.uai: s for s in await School.filter(uai__in=sorted({r["school"] for _, r in rows}))}
    kept: list[tuple[int, dict[str, Any]]] = []
    refused: list[Issue] = []
    for line, row in rows:
        school = schools.get(row["school"])
        if school is not None and not teaches(school, row["track"]):
            refused.append(Issue(f"{school.uai} ({school.name}) n'enseigne pas la voie "
                                 f"{Track.label_of(row['track'])} (R-SCH-4) : effectif refusé.", row_key=row["code"],
                                 column="students", line=line))
        else:
            kept.append((line, row))
    long_csv = await asyncio.to_thread(_write_long_csv, [r for _, r in kept])
    try:
        report = await import_xlsx(ENROLMENTS, long_csv, caller=caller, dry_run=dry_run)
    finally:
        await asyncio.to_thread(os.unlink, long_csv)
    lines = [line for line, _ in kept]
    for issue in report.issues:  # the long file's line n is the wide file's line of its (n - 2)th row
        if issue.line is not None and 2 <= issue.line < len(lines) + 2:
            issue.line = lines[issue.line - 2]
    for entry in report.preview:
        if isinstance(entry, dict) and isinstance(entry.get("line"), int) and 2 <= entry["line"] < len(lines) + 2:
            entry["line"] = lines[entry["line"] - 2]
    report.errors_by_line = {lines[n - 2] if 2 <= n < len(lines) + 2 else n: messages
                             for n, messages in report.errors_by_line.items()}
    for issue in refused:
        report.errors_by_line.setdefault(issue.line or 0, []).append(issue.message)
    report.issues.extend(refused)
    report.refused += len(refused)
    report.path, report.file_name = Path(path), Path(path).name  # the refusals' report shows the file as given
    return report


# --- Extra allocations (R-BASKET-2) ---------------------------------------------------------------------------

async def _per_student(year: int, mode: Any, envelope: Any, track: Any, level: Any) -> Decimal:
    amounts = await Rate.filter(year=year, school_mode=code_of(mode), envelope=code_of(envelope),
                                track=code_of(track), level=code_of(level)).values_list("amount", flat=True)
    return sum((Decimal(a) for a in amounts), Decimal(0))


async def _extra_created(ctx: WriteContext) -> None:
    v = ctx.values
    check_track_level(code_of(v.get("track")), code_of(v.get("level")))
    school = await _school_of(ctx)
    if not v.get("envelope"):
        v["envelope"] = Envelope.MANUELS.value
    if not v.get("amount"):
        rate = await _per_student(int(v["year"]), school.mode, v["envelope"], v["track"], v["level"])
        v["amount"] = money(rate * int(v.get("students") or 0))
    if v.get("granted") and not ctx.caller.allowed(REGION):
        raise Forbidden("Seule la Région accorde une dotation supplémentaire (R-BASKET-2).")


async def _extra_moved(ctx: WriteContext) -> None:
    instance = ctx.instance
    if instance is not None:
        await recompute(int(instance.year), [instance.school_id])  # type: ignore[attr-defined]
        touch("allocations")


EXTRAS = register(Sheet(
    name="allocation_extras",
    label="Manuels : dotations supplémentaires",
    model=ExtraAllocation,
    read_roles=STAFF_READ | SCHOOL_READ,
    edit_roles=REGION,
    create_roles=REGION | {VALIDATOR},
    key="id",
    school_path="school__uai",
    default_sort=("-id",),
    create_hook=_extra_created,
    after_create=_extra_moved,
    after_change=_extra_moved,
    nav=Nav("Manuels et ressources", "add_card", 50, "Dotations supplémentaires"),
    description="Ouverture d'une classe ou d'une spécialité à la rentrée : demande (voie, niveau, élèves) et "
                "accord de la Région (R-BASKET-2). Seules les dotations accordées comptent.",
    columns=(
        Column("id", "N°", kind="integer", width=70),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), on_create=True, required=True,
               width=110),
        Column("year", "Année", kind="integer", on_create=True, required=True, validator=_year, width=80),
        Column("envelope", "Enveloppe", kind="choice", choices=Envelope, on_create=True, width=170),
        Column("track", "Voie", kind="choice", choices=Track, on_create=True, required=True, width=140),
        Column("level", "Niveau", kind="choice", choices=Level, on_create=True, required=True, width=130),
        Column("students", "Élèves", kind="integer", on_create=True, required=True, validator=_students,
               width=90),
        Column("amount", "Montant", kind="euro", editable=True, validator=_non_negative, width=110),
        Column("granted", "Accordée", kind="boolean", editable=True, width=90),
        Column("note", "Motif", editable=True, width=260),
    ),
))


# --- Allocations (derived) -----------------------------------------------------------------------------------

async def recompute_action(ctx: ActionContext) -> str:
    """Recompute every allocation of a year."""
    year = int(ctx.values.get("for_year") or campaign_year(dt.date.today()))
    written = await recompute(year)
    touch("allocations")
    return f"Dotations {year} recalculées : {written} ligne(s) mise(s) à jour."


ALLOCATIONS = register(Sheet(
    name="allocations",
    label="Manuels : dotations des établissements",
    model=Allocation,
    read_roles=STAFF_READ | SCHOOL_READ,
    edit_roles=frozenset(),
    key="id",
    school_path="school__uai",
    default_sort=("school__uai", "year", "envelope"),
    nav=Nav("Manuels et ressources", "account_balance_wallet", 20, "Dotations"),
    description="Calculées, jamais saisies : Σ élèves × barème + dotations supplémentaires accordées − paniers "
                "validés = reste (R-BASKET-1, R-BASKET-2). Recalculées à chaque changement du barème, des effectifs "
                "ou des paniers.",
    columns=(
        Column("id", "N°", kind="integer", width=70),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), width=110, link="/ecoles/{value}"),
        Column("school_name", "Établissement", path="school__name", width=220),
        Column("academie", "Académie", path="school__academie", width=110),
        Column("year", "Année", kind="integer", width=80),
        Column("envelope", "Enveloppe", kind="choice", choices=Envelope, width=170),
        Column("computed", "Dotation calculée", kind="euro", width=130),
        Column("extra", "Supplément", kind="euro", width=110),
        Column("committed", "Engagé", kind="euro", width=120),
        Column("remaining", "Reste", kind="euro", width=120),
    ),
    actions=(
        RowAction("recompute", "Recalculer les dotations", REGION, recompute_action, rows="none",
                  fields=(Column("for_year", "Année", kind="integer", required=True),), icon="calculate",
                  rule="R-BASKET-1"),
    ),
))


# --- Catalogue (R-BASKET-3, 7, 11, 12) -------------------------------------------------------------------------

CATALOGUE = register(Sheet(
    name="catalogue",
    label="Manuels : catalogue",
    model=CatalogueItem,
    read_roles=STAFF_READ | {"ecole"},  # R-BASKET-3: every teacher browses the whole catalogue
    edit_roles=REGION,
    create_roles=REGION,
    key="reference",
    default_sort=("title",),
    nav=Nav("Manuels et ressources", "menu_book", 60, "Catalogue"),
    description="Manuels numériques et papier, ressources (commandables toute l'année, validées en comité, "
                "R-BASKET-7), consommables, manuels libres (offerts, R-BASKET-11), ressources financées par la Région "
                "(affectées sans panier, R-BASKET-12).",
    columns=(
        Column("reference", "Référence (EAN/ISBN)", on_create=True, required=True, width=150),
        Column("title", "Titre", editable=True, required=True, width=300),
        Column("publisher", "Éditeur", editable=True, required=True, width=150),
        Column("kind", "Nature", kind="choice", choices=ItemKind, editable=True, required=True, width=150),
        Column("levels", "Niveaux", editable=True, width=120),
        Column("tracks", "Voies", editable=True, width=160),
        Column("price", "Prix", kind="euro", editable=True, validator=_non_negative, width=90),
        Column("licence", "Licence (durée)", editable=True, width=110),
        Column("approved_on", "Validée en comité le", kind="date", editable=True, width=130),
        Column("region_funded", "Financée par la Région", kind="boolean", editable=True, width=120),
        Column("active", "Au catalogue", kind="boolean", editable=True, width=100),
    ),
))


# --- Baskets and their lines ---------------------------------------------------------------------------------

async def _calendar_refusal(year: int, kinds: set[str], day: dt.date) -> str | None:
    """R-BASKET-6 / R-BASKET-7: textbooks and consumables only while orders are open; resources all year."""
    if not kinds or kinds <= {ItemKind.RESOURCE.value, ItemKind.FREE.value}:
        return None
    calendar = await order_calendar(year)
    return None if calendar.orders_open(day) else calendar.closed_message(day)


async def _basket_created(ctx: WriteContext) -> None:
    v = ctx.values
    v["year"] = int(v.get("year") or campaign_year(ctx.today))
    v["envelope"] = v.get("envelope") or Envelope.MANUELS.value
    v["prescriber"] = ctx.caller.actor[:254]
    last = await Basket.filter(number__startswith=f"P{v['year']}-").order_by("-id").first()
    n = int(last.number.rsplit("-", 1)[1]) + 1 if last else 1
    v["number"] = f"P{v['year']}-{n:05d}"


async def _kept_lines(basket_id: int) -> list[dict[str, Any]]:
    return await BasketLine.filter(basket_id=basket_id, kept=True).order_by("id").values(
        "id", "amount", "quantity", "item__reference", "item__title", "item__kind")


async def _check_orderable(ctx: WriteContext) -> None:
    basket = ctx.instance
    assert basket is not None
    lines = await _kept_lines(basket.id)
    if not lines:
        raise ValueError("Le panier ne contient aucune ligne retenue : ajoutez des articles du catalogue.")
    refusal = await _calendar_refusal(basket.year, {code_of(r["item__kind"]) for r in lines}, ctx.today)
    if refusal:
        raise ValueError(refusal)


async def _check_validation(ctx: WriteContext) -> None:
    """The budget rule: never beyond the envelope's remaining amount (the allocation row locked first)."""
    await _check_orderable(ctx)
    basket = ctx.instance
    assert basket is not None
    budget = await lock_budget(basket.school_id, basket.year, basket.envelope)
    lines = await _kept_lines(basket.id)
    total = money(sum((Decimal(r["amount"]) for r in lines), Decimal(0)))
    if total > budget.remaining:
        over = exceeding_lines([(f"{r['item__reference']} « {r['item__title'][:60]} » ({fr_euros(r['amount'])})",
                                 Decimal(r["amount"])) for r in lines], budget.remaining)
        raise ValueError(
            f"Validation refusée : le panier ({fr_euros(total)}) dépasse le reste de l'enveloppe "
            f"« {Envelope.label_of(basket.envelope)} » ({fr_euros(budget.remaining)} restants). Lignes au-delà du "
            f"reste : {', '.join(label for label, _ in over)}. Écartez-les (« Retenue » = non) ou réduisez les "
            "quantités pour valider le reste.")
    ctx.values["total"] = total
    ctx.values["validator"] = ctx.caller.actor[:254]
    ctx.values["ordered_on"] = ctx.today


async def _check_return(ctx: WriteContext) -> None:
    """Paper only (R-BASKET-5: a digital licence is neither cancelled nor carried over), within the dates."""
    basket = ctx.instance
    assert basket is not None
    kinds = {code_of(k) for k in await BasketLine.filter(basket_id=basket.id, kept=True).values_list(
        "item__kind", flat=True)}
    digital = kinds & DIGITAL_KINDS
    if digital or not kinds <= PAPER_KINDS:
        raise ValueError("Retour refusé : une licence numérique achetée ne peut être ni annulée ni reportée "
                         "(R-BASKET-5). Seuls les manuels et consommables papier se retournent.")
    calendar = await order_calendar(basket.year)
    deadline = calendar.return_deadline(basket.ordered_on)
    if deadline is None or ctx.today > deadline:
        ordered = f"{basket.ordered_on:%d/%m/%Y}" if basket.ordered_on else "?"
        raise ValueError(f"Retour refusé : commande du {ordered}, " + (
            f"retour possible jusqu'au {deadline:%d/%m/%Y}" if deadline else "aucun retour possible après le 30/09")
            + " (R-BASKET-6).")


async def _quote_validated(ctx: WriteContext) -> None:
    import settings as settings_module

    ctx.values["quoted_at"] = settings_module.now()


async def _check_in_gar(ctx: WriteContext) -> None:
    """R-BASKET-8: a textbook appears in the GAR 24 to 48 h after its quote is validated, not before."""
    import settings as settings_module

    quoted = getattr(ctx.instance, "quoted_at", None)
    if quoted is not None and settings_module.now() - quoted < dt.timedelta(hours=24):
        tz = settings_module.tz()
        when, ready = quoted.astimezone(tz), (quoted + dt.timedelta(hours=24)).astimezone(tz)
        raise ValueError(f"Trop tôt : le devis a été validé le {when:%d/%m/%Y à %H:%M} ; le manuel apparaît dans le "
                         f"GAR 24 à 48 h après, pas avant le {ready:%d/%m/%Y à %H:%M} (R-BASKET-8).")


async def _commitment_moved(ctx: WriteContext) -> None:
    basket = ctx.instance
    assert basket is not None
    await recompute(int(basket.year), [basket.school_id])  # type: ignore[attr-defined]
    touch("allocations")


_B = BasketStatus
BASKET_LIFECYCLE = LifeCycle(
    field="status",
    states=_B.choices(),
    initial=_B.DRAFT.value,
    role_labels=ROLE_NAMES,
    transitions=(
        Transition("submit", "Soumettre au valideur", (_B.DRAFT.value,), _B.SUBMITTED.value, ORDERERS,
                   check=_check_orderable, rule="R-BASKET-3"),
        Transition("reopen", "Remettre en brouillon", (_B.SUBMITTED.value,), _B.DRAFT.value, ORDERERS),
        Transition("validate", "Valider la commande", (_B.DRAFT.value, _B.SUBMITTED.value), _B.VALIDATED.value,
                   frozenset({VALIDATOR}), check=_check_validation, effect=_commitment_moved, rule="R-BASKET-3",
                   help="Dans la limite du reste de l'enveloppe ; une licence numérique validée est due."),
        Transition("reject", "Refuser", (_B.DRAFT.value, _B.SUBMITTED.value), _B.REJECTED.value,
                   REGION | {VALIDATOR}),
        Transition("transmit", "Transmettre à l'éditeur", (_B.VALIDATED.value,), _B.TRANSMITTED.value, REGION),
        Transition("quote", "Devis validé", (_B.TRANSMITTED.value,), _B.QUOTED.value, REGION,
                   check=_quote_validated),
        Transition("gar", "Dans le GAR", (_B.QUOTED.value,), _B.IN_GAR.value, REGION, rule="R-BASKET-8",
                   check=_check_in_gar,
                   help="Le manuel apparaît dans le GAR 24 à 48 h après la validation du devis."),
        Transition("deliver", "Livré", (_B.TRANSMITTED.value, _B.QUOTED.value, _B.IN_GAR.value), _B.DELIVERED.value,
                   REGION),
        Transition("return", "Retour (papier)", (_B.VALIDATED.value, _B.TRANSMITTED.value, _B.DELIVERED.value),
                   _B.RETURNED.value, REGION | {VALIDATOR}, check=_check_return, effect=_commitment_moved,
                   rule="R-BASKET-6"),
    ),
)


BASKETS = register(Sheet(
    name="baskets",
    label="Manuels : paniers",
    model=Basket,
    read_roles=STAFF_READ | SCHOOL_READ,
    edit_roles=ORDERERS,
    create_roles=ORDERERS,
    key="number",
    school_path="school__uai",
    default_sort=("-id",),
    lifecycle=BASKET_LIFECYCLE,
    create_hook=_basket_created,
    nav=Nav("Manuels et ressources", "shopping_basket", 10, "Paniers"),
    description="Brouillon → soumis → validé (CRRE-VALIDEUR, dans la limite du reste) → transmis → devis validé → "
                "dans le GAR → livré ; refusé ; retour (papier, dans les délais).",
    columns=(
        Column("number", "N°", width=120),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), on_create=True, required=True,
               width=110),
        Column("school_name", "Établissement", path="school__name", width=200),
        Column("year", "Année", kind="integer", on_create=True, validator=_year, width=80),
        Column("envelope", "Enveloppe", kind="choice", choices=Envelope, on_create=True, width=160),
        Column("status", "Statut", kind="choice", choices=BasketStatus, width=140),
        Column("prescriber", "Prescripteur", width=200),
        Column("validator", "Valideur", width=200),
        Column("total", "Total", kind="euro", width=110),
        Column("ordered_on", "Validé le", kind="date", width=100),
        Column("quoted_at", "Devis validé le", kind="datetime", width=140),
        Column("note", "Note", editable=True, width=220),
    ),
))


async def _basket_of(ctx: WriteContext) -> Basket:
    if ctx.instance is not None:
        return await Basket.get(id=ctx.instance.basket_id)  # type: ignore[attr-defined]
    basket = await Basket.get_or_none(number=str(ctx.values.get("basket") or ""))
    if basket is None:
        raise ValueError("Panier inconnu : indiquez le numéro d'un panier (ex. P2024-00001).")
    return basket


def _locked_message(basket: Basket) -> str:
    if code_of(basket.status) in {s.value for s in COMMITTED}:
        return (f"Le panier {basket.number} est {BasketStatus.label_of(basket.status).lower()} : ses lignes ne "
                "changent plus ; une licence numérique validée ne peut être ni annulée ni reportée (R-BASKET-5).")
    return (f"Le panier {basket.number} est {BasketStatus.label_of(basket.status).lower()} : ses lignes ne "
            "changent plus.")


async def _line_created(ctx: WriteContext) -> None:
    v = ctx.values
    basket = await _basket_of(ctx)
    if code_of(basket.status) not in (_B.DRAFT.value, _B.SUBMITTED.value):
        raise ValueError(_locked_message(basket))
    item = await CatalogueItem.get_or_none(reference=str(v.get("item") or ""))
    if item is None or not item.active:
        raise ValueError(f"« {str(v.get('item') or '')[:40]} » n'est pas au catalogue.")
    if item.region_funded:
        raise ValueError(f"« {item.title} » est financée par la Région pour tous les établissements : affectée sans "
                         "panier, elle ne se commande pas (R-BASKET-12).")
    if envelope_of_kind(item.kind) != code_of(basket.envelope):
        raise ValueError(f"« {item.title} » relève de l'enveloppe « {Envelope.label_of(envelope_of_kind(item.kind))} »"
                         f", pas de celle du panier ({Envelope.label_of(basket.envelope)}).")
    if code_of(item.kind) == ItemKind.RESOURCE.value and (item.approved_on is None or item.approved_on > ctx.today):
        raise ValueError(f"« {item.title} » n'est pas encore validée par le comité des ressources (deux fois par an, "
                         "R-BASKET-7) : elle n'est pas commandable.")
    if code_of(item.kind) == ItemKind.FREE.value and item.approved_on is not None \
            and campaign_year(item.approved_on) < basket.year and not ctx.caller.allowed(REGION):
        raise Forbidden(f"« {item.title} » est un manuel libre offert à tous la première année "
                        f"({campaign_year(item.approved_on)}) ; les années suivantes il se demande à la Région "
                        "(manuelsscolaires@iledefrance.fr), qui l'ajoute au panier (R-BASKET-11).")
    refusal = await _calendar_refusal(basket.year, {code_of(item.kind)}, ctx.today)
    if refusal:
        raise ValueError(refusal)
    _check_quantities(int(v.get("quantity") or 0), int(v.get("teacher_licences") or 0), item.kind)
    v["unit_price"] = money(item.price)
    v["amount"] = money(item.price * int(v.get("quantity") or 0))
    if v.get("kept") is None:
        v["kept"] = True


def _check_quantities(quantity: int, teachers: int, kind: Any) -> None:
    """R-BASKET-4: teacher licences come free with student licences, never bought alone."""
    if quantity < 1:
        if teachers:
            raise ValueError("Les licences enseignant ne s'achètent pas seules (R-BASKET-4) : commandez les licences "
                             "élèves ; les licences enseignant manquantes se demandent à l'éditeur.")
        raise ValueError("Quantité d'au moins 1 attendue.")
    if teachers and code_of(kind) != ItemKind.DIGITAL.value:
        raise ValueError("Les licences enseignant ne concernent que les manuels numériques (R-BASKET-4).")
    if teachers < 0:
        raise ValueError("Nombre de licences enseignant positif ou nul attendu.")


async def _line_changed(ctx: WriteContext) -> None:
    line = ctx.instance
    assert line is not None
    basket = await Basket.get(id=line.basket_id)  # type: ignore[attr-defined]
    if code_of(basket.status) not in (_B.DRAFT.value, _B.SUBMITTED.value):
        raise ValueError(_locked_message(basket))
    item = await CatalogueItem.get(id=line.item_id)  # type: ignore[attr-defined]
    quantity = int(await ctx.after("quantity") or 0)
    _check_quantities(quantity, int(await ctx.after("teacher_licences") or 0), item.kind)
    ctx.values["amount"] = money(Decimal(line.unit_price) * quantity)  # type: ignore[attr-defined]


async def _line_total(ctx: WriteContext) -> None:
    line = ctx.instance
    assert line is not None
    basket_id = line.basket_id  # type: ignore[attr-defined]
    amounts = await BasketLine.filter(basket_id=basket_id, kept=True).values_list("amount", flat=True)
    await Basket.filter(id=basket_id).update(total=money(sum((Decimal(a) for a in amounts), Decimal(0))))
    touch("baskets")


async def _lines_deleted(ids: list[int], caller: Caller) -> None:
    """Lines leave only open baskets (R-BASKET-5); their baskets' totals are recomputed without them."""
    baskets: set[int] = set()
    for basket_id, number, status in await BasketLine.filter(id__in=ids).values_list("basket_id", "basket__number",
                                                                                     "basket__status"):
        if code_of(status) not in (_B.DRAFT.value, _B.SUBMITTED.value):
            raise ValueError(_locked_message(Basket(number=number, status=status)))
        baskets.add(basket_id)
    for basket_id in baskets:
        amounts = await BasketLine.filter(basket_id=basket_id, kept=True).exclude(id__in=ids).values_list(
            "amount", flat=True)
        await Basket.filter(id=basket_id).update(total=money(sum((Decimal(a) for a in amounts), Decimal(0))))
    touch("baskets")


LINES = register(Sheet(
    name="basket_lines",
    label="Manuels : lignes de paniers",
    model=BasketLine,
    read_roles=STAFF_READ | SCHOOL_READ,
    edit_roles=ORDERERS,
    create_roles=ORDERERS | REGION,  # the Région adds free textbooks on request (R-BASKET-11)
    delete_roles=ORDERERS,
    key="id",
    school_path="basket__school__uai",
    default_sort=("-id",),
    create_hook=_line_created,
    change_hook=_line_changed,
    after_create=_line_total,
    after_change=_line_total,
    delete_hook=_lines_deleted,
    nav=Nav("Manuels et ressources", "list", 70, "Lignes de paniers"),
    description="Articles des paniers. Export par éditeur : filtre « Éditeur » ; demandes de licences enseignant "
                "(R-BASKET-4) : filtre « Licences enseignant » > 0.",
    columns=(
        Column("id", "N°", kind="integer", width=70),
        Column("basket", "Panier", kind="reference", reference=("baskets", "number"), on_create=True, required=True,
               width=120),
        Column("school", "UAI", path="basket__school__uai", width=110),
        Column("status", "Statut du panier", path="basket__status", width=120),
        Column("item", "Référence", kind="reference", reference=("catalogue", "reference"), on_create=True,
               required=True, width=150),
        Column("title", "Titre", path="item__title", width=260),
        Column("publisher", "Éditeur", path="item__publisher", width=140),
        Column("kind", "Nature", path="item__kind", width=130),
        Column("quantity", "Licences élèves / exemplaires", kind="integer", editable=True, required=True,
               validator=_licences, width=120),
        Column("teacher_licences", "Licences enseignant", kind="integer", editable=True, validator=_licences,
               width=110,
               help="Gratuites avec les licences élèves ; les manquantes se demandent à l'éditeur (R-BASKET-4)."),
        Column("unit_price", "Prix unitaire", kind="euro", width=100),
        Column("amount", "Montant", kind="euro", width=110),
        Column("kept", "Retenue", kind="boolean", editable=True, width=90,
               help="Validation partielle : une ligne écartée n'est pas commandée."),
    ),
))


async def _usage_created(ctx: WriteContext) -> None:
    v = ctx.values
    school = await _school_of(ctx)
    v["code"] = f"{school.uai}-{int(v['year'])}-{v['item']}"


USAGE = register(Sheet(
    name="resource_usage",
    label="Manuels : statistiques d'usage",
    model=UsageStat,
    read_roles=STAFF_READ | SCHOOL_READ,
    edit_roles=REGION,
    create_roles=REGION,
    key="code",
    school_path="school__uai",
    default_sort=("-consultations",),
    create_hook=_usage_created,
    nav=Nav("Manuels et ressources", "insights", 80, "Statistiques d'usage"),
    description="Consultations en ligne par ressource et établissement (console GAR Admin), à mettre en regard "
                "des dépenses (R-BASKET-10).",
    columns=(
        Column("code", "Clé", on_create=True, width=220, help="UAI-année-référence (calculée)."),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), on_create=True, required=True,
               width=110),
        Column("year", "Année", kind="integer", on_create=True, required=True, validator=_year, width=80),
        Column("item", "Référence", kind="reference", reference=("catalogue", "reference"), on_create=True,
               required=True, width=150),
        Column("title", "Titre", path="item__title", width=260),
        Column("consultations", "Consultations", kind="integer", editable=True, validator=_non_negative, width=120),
    ),
))


def usage_as_rows(path: str | Path) -> str:
    """The GAR usage statistics (CSV: UAI, année, référence, consultations) with their matching key added (a
    temporary long CSV, its path), for the engine's importer."""
    import csv
    import io

    text = Path(path).read_text(encoding="utf-8-sig")
    delimiter = ";" if ";" in text.split("\n", 1)[0] else ","
    records = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    names = {k.strip().lower(): k for k in (records[0].keys() if records else [])}
    school = names.get("uai") or names.get("school")
    item = names.get("reference") or names.get("référence") or names.get("item")
    year = names.get("year") or names.get("année") or names.get("annee")
    count = names.get("consultations")
    if not (school and item and year and count):
        raise ValueError("Statistiques d'usage : colonnes attendues « UAI », « année », « référence », "
                         "« consultations ».")
    out = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8", newline="")
    with out:
        writer = csv.writer(out)
        writer.writerow(["code", "school", "year", "item", "consultations"])
        for r in records:
            uai = str(r[school] or "").strip().upper()
            writer.writerow([f"{uai}-{str(r[year]).strip()}-{str(r[item]).strip()}", uai, r[year], r[item],
                             r[count]])
    return out.name


async def import_usage(path: str | Path, caller: Caller, *, dry_run: bool = False) -> Any:
    """Import GAR usage statistics (online consultations per resource and school, R-BASKET-10) through the
    engine's importer (matched on school, year and reference: a new file updates the counts)."""
    import asyncio
    import os

    long_csv = await asyncio.to_thread(usage_as_rows, path)
    try:
        return await import_xlsx(USAGE, long_csv, caller=caller, dry_run=dry_run)
    finally:
        await asyncio.to_thread(os.unlink, long_csv)


async def _gar_created(ctx: WriteContext) -> None:
    ctx.values["done_on"] = ctx.today
    ctx.values["year"] = campaign_year(ctx.today)
    ctx.values["by"] = ctx.caller.actor[:254]


GAR = register(Sheet(
    name="gar_reassignments",
    label="Manuels : réaffectations GAR",
    model=GarReassignment,
    read_roles=STAFF_READ | SCHOOL_READ,
    edit_roles=frozenset(),
    create_roles=REGION | {"ecole:resp_affect_gar"},
    key="id",
    school_path="school__uai",
    default_sort=("-id",),
    create_hook=_gar_created,
    description="Chaque 15 août le GAR est réinitialisé : le RESP-AFFECT-GAR de l'établissement (ré)affecte "
                "manuels et ressources puis l'indique ici (R-BASKET-9) ; la relance s'arrête pour son établissement.",
    columns=(
        Column("id", "N°", kind="integer", width=70),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), on_create=True, required=True,
               width=110),
        Column("school_name", "Établissement", path="school__name", width=220),
        Column("year", "Campagne", kind="integer", width=90),
        Column("done_on", "Réaffecté le", kind="date", width=110),
        Column("by", "Par", width=220),
    ),
))


async def add_line(basket: str, reference: str, quantity: int, caller: Caller, teacher_licences: int = 0) -> Any:
    """Add a catalogue item to a basket through the engine (the basket editor and tests)."""
    return await create_rows(LINES, [{"basket": basket, "item": reference, "quantity": quantity,
                                      "teacher_licences": teacher_licences}], caller)
