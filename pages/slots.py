"""Delivery and distribution slots (R-SLOT-1 … 9): the month calendar of deliveries and distributions with La Poste's
capacity, a slot's page (facts, booking, readiness checklist, class order, the plan with rooms as columns and
half-days as rows, the steps), the « Livraison et distribution » section of « Mon établissement », the campaign's
progress by académie, and the home's alerts. Every write goes through the engine (sheets/slots.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nicegui import ui

import settings as settings_module
from models.audit import Source
from models.school_lists import lists_state
from models.schools import Academie, School
from models.slots import (
    AGENTS_BEFORE,
    CLASS_ORDER_DAYS,
    HALF_DAYS,
    DeliveryDay,
    PlannedSession,
    Slot,
    SlotStatus,
    boxes_overdue,
    campaign_progress,
    campaign_years,
    class_order_due,
    code_of,
    la_poste_members,
    month_calendar,
    open_delivery_days,
    school_slot,
    slot_plan,
    unbooked_count,
)
from pages.auth import caller_for_page, leave_ended_session, page
from pages.components.charts import ChartData, steering_chart
from pages.components.frame import frame
from pages.components.home_board import Alert, home_alert
from pages.components.school_space import school_section
from pages.errors import not_found
from pages.fmt import fr_date, fr_number
from sheets.engine.actions import RowAction, run_action
from sheets.engine.caller import Caller, SessionEnded
from sheets.engine.declaration import Nav
from sheets.engine.writes import WriteRefused, set_values
from sheets.fleet import HOLDERS
from sheets.slots import CHECKLIST, SLOTS

STAFF = frozenset({"admin", "agent", "lecteur", "laposte"})
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
WEEKDAYS = ("Lun", "Mar", "Mer", "Jeu", "Ven")
EXPORT_DELIVERIES = "/api/sheets/slots/export.xlsx?sort=delivery_on,school&filter=status=reserve"
EXPORT_SESSIONS = "/api/sheets/sessions/export.xlsx?sort=day,starts_at,room"
STATUS_COLOR = {"a_reserver": "orange-8", "reserve": "blue-8", "livre": "indigo-7", "distribue": "teal-7",
                "clos": "grey-7", "annule": "brown-6"}


def status_badge(status: Any) -> None:
    """A slot's state as a coloured badge."""
    code = code_of(status)
    ui.badge(SlotStatus.label_of(code)).props(f"color={STATUS_COLOR.get(code, 'grey')}").mark(f"slot-status-{code}")


async def _act(action: Any, success: str, errors: ui.column | None = None) -> bool:
    """Run an engine write of the page: its refusal in French in place, the page reloaded on success."""
    try:
        await action
    except SessionEnded as exc:
        leave_ended_session(exc)
        return False
    except WriteRefused as exc:
        messages = [i.message for i in exc.issues[:10]] or [str(exc)]
        if errors is not None:
            errors.clear()
            with errors:
                for m in messages:
                    ui.label(m).classes("text-negative text-sm").mark("slot-refusal")
        ui.notify("Refusé : " + " ".join(messages), type="negative", multi_line=True, timeout=8000)
        return False
    ui.notify(success, type="positive")
    ui.navigate.reload()
    return True


def _as(caller: Caller) -> Caller:
    return caller if caller.is_school else caller.using(Source.ACTION)


# --- The plan: rooms as columns, half-days as rows (R-SLOT-6) ------------------------------------------------

def plan_view(plan: list[PlannedSession], rooms: int) -> None:
    """The distribution plan: one row per half-hour of each half-day, one column per room."""
    if not plan:
        ui.label("Pas encore de plan de distribution (il se calcule à la réservation).").classes("text-grey-7")
        return
    columns = [{"name": "when", "label": "Demi-journée / heure", "field": "when", "align": "left"}] + [
        {"name": f"room{r}", "label": f"Salle {r}", "field": f"room{r}", "align": "left"} for r in range(1, rooms + 1)]
    rows: dict[tuple[dt.date, str], dict[str, Any]] = {}
    for s in plan:
        half = "matin" if s.start < HALF_DAYS[1][0] else "après-midi"
        row = rows.setdefault((s.day, s.starts_at), {"key": f"{s.day}-{s.starts_at}",
                                                     "when": f"{fr_date(s.day)} {half} · {s.starts_at}"})
        row[f"room{s.room}"] = f"{s.position}. {s.class_name} ({s.students})"
    ui.label(f"Agents sur place {AGENTS_BEFORE} minutes avant chaque demi-journée (8 h 30 ou 13 h 30) ; "
             "30 minutes par classe.").classes("text-sm text-grey-8")
    ui.table(columns=columns, rows=[rows[k] for k in sorted(rows)], row_key="key").props(
        "flat dense bordered").classes("w-full").mark("plan")


# --- A slot: facts, booking, checklist, order, steps ------------------------------------------------------

async def slot_panel(slot: Slot, caller: Caller) -> None:
    """Everything about one slot this caller may see and do."""
    school = slot.school
    uai = school.uai
    status = code_of(slot.status)
    with ui.row().classes("items-center gap-3"):
        status_badge(status)
        ui.label(f"Campagne {slot.year} · {fr_number(slot.laptops)} PC · {slot.rooms} salle(s)"
                 + (" en parallèle (plus de 250 PC, R-SLOT-5)" if slot.rooms == 2 else "")).classes("text-sm")
    facts = [("Livraison", fr_date(slot.delivery_on) if slot.delivery_on else "à réserver"),
             ("Distribution", fr_date(slot.distribution_on) if slot.distribution_on else "—")]
    if slot.booked_by is not None:
        facts.append(("Réservé par", f"{slot.booked_by.full_name} le {fr_date(slot.booked_at)}"))
    if slot.delivery_note_signed_by is not None:
        facts.append(("Bon de livraison signé par", slot.delivery_note_signed_by.full_name))
    if slot.certificate_signed_by is not None:
        facts.append(("Attestation signée par", f"{slot.certificate_signed_by.full_name} le "
                                                f"{fr_date(slot.certificate_signed_at)}"))
    if slot.intervention_note:
        facts.append(("Note d'intervention", slot.intervention_note))
    if slot.distribution_on:
        facts.append(("Cartons", f"collectés le {fr_date(slot.boxes_collected_on)}" if slot.boxes_collected_on
                      else f"à collecter au plus tard le {fr_date(slot.boxes_collect_by)} (R-SLOT-8)"))
    for label, value in facts:
        with ui.row().classes("gap-2 text-sm"):
            ui.label(f"{label} :").classes("text-grey-8")
            ui.label(value).mark(f"fact-{label}")
    if slot.delivery_on:  # R-SLOT-2: the lists, 7 working days before this delivery
        state = await lists_state(school, settings_module.today())
        done = all(state["done"].values())
        ui.label(f"Bases SIECLE et STS : à importer au plus tard le {fr_date(state['due'])} (7 jours ouvrés avant "
                 f"la livraison, R-SLOT-2) — {'importées' if done else 'pas encore importées'}.").classes(
            "text-sm " + ("text-positive" if done else "text-orange-9")).mark("lists-state")
    errors = ui.column().classes("gap-0")
    if SLOTS.lifecycle is not None and SLOTS.lifecycle.by_name("book") in SLOTS.lifecycle.moves_from(
            status, caller, uai):
        await booking_form(slot, caller, errors)
    await checklist_form(slot, caller, errors)
    await order_form(slot, caller, errors)
    await step_buttons(slot, caller, errors)
    ui.label("Plan de distribution (R-SLOT-6)").classes("font-semibold mt-2")
    plan_view(await slot_plan(slot), slot.rooms)
    if not caller.is_school and HOLDERS.may_read(caller):  # the names by class: only who reads holders (R-SEC-4)
        ui.link("Liste de distribution par classe (noms, numéros de série) : fiche parc du lycée",
                f"/parc/ecoles/{uai}").classes("text-sm").mark("distribution-list")


async def booking_form(slot: Slot, caller: Caller, errors: ui.column) -> None:
    """R-SLOT-1: the free delivery days; a member of the group books, an agent names the member."""
    days = await open_delivery_days(slot.year)
    options = {d.day.isoformat(): f"{fr_date(d.day)} — {d.capacity - d.booked} place(s)" for d in days}
    values: dict[str, Any] = {}
    with ui.row().classes("items-end gap-2"):
        ui.select(options, label="Jour de livraison", on_change=lambda e: values.update(delivery_on=e.value)).classes(
            "w-72").mark("book-day")
        if not caller.is_school:
            members = {str(c.id): c.full_name for c in await la_poste_members(slot.school_id)}
            ui.select(members, label="Pour le membre du groupe « La Poste »",
                      on_change=lambda e: values.update(booked_by=e.value)).classes("w-72").mark("book-member")
        ui.button("Réserver", icon="event_available", on_click=lambda: _act(
            run_action(SLOTS, "book", [slot.id], {k: v for k, v in values.items() if v}, _as(caller)),
            "Créneau réservé.", errors)).props("color=primary no-caps").mark("book-slot")
    if not options:
        ui.label("Aucun jour de livraison libre : contactez l'équipe de la Région.").classes("text-orange-9 text-sm")


async def checklist_form(slot: Slot, caller: Caller, errors: ui.column) -> None:
    """R-SLOT-5: the readiness checklist, shown to all, edited by the school and the team."""
    editable = all(SLOTS.may_edit_column(caller, SLOTS.column(n), slot.school.uai) for n, _ in CHECKLIST) and code_of(
        slot.status) in (SlotStatus.BOOKED.value, SlotStatus.TO_BOOK.value)
    ui.label("Préparation de la distribution (R-SLOT-5, requise avant « Livré »)").classes("font-semibold mt-2")
    values: dict[str, Any] = {}
    for name, label in CHECKLIST:
        current = getattr(slot, name)
        if isinstance(current, bool):
            ui.checkbox(label[0].upper() + label[1:], value=current,
                        on_change=lambda e, n=name: values.update({n: e.value})).props(
                "" if editable else "disable").mark(f"check-{name}")
        else:
            ui.input(label[0].upper() + label[1:], value=current,
                     on_change=lambda e, n=name: values.update({n: e.value})).props(
                "" if editable else "readonly").classes("w-96").mark(f"check-{name}")
    if editable:
        ui.button("Enregistrer la préparation", icon="save", on_click=lambda: _act(
            set_values(SLOTS, [slot.id], values, _as(caller)), "Préparation enregistrée.", errors)).props(
            "outline no-caps dense").mark("save-checklist")


async def order_form(slot: Slot, caller: Caller, errors: ui.column) -> None:
    """R-SLOT-4: the class order, at the latest 3 days before the distribution (the plan follows)."""
    if code_of(slot.status) not in (SlotStatus.BOOKED.value, SlotStatus.DELIVERED.value) or not slot.distribution_on:
        return
    due = class_order_due(slot.distribution_on)
    ui.label(f"Ordre de passage des classes : au plus tard le {fr_date(due)} ({CLASS_ORDER_DAYS} jours avant la "
             "distribution, R-SLOT-4)" + (f" — donné le {fr_date(slot.class_order_at)}" if slot.class_order_at
                                          else " — pas encore donné")).classes("font-semibold mt-2")
    if not SLOTS.may_edit_column(caller, SLOTS.column("class_order"), slot.school.uai):
        if slot.class_order:
            ui.label(slot.class_order).classes("text-sm")
        return
    field = ui.input("Classes dans l'ordre, séparées par des virgules", value=slot.class_order).classes(
        "w-full").mark("class-order")
    ui.button("Enregistrer l'ordre", icon="sort", on_click=lambda: _act(
        set_values(SLOTS, [slot.id], {"class_order": field.value or ""}, _as(caller)), "Ordre enregistré, plan "
        "recalculé.", errors)).props("outline no-caps dense").mark("save-order")


def offered(slot: Slot, caller: Caller) -> list[RowAction]:
    """The steps and actions (other than booking) this caller may make on this slot now."""
    assert SLOTS.lifecycle is not None
    status = code_of(slot.status)
    out = [a for m in SLOTS.lifecycle.moves_from(status, caller, slot.school.uai) if m.name != "book"
           for a in [SLOTS.action(m.name)] if a is not None]
    if status == SlotStatus.DISTRIBUTED.value:
        out += [a for a in SLOTS.actions if a.name in ("sign_certificate", "intervention")
                and caller.allowed(a.roles, slot.school.uai)]
    if status in (SlotStatus.BOOKED.value, SlotStatus.DELIVERED.value):
        out += [a for a in SLOTS.actions if a.name == "replan" and caller.allowed(a.roles, slot.school.uai)]
    return out


async def step_buttons(slot: Slot, caller: Caller, errors: ui.column) -> None:
    """A button per step this caller may make, with its form (the engine checks everything again)."""
    actions = offered(slot, caller)
    if not actions:
        return
    with ui.row().classes("gap-2 flex-wrap mt-2"):
        for action in actions:
            ui.button(action.label, icon=action.icon, on_click=lambda a=action: action_dialog(a, slot, caller)).props(
                "outline no-caps dense").mark(f"do-{action.name}")


async def action_dialog(action: RowAction, slot: Slot, caller: Caller) -> None:
    """An action's form on one slot; the engine runs it."""
    values: dict[str, Any] = {}
    with ui.dialog(value=True) as dialog, ui.card().classes("w-[32rem] max-w-full gap-2"):
        ui.label(f"{action.label} · {slot.school.uai}").classes("text-lg font-semibold")
        if action.help:
            ui.label(action.help).classes("text-sm text-grey-8")
        for column in action.form_columns(SLOTS):
            if column.kind == "date":
                ui.input(f"{column.label} (jj/mm/aaaa)", on_change=lambda e, n=column.field: values.update(
                    {n: e.value})).classes("w-full").mark(f"field-{column.field}")
            else:
                ui.input(column.label, on_change=lambda e, n=column.field: values.update({n: e.value})).classes(
                    "w-full").mark(f"field-{column.field}")
        errors = ui.column().classes("gap-0")
        with ui.row().classes("w-full justify-end"):
            ui.button("Annuler", on_click=dialog.close).props("flat")
            ui.button(action.label, icon=action.icon, on_click=lambda: _act(
                run_action(SLOTS, action.name, [slot.id], {k: v for k, v in values.items() if v not in (None, "")},
                           _as(caller)), f"« {action.label} » fait.", errors)).props("color=primary").mark(
                "run-action")


@school_section("slots", "Livraison et distribution des PC", order=20,
                roles={"ecole", "admin", "agent", "lecteur", "laposte"},
                rules=("R-SLOT-1", "R-SLOT-4", "R-SLOT-5", "R-SLOT-9"))
async def slots_section(school: School, caller: Caller) -> None:
    """The school's slot: booking by its « La Poste » group, checklist, class order, plan, certificate."""
    slot = await school_slot(school.id)
    if slot is None:
        ui.label("Pas de créneau de livraison ouvert pour cet établissement.").classes("text-grey-7")
        return
    await slot_panel(slot, caller)


@page("/creneaux/creneau", roles=STAFF)
async def slot_page(id: str = "") -> None:
    """One slot's page (the grid's N° links here)."""
    caller = await caller_for_page(Source.PAGE)
    if not id:
        with frame("Créneau", active="/creneaux"):
            ui.label("Choisissez un créneau dans la liste ou dans le calendrier.").classes("text-grey-8")
            ui.link("Tous les créneaux", "/feuilles/slots")
        return
    slot = await Slot.get_or_none(id=int(id)).prefetch_related(
        "school", "booked_by", "delivery_note_signed_by", "certificate_signed_by") if id.isdigit() else None
    if slot is None or not caller.in_scope(slot.school.uai):
        not_found("Créneau introuvable", f"Aucun créneau n° « {id[:20]} » dans votre périmètre.")
        return
    with frame(f"Créneau · {slot.school.name} ({slot.school.uai})", active="/creneaux"):
        await slot_panel(slot, caller)


# --- The month calendar -------------------------------------------------------------------------------------

async def _default_month() -> tuple[int, int]:
    today = settings_module.today()
    first = await DeliveryDay.filter(day__gte=today.replace(day=1)).order_by("day").first()
    if first is None:
        first = await DeliveryDay.all().order_by("-day").first()
    day = first.day if first is not None else today
    return day.year, day.month


@page("/creneaux", roles=STAFF, nav=Nav("Créneaux", "calendar_month", 5, "Calendrier des livraisons"))
async def calendar_page(mois: str = "") -> None:
    """R-SLOT-1 / R-SLOT-3 / R-SLOT-6: the month's deliveries (used / capacity) and distributions, day by day."""
    try:
        year, month = (int(x) for x in mois.split("-")) if mois else await _default_month()
        first = dt.date(year, month, 1)
    except ValueError:
        year, month = await _default_month()
        first = dt.date(year, month, 1)
        ui.notify(f"Mois « {mois[:10]} » invalide : attendu AAAA-MM (ex. 2024-09).", type="warning")
    days = await month_calendar(year, month)
    previous = (first - dt.timedelta(days=1)).strftime("%Y-%m")
    following = (first + dt.timedelta(days=32)).strftime("%Y-%m")
    with frame("Créneaux : calendrier", active="/creneaux"):
        with ui.row().classes("items-center gap-2"):
            ui.button(icon="chevron_left", on_click=lambda: ui.navigate.to(f"/creneaux?mois={previous}")).props(
                "flat dense")
            ui.label(f"{MONTHS[month - 1].capitalize()} {year}").classes("text-xl font-semibold").mark("month")
            ui.button(icon="chevron_right", on_click=lambda: ui.navigate.to(f"/creneaux?mois={following}")).props(
                "flat dense")
            ui.space()
            for label, url in (("Tous les créneaux", "/feuilles/slots"), ("Jours de livraison", "/feuilles/"
                                                                          "delivery_days"),
                               ("Progression", "/creneaux/progression")):
                ui.button(label, on_click=lambda u=url: ui.navigate.to(u)).props("outline no-caps dense")
            # Exports for La Poste (the engine's exporter, the caller's rows and columns): deliveries by day, the
            # distribution plan by class. The holders' names by class: the fleet's distribution list (R-SEC-4).
            ui.link("Plan de livraison (Excel)", EXPORT_DELIVERIES).classes("text-sm").mark("export-deliveries")
            ui.link("Passages des classes (Excel)", EXPORT_SESSIONS).classes("text-sm").mark("export-sessions")
        with ui.grid(columns=5).classes("w-full gap-1"):
            for name in WEEKDAYS:
                ui.label(name).classes("text-center text-sm font-semibold text-grey-8")
            last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
            week = first - dt.timedelta(days=first.weekday())
            while week <= last:
                for offset in range(5):
                    day_cell(week + dt.timedelta(days=offset), days.get(week + dt.timedelta(days=offset)))
                week += dt.timedelta(days=7)


def day_cell(day: dt.date, info: dict[str, Any] | None) -> None:
    """One day of the calendar: La Poste's capacity used, the schools delivered, the distributions."""
    with ui.card().classes("p-1 gap-0 min-h-24" + ("" if info else " opacity-40")).mark(f"day-{day.isoformat()}"):
        ui.label(str(day.day)).classes("text-sm font-semibold")
        if not info:
            return
        delivered = len(info["deliveries"])
        if info["capacity"] is not None:
            full = delivered >= info["capacity"]
            ui.label(f"Livraisons {delivered}/{info['capacity']}").classes(
                "text-xs " + ("text-negative" if full else "text-primary")).mark(f"capacity-{day.isoformat()}")
        if info["deliveries"]:
            with ui.column().classes("gap-0 max-h-32 overflow-y-auto overflow-x-hidden w-full no-wrap"):
                for s in sorted(info["deliveries"], key=lambda s: s["name"]):  # one line each, never squeezed
                    ui.link(f"{s['name']}", f"/creneaux/creneau?id={s['id']}").classes(
                        "text-xs leading-5 flex-none block w-full truncate").props(f'title="{s["name"]}"').mark(
                        f"delivery-{s['uai']}")
        if info["distributions"]:
            ui.label(f"Distributions : {len(info['distributions'])}").classes("text-xs text-teal-8")


# --- Progress of the campaign ---------------------------------------------------------------------------------

@page("/creneaux/progression", roles=STAFF, nav=Nav("Créneaux", "insights", 40, "Progression de la campagne"))
async def progress_page(annee: str = "") -> None:
    """Booked, delivered, distributed by académie (R-SLOT-1 … 9)."""
    years = await campaign_years()
    year = int(annee) if annee.isdigit() else (years[0] if years else settings_module.today().year)
    rows = await campaign_progress(year)
    with frame("Créneaux : progression de la campagne", active="/creneaux/progression"):
        with ui.row().classes("items-center gap-2"):
            ui.select({y: str(y) for y in years} or {year: str(year)}, value=year, label="Campagne",
                      on_change=lambda e: ui.navigate.to(f"/creneaux/progression?annee={e.value}")).classes("w-40")
        columns = [{"name": "academie", "label": "Académie", "field": "academie", "align": "left"},
                   {"name": "slots", "label": "Lycées", "field": "slots"},
                   {"name": "to_book", "label": "À réserver", "field": "to_book"},
                   {"name": "booked", "label": "Réservés", "field": "booked"},
                   {"name": "delivered", "label": "Livrés", "field": "delivered"},
                   {"name": "distributed", "label": "Distribués", "field": "distributed"}]
        for row in rows:
            row["academie"] = Academie.label_of(row["academie"])
        ui.table(columns=columns, rows=rows, row_key="academie").props("flat dense bordered").classes(
            "w-full").mark("progress")


# --- Home alerts ----------------------------------------------------------------------------------------------

@home_alert("slots.unbooked", roles={"admin", "agent", "lecteur", "laposte"}, order=30)
async def unbooked_alert() -> list[Alert]:
    """R-SLOT-1: slots still to book in the current campaign."""
    years = await campaign_years()
    if not years:
        return []
    return [Alert(f"Créneaux non réservés ({years[0]})", await unbooked_count(years[0]),
                  "/feuilles/slots?status=a_reserver", "warning")]


@home_alert("slots.boxes", roles={"admin", "agent", "lecteur", "laposte"}, order=31)
async def boxes_alert() -> list[Alert]:
    """R-SLOT-8: empty boxes not collected within their 5 days."""
    overdue = await boxes_overdue(settings_module.today())
    return [Alert("Cartons non collectés (R-SLOT-8)", len(overdue), "/creneaux/cartons", "danger")]


@page("/creneaux/cartons", roles=STAFF)
async def boxes_page() -> None:
    """R-SLOT-8: the overdue list of empty boxes."""
    overdue = await boxes_overdue(settings_module.today())
    with frame("Créneaux : cartons non collectés", active="/creneaux"):
        ui.label("Cartons vides à collecter dans les 5 jours après la distribution, sauf demande de l'établissement "
                 "(R-SLOT-8).").classes("text-sm text-grey-8")
        columns = [{"name": "uai", "label": "UAI", "field": "uai", "align": "left"},
                   {"name": "name", "label": "Établissement", "field": "name", "align": "left"},
                   {"name": "distribution", "label": "Distribution", "field": "distribution"},
                   {"name": "due", "label": "À collecter avant", "field": "due"}]
        rows = [{"id": s.id, "uai": s.school.uai, "name": s.school.name, "distribution": fr_date(s.distribution_on),
                 "due": fr_date(s.boxes_collect_by)} for s in overdue]
        ui.table(columns=columns, rows=rows, row_key="id").props("flat dense bordered").classes("w-full").mark(
            "boxes-overdue")


# --- Steering chart -------------------------------------------------------------------------------------------


async def _distribution_progress(year: int) -> dict[str, Any]:
    from models.slots import Slot, SlotStatus

    rows = await Slot.filter(year=year).exclude(status=SlotStatus.CANCELLED).values_list(
        "school__academie", "status", "distribution_on")
    done = (SlotStatus.DISTRIBUTED.value, SlotStatus.CLOSED.value)
    totals: dict[str, int] = {}
    days: dict[str, dict[dt.date, int]] = {}
    for academie, status, day in rows:
        code = str(getattr(academie, "value", academie))
        totals[code] = totals.get(code, 0) + 1
        if str(getattr(status, "value", status)) in done and day is not None:
            per_day = days.setdefault(code, {})
            per_day[day] = per_day.get(day, 0) + 1
    return {"totals": totals, "days": days}


@steering_chart("slots.progress", "Distribution des PC par académie, jour après jour", roles=SLOTS.read_roles,
                order=30, description="Part des lycées de chaque académie dont la distribution est faite, à la fin "
                                      "de chaque jour de la campagne (R-SLOT-6 à 9).")
async def distribution_chart() -> ChartData:
    """Cumulated share of each académie's schools distributed, per campaign day (the latest campaign)."""
    from sheets.engine.dataversion import STEERING

    years = await campaign_years()
    year = years[0] if years else settings_module.today().year
    data = await STEERING.get(("chart.slots.progress", year), ("slots",), lambda: _distribution_progress(year))
    all_days = sorted({d for per_day in data["days"].values() for d in per_day})
    campaign = ([all_days[0] + dt.timedelta(days=i) for i in range((all_days[-1] - all_days[0]).days + 1)]
                if all_days else [])
    academies = [code for code, _label in Academie.choices() if code in data["totals"]]
    series = []
    for code in academies:
        reached, values = 0, []
        for day in campaign:
            reached += data["days"].get(code, {}).get(day, 0)
            values.append(round(100 * reached / data["totals"][code], 1))
        series.append((Academie.label_of(code), values))

    def link(category: int, serie: int) -> str | None:
        if not 0 <= serie < len(academies):
            return None
        return f"{SLOTS.path}?academie={academies[serie]}&distribution_on={campaign[category].isoformat()}"

    return ChartData(categories=[d.strftime("%d/%m") for d in campaign], series=series, category_label="Jour",
                     kind="line", unit="%", link=link,
                     note=f"Campagne {year} : un point ouvre les distributions de ce jour dans l'académie.")
