"""Maintenance tickets (R-TICKET-1 … 9): the dashboard, the grid with SLA colours, a ticket's page with its timeline,
the monthly statement per contractor, one school's tickets, and the tickets' section of the school page."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from nicegui import ui

import settings as settings_module
from models.accounts import Role
from models.audit import Source
from models.schools import InvalidUAI, School, get_school, normalize_uai
from models.tickets import (
    MONTHS_FR,
    OPEN_STATUSES,
    Channel,
    Contractor,
    Criticality,
    EventKind,
    Handling,
    Profile,
    SlaState,
    TicketStatus,
    VisitKind,
    VisitStatus,
    breaches_by_contractor,
    code_of,
    contractor_codes,
    coordinator_access,
    monthly_statement,
    open_ticket_for,
    report_categories,
    school_reporters,
    school_tickets,
    school_visits,
    status_counts,
    ticket_by_number,
    timeline,
)
from pages.auth import caller_for_page, forbidden_page, page
from pages.components.charts import ChartData, steering_chart
from pages.components.frame import frame
from pages.components.home_board import Alert, home_alert
from pages.components.school_space import school_section
from pages.errors import not_found, school_or_not_found
from pages.fmt import fr_date, fr_number
from pages.sheet_pages import sheet_grid_page
from sheets.contacts import CONTACT_ROLES, SUPPORT_DESKS
from sheets.engine.actions import RowAction, run_action
from sheets.engine.caller import ECOLE, Caller, SessionEnded
from sheets.engine.declaration import Nav
from sheets.engine.writes import WriteRefused, create_rows, delete_rows
from sheets.search import Hit, Query, rows_starting, search_provider
from sheets.tickets import CONTRACTORS, TICKETS, VISITS, route_report, write_statement

STAFF = frozenset({Role.ADMIN, Role.AGENT, Role.LECTEUR, Role.MAINTENANCE})  # the staff roles that read tickets
SLA_BADGE = {"dans_les_delais": "positive", "a_risque": "orange-8", "depasse": "negative"}
STATUS_BADGE = {"nouveau": "blue-8", "pris_en_charge": "indigo-7", "attente_etablissement": "amber-9",
                "en_intervention": "deep-purple-6", "resolu": "teal-7", "clos": "grey-7", "redirige": "brown-6"}
Refresh = Callable[[], Awaitable[None]]


def _ended(exc: SessionEnded) -> None:
    ui.notify(str(exc), type="warning")
    ui.navigate.to("/login?fin=1")


def sla_badge(state: Any, status: Any = None) -> None:
    """The SLA state as a coloured badge (« en pause » while the school is asked something)."""
    if code_of(status) == TicketStatus.WAITING:
        ui.badge("Délai suspendu").props("color=amber-9 outline")
        return
    code = code_of(state)
    ui.badge(SlaState.label_of(code)).props(f"color={SLA_BADGE.get(code, 'grey')}")


def status_badge(status: Any) -> None:
    """The step as a coloured badge."""
    code = code_of(status)
    ui.badge(TicketStatus.label_of(code)).props(f"color={STATUS_BADGE.get(code, 'grey')}")


def _issues(box: ui.column, exc: WriteRefused) -> None:
    box.clear()
    with box:
        for issue in exc.issues[:20]:
            ui.label(issue.message).classes("text-negative text-sm")


# --- Forms and actions -------------------------------------------------------------------------------------

async def _field(name: str, values: dict[str, Any], label: str | None = None) -> None:
    """A form field for a ticket column or an action's field."""
    if name == "redirected_to":
        desks = [d["name"] for d in await SUPPORT_DESKS.model.all().order_by("name").values("name")]
        ui.select(desks, label="Support de l'annuaire *", on_change=lambda e: values.update(redirected_to=e.value)
                  ).classes("w-full").mark("field-redirected_to")
        return
    if name in ("note", "text"):
        ui.textarea(label or ("Message (envoyé au lycée)" if name == "note" else "Signalement"),
                    on_change=lambda e: values.update({name: e.value})).classes("w-full").mark(f"field-{name}")
        return
    column = TICKETS.column(name)
    if column.kind == "choice":
        ui.select(dict(column.choices), label=label or column.label, clearable=True,
                  on_change=lambda e: values.update({name: e.value})).classes("w-full").mark(f"field-{name}")
    else:
        ui.input(label or column.label, on_change=lambda e: values.update({name: e.value})).classes("w-full").mark(
            f"field-{name}")


def offered_actions(row: dict[str, Any], caller: Caller) -> list[RowAction]:
    """The moves and actions this caller may make on this ticket now (the engine checks them again)."""
    lc = TICKETS.lifecycle
    assert lc is not None
    uai = row["school__uai"]
    status = code_of(row["status"])
    out: list[RowAction] = []
    for move in lc.moves_from(status, caller, uai):
        action = TICKETS.action(move.name)
        if action is not None:
            out.append(action)
    is_open = status in {s.value for s in OPEN_STATUSES}
    for action in TICKETS.actions:
        if not caller.allowed(action.roles, uai) or not is_open:
            continue
        if action.name == "remote_failed" and code_of(row["handling"]) != Handling.REMOTE:
            continue
        out.append(action)
    return out


async def action_dialog(action: RowAction, row: dict[str, Any], caller: Caller, on_done: Refresh) -> None:
    """An action on one ticket: its form, then the engine runs it (and the step's mail leaves)."""
    values: dict[str, Any] = {}
    with ui.dialog(value=True) as dialog, ui.card().classes("w-[32rem] max-w-full gap-2"):
        ui.label(f"{action.label} · {row['number']}").classes("text-lg font-semibold")
        if action.help:
            ui.label(action.help).classes("text-sm text-grey-8")
        for column in action.form_columns(TICKETS):
            await _field(column.field, values)
        error = ui.column().classes("w-full gap-0")

        async def run() -> None:
            try:
                result = await run_action(TICKETS, action.name, [row["id"]],
                                          {k: v for k, v in values.items() if v not in (None, "")},
                                          caller if caller.role == ECOLE else caller.using(Source.ACTION))
            except SessionEnded as exc:
                _ended(exc)
                return
            except WriteRefused as exc:
                _issues(error, exc)
                return
            dialog.close()
            ui.notify(result.message or f"« {action.label} » fait.", type="positive")
            await on_done()

        with ui.row().classes("w-full justify-end"):
            ui.button("Annuler", on_click=dialog.close).props("flat")
            ui.button(action.label, icon=action.icon, on_click=run).props("color=primary").mark("run-action")


def action_buttons(row: dict[str, Any], caller: Caller, on_done: Refresh) -> None:
    """A button per action this caller may make on the ticket (none for a reader)."""
    actions = offered_actions(row, caller)
    if not actions:
        return
    with ui.row().classes("gap-2 flex-wrap"):
        for action in actions:
            ui.button(action.label, icon=action.icon,
                      on_click=lambda a=action: action_dialog(a, row, caller, on_done)).props(
                "outline no-caps dense").mark(f"do-{action.name}")


async def timeline_view(ticket_id: int) -> None:
    """The ticket's timeline: each step with its author, time and text."""
    events = await timeline(ticket_id)
    with ui.timeline(side="right").props("dense").classes("w-full"):
        for e in events:
            kind = code_of(e["kind"])
            title = EventKind.label_of(kind)
            if e["to_status"] and kind != EventKind.CREATED:
                title = (f"{TicketStatus.label_of(code_of(e['from_status']))} → " if e["from_status"] else "") + \
                    TicketStatus.label_of(code_of(e["to_status"]))
            color = "negative" if kind == EventKind.SLA else "primary" if kind in (EventKind.STEP,
                                                                                EventKind.CREATED) else "grey"
            with ui.timeline_entry(color=color):
                ui.label(f"{fr_date(e['at'])} · {e['author']}").classes("text-xs text-grey-7")
                ui.label(title).classes("font-medium")
                if e["text"]:
                    ui.label(e["text"]).classes("text-sm text-grey-9")


def ticket_facts(row: dict[str, Any]) -> None:
    """A ticket's key facts as label/value pairs."""
    facts = [("Établissement", f"{row['school__name']} ({row['school__uai']})"),
             ("Catégorie", row["category__label"]), ("Criticité", Criticality.label_of(code_of(row["criticality"]))),
             ("Canal", Channel.label_of(code_of(row["channel"]))), ("Reçu le", fr_date(row["opened_at"])),
             ("Signalé par", row.get("reported_by__full_name") or "—"),
             ("Traitement", Handling.label_of(code_of(row["handling"])) if row["handling"] else "—"),
             ("Prestataire", row.get("contractor__name") or "—"),
             ("Profil", Profile.label_of(code_of(row["profile"])) if row["profile"] else "—"),
             ("Pris en charge le", fr_date(row["taken_at"]) or "—"), ("Échéance", fr_date(row["due_at"]) or "—"),
             ("Pause (heures ouvrées)", fr_number(row["paused_hours"] or 0, 2)),
             ("Résolu le", fr_date(row["resolved_at"]) or "—")]
    if row.get("redirected_to__name"):
        facts.append(("Redirigé vers", row["redirected_to__name"]))
    if row.get("late_opening"):
        facts.append(("Ouverture", "tardive (R-TICKET-1)"))
    if row.get("excluded"):
        facts.append(("Hors délai", row.get("category__excluded_links") or "lien exclu"))
    with ui.grid(columns=2).classes("gap-x-6 gap-y-1 text-sm"):
        for label, value in facts:
            ui.label(label).classes("text-grey-7")
            ui.label(str(value))


# --- Reporting an incident (R-TICKET-1, R-TICKET-2, R-TICKET-5) ----------------------------------------------

def desk_card(route: dict[str, Any]) -> None:
    """R-TICKET-2: the desk to turn to instead of a ticket (restricted details hidden from whom may not see them)."""
    desk = route["desk"]
    with ui.card().classes("w-full bg-blue-1 gap-1").mark("desk-card"):
        ui.label(f"« {route['category'].label} » n'ouvre pas de ticket : adressez-vous à").classes("text-sm")
        with ui.row().classes("items-center gap-2"):
            ui.label(desk.name).classes("text-lg font-semibold")
            if desk.do_not_share:
                ui.badge("Ne pas diffuser").props("color=red-8")
        for label, value in route["lines"]:
            ui.label(f"{label} : {value}").classes("text-sm")


async def report_dialog(caller: Caller, on_done: Refresh, school: School | None = None) -> None:
    """« Signaler un incident » (a school) or « Enregistrer un appel ou un courriel » (an agent of the free line)."""
    staff = caller.role != ECOLE
    categories = await report_categories()
    values: dict[str, Any] = {"school": school.uai if school else None}
    now = settings_module.now()
    if staff:
        values.update(channel=Channel.PHONE.value, opened_at=now.strftime("%d/%m/%Y %H:%M"))
    state: dict[str, Any] = {"route": None}
    with ui.dialog(value=True) as dialog, ui.card().classes("w-[36rem] max-w-full gap-2"):
        ui.label("Enregistrer un appel ou un courriel" if staff else "Signaler un incident").classes(
            "text-lg font-semibold")
        reporters_box = ui.column().classes("w-full gap-0")

        async def load_reporters(uai: str) -> None:
            reporters_box.clear()
            values.pop("reported_by", None)
            target = await get_school(uai) if uai else None
            if target is None:
                return
            options = {str(r["id"]): f"{r['full_name']} ({r['email']})" for r in await school_reporters(target.id)}
            with reporters_box:
                ui.label(target.name).classes("text-sm text-grey-8")
                ui.select(options, label="Déclarant (chef d'établissement ou coordonnateur)",
                          on_change=lambda e: values.update(reported_by=e.value)).classes("w-full").mark(
                    "field-reported_by")

        if staff:
            if school is None:
                async def uai_changed(e: Any) -> None:
                    try:
                        code = normalize_uai(e.value)
                    except InvalidUAI:
                        values["school"] = e.value
                        reporters_box.clear()
                        return
                    values["school"] = code
                    await load_reporters(code)

                ui.input("UAI de l'établissement", on_change=uai_changed).classes("w-full").mark("field-school")
            with ui.row().classes("w-full gap-2 no-wrap"):
                ui.select({Channel.PHONE.value: Channel.PHONE.label, Channel.EMAIL.value: Channel.EMAIL.label},
                          value=Channel.PHONE.value, label="Canal",
                          on_change=lambda e: values.update(channel=e.value)).classes("flex-1").mark("field-channel")
                ui.input("Reçu le (JJ/MM/AAAA HH:MM)", value=values["opened_at"],
                         on_change=lambda e: values.update(opened_at=e.value)).classes("flex-1").mark(
                    "field-opened_at")
        async def category_changed(e: Any) -> None:
            values["category"] = e.value
            desk_box.clear()
            state["route"] = None
            if not e.value:
                return
            route = await route_report(e.value, caller, values.get("school"))
            state["route"] = route
            if not route["ticket"]:
                with desk_box:
                    desk_card(route)
            submit.set_enabled(route["ticket"])

        ui.select({c["code"]: c["label"] for c in categories}, label="Catégorie *",
                  on_change=category_changed).classes("w-full").mark("field-category")
        desk_box = ui.column().classes("w-full")
        ui.textarea("Décrivez l'incident *", on_change=lambda e: values.update(summary=e.value)).classes(
            "w-full").mark("field-summary")
        ui.select(dict(Criticality.choices()), value=Criticality.NORMAL.value, label="Criticité",
                  on_change=lambda e: values.update(criticality=e.value)).classes("w-full").mark("field-criticality")
        values["criticality"] = Criticality.NORMAL.value
        error = ui.column().classes("w-full gap-1")

        async def attach(open_row: dict[str, Any]) -> None:
            try:
                result = await run_action(TICKETS, "attach", [open_row["id"]], {"text": values.get("summary") or ""},
                                          caller if caller.role == ECOLE else caller.using(Source.ACTION))
            except SessionEnded as exc:
                _ended(exc)
                return
            except WriteRefused as exc:
                _issues(error, exc)
                return
            dialog.close()
            ui.notify(result.message, type="positive")
            await on_done()

        async def send() -> None:
            error.clear()
            row = {k: v for k, v in values.items() if v not in (None, "")}
            try:
                result = await create_rows(TICKETS, [row], caller if caller.role == ECOLE else caller.using(
                    Source.PAGE))
            except SessionEnded as exc:
                _ended(exc)
                return
            except WriteRefused as exc:
                _issues(error, exc)
                if exc.conflict and values.get("school") and values.get("category"):
                    open_row = await open_ticket_for(str(values["school"]), str(values["category"]))
                    if open_row is not None:  # R-TICKET-5: join the report to the open ticket instead
                        with error:
                            ui.button(f"Joindre ce signalement au ticket {open_row['number']}", icon="attach_file",
                                      on_click=lambda r=open_row: attach(r)).props("color=primary no-caps").mark(
                                "attach-open")
                return
            dialog.close()
            ui.notify(f"Ticket {result.created[0][1]} ouvert : un courriel est envoyé au lycée à chaque étape.",
                      type="positive")
            await on_done()

        with ui.row().classes("w-full justify-end"):
            ui.button("Annuler", on_click=dialog.close).props("flat")
            submit = ui.button("Envoyer", icon="send", on_click=send).props("color=primary").mark("report-submit")
        if school is not None and staff:
            await load_reporters(school.uai)


# --- A school's tickets (the school page's section, and the staff's view of one school) ---------------------

async def school_panel(school: School, caller: Caller) -> None:
    """A school's tickets (open first) with their timelines and the actions this caller may make, « Signaler un
    incident » for whom may open one, and the visits planned (R-TICKET-9)."""
    container = ui.column().classes("w-full gap-2")

    async def refresh() -> None:
        container.clear()
        with container:
            await _panel_body(school, caller, refresh)

    with container:
        await _panel_body(school, caller, refresh)


async def _panel_body(school: School, caller: Caller, refresh: Refresh) -> None:
    rows = await school_tickets(school.id)
    with ui.row().classes("w-full items-center gap-3"):
        ui.label(f"Chaque étape d'un ticket est envoyée à {school.generic_email} et à la personne qui l'a signalé. "
                 "N° vert maintenance : du lundi au vendredi, 8 h–18 h.").classes("text-sm text-grey-8")
        ui.space()
        if TICKETS.may_create(caller, school.uai):
            ui.button("Signaler un incident" if caller.role == ECOLE else "Enregistrer un appel", icon="report",
                      on_click=lambda: report_dialog(caller, refresh, school)).props("color=primary no-caps").mark(
                "report-open")
    if not rows:
        ui.label("Aucun ticket pour cet établissement.").classes("text-grey-7")
    for row in rows:
        with ui.expansion().classes("w-full border rounded").mark(f"ticket-{row['number']}") as box:
            with box.add_slot("header"):
                with ui.row().classes("w-full items-center gap-2 no-wrap"):
                    ui.label(row["number"]).classes("font-mono font-semibold")
                    ui.label(row["category__label"]).classes("text-sm")
                    ui.label(row["summary"]).classes("text-sm text-grey-8 ellipsis flex-1")
                    status_badge(row["status"])
                    if code_of(row["status"]) in {s.value for s in OPEN_STATUSES}:
                        sla_badge(row["sla_state"], row["status"])
            ticket_facts(row)
            action_buttons(row, caller, refresh)
            await timeline_view(row["id"])
    if VISITS.may_read(caller):
        visits = await school_visits(school.id, settings_module.today())
        if visits:
            ui.label("Visites sur site à venir (R-TICKET-9)").classes("font-semibold mt-2")
            for v in visits[:6]:
                ui.label(f"{v['day']:%d/%m/%Y} · {VisitKind.label_of(code_of(v['kind']))} · "
                         f"{v['contractor__name'] or ''} · {VisitStatus.label_of(code_of(v['status']))}").classes(
                    "text-sm")


@school_section("tickets", "Maintenance : tickets", order=40, roles=TICKETS.read_roles)
async def tickets_section(school: School, caller: Caller) -> None:
    """The tickets' section of « Mon établissement » (heads, and coordinators granted access, R-TICKET-3)."""
    await school_panel(school, caller)


async def coordinators_card(school: School, caller: Caller) -> None:
    """R-TICKET-3: coordinators reach the tickets on request — the right granted (or taken back) here, audited."""
    if not CONTACT_ROLES.may_create(caller, school.uai):
        return
    card = ui.card().classes("w-full gap-1")

    async def render() -> None:
        card.clear()
        with card:
            ui.label("Accès des coordonnateurs aux tickets (R-TICKET-3)").classes("text-lg font-semibold")
            ui.label("Le chef d'établissement y a accès d'office ; un coordonnateur numérique, sur demande.").classes(
                "text-sm text-grey-8")
            people = await coordinator_access(school.id)
            if not people:
                ui.label("Aucun coordonnateur numérique enregistré.").classes("text-grey-7 text-sm")
            for p in people:
                with ui.row().classes("items-center gap-3"):
                    ui.label(f"{p['full_name']} ({p['email']})").classes("text-sm")
                    if p["grant_id"]:
                        ui.badge("Accès accordé").props("color=positive")
                        ui.button("Retirer", on_click=lambda p=p: change(p, False)).props(
                            "flat dense no-caps color=negative").mark(f"revoke-{p['id']}")
                    else:
                        ui.button("Accorder l'accès", on_click=lambda p=p: change(p, True)).props(
                            "flat dense no-caps color=primary").mark(f"grant-{p['id']}")

    async def change(person: dict[str, Any], grant: bool) -> None:
        try:
            if grant:
                await create_rows(CONTACT_ROLES, [{"contact": person["id"], "role": "acces_tickets"}],
                                  caller.using(Source.PAGE))
            else:
                await delete_rows(CONTACT_ROLES, [person["grant_id"]], caller.using(Source.PAGE))
        except SessionEnded as exc:
            _ended(exc)
            return
        except WriteRefused as exc:
            ui.notify(str(exc), type="negative")
            return
        ui.notify("Accès accordé." if grant else "Accès retiré.", type="positive")
        await render()

    await render()


@page("/maintenance/ecoles/{uai}", roles=STAFF)
async def school_tickets_page(uai: str) -> None:
    """One school's tickets for the Région's team and the contractors, and its coordinators' access."""
    school = await school_or_not_found(uai)
    if school is None:
        return
    caller = await caller_for_page(Source.PAGE)
    with frame(f"Maintenance · {school.name}", active="/maintenance"):
        with ui.row().classes("gap-4 text-sm"):
            ui.link("← Maintenance", "/maintenance")
            ui.link("Fiche de l'établissement", f"/ecoles/{school.uai}")
            ui.link("Tous ses tickets (grille)", f"/maintenance/tickets?school={school.uai}")
        await coordinators_card(school, caller)
        await school_panel(school, caller)


# --- Staff pages -----------------------------------------------------------------------------------------

@page("/maintenance", roles=STAFF, nav=Nav("Maintenance", "build", 10, "Tableau de bord maintenance"))
async def maintenance_page() -> None:
    """Counts by step, breaches by contractor (R-TICKET-7), recording a call (R-TICKET-1), where to redirect."""
    caller = await caller_for_page(Source.PAGE)
    counts = await status_counts()
    by_contractor = await breaches_by_contractor()
    categories = await report_categories()

    async def reload() -> None:
        ui.navigate.reload()

    with frame("Maintenance", active="/maintenance"):
        with ui.row().classes("gap-2 items-center"):
            if TICKETS.may_create(caller):
                ui.button("Enregistrer un appel ou un courriel", icon="call",
                          on_click=lambda: report_dialog(caller, reload)).props(
                    "color=primary no-caps").mark("record-call")
            ui.button("Tous les tickets", icon="table_view", on_click=lambda: ui.navigate.to(
                "/maintenance/tickets")).props("outline no-caps")
            ui.button("Relevé mensuel par prestataire", icon="summarize",
                      on_click=lambda: ui.navigate.to("/maintenance/releve")).props("outline no-caps")
            ui.button("Visites sur site", icon="event_available",
                      on_click=lambda: ui.navigate.to("/feuilles/visits")).props("outline no-caps")
        with ui.row().classes("gap-4 flex-wrap"):
            for status in TicketStatus:
                with ui.card().classes("min-w-36 gap-0 cursor-pointer").on(
                        "click", lambda s=status: ui.navigate.to(f"/maintenance/tickets?status={s.value}")):
                    ui.label(fr_number(counts.get(status.value, 0))).classes("text-2xl font-semibold text-primary")
                    ui.label(status.label).classes("text-sm text-grey-8")
        with ui.card().classes("w-full gap-2"):
            ui.label("Délais par prestataire (R-TICKET-7)").classes("text-lg font-semibold")
            columns = [{"name": "name", "label": "Prestataire", "field": "name", "align": "left"},
                       {"name": "open", "label": "Tickets en cours", "field": "open"},
                       {"name": "a_risque", "label": "À risque", "field": "a_risque"},
                       {"name": "depasse", "label": "Dépassés (en cours)", "field": "depasse"},
                       {"name": "breached_total", "label": "Dépassés (total)", "field": "breached_total"},
                       {"name": "late_opening", "label": "Ouvertures tardives", "field": "late_opening"}]
            table = ui.table(columns=columns, rows=by_contractor, row_key="code").props("flat dense bordered").classes(
                "w-full").mark("breaches")
            table.add_slot("body-cell-depasse", '<q-td :props="props"><a :href="\'/maintenance/tickets?sla_state='
                                                'depasse&contractor=\' + props.row.code" class="text-negative '
                                                'font-semibold">{{ props.value }}</a></q-td>')
            table.add_slot("body-cell-a_risque", '<q-td :props="props"><a :href="\'/maintenance/tickets?sla_state='
                                                 'a_risque&contractor=\' + props.row.code" class="text-orange-9">'
                                                 '{{ props.value }}</a></q-td>')
        redirected = [c for c in categories if not c["handled"] and c["redirect_to__name"]]
        if redirected:
            with ui.card().classes("w-full gap-1"):
                ui.label("Hors tickets : où adresser l'appelant (R-TICKET-2)").classes("text-lg font-semibold")
                for c in redirected:
                    ui.label(f"{c['label']} → {c['redirect_to__name']}").classes("text-sm")
                ui.link("Annuaire des supports", "/support").classes("text-sm")



@page("/maintenance/tickets", roles=STAFF)
async def tickets_grid_page(request: Request) -> None:
    """The tickets grid: SLA colours, steps as row actions, filters from the address (?sla_state=depasse)."""
    await sheet_grid_page(TICKETS, request)


@page("/maintenance/ticket", roles=STAFF)
async def ticket_page(n: str = "") -> None:
    """One ticket: its facts, the actions this caller may make, and its timeline."""
    caller = await caller_for_page(Source.PAGE)
    if not TICKETS.may_read(caller):
        forbidden_page("Accès refusé : votre rôle ne donne pas accès aux tickets de maintenance.")
        return
    if not n.strip():
        with frame("Ouvrir un ticket", active="/maintenance"):
            box = ui.input("N° du ticket (ex. T2025-00042)").classes("w-72").mark("ticket-number")
            ui.button("Ouvrir", on_click=lambda: ui.navigate.to(f"/maintenance/ticket?n={box.value.strip()}")).props(
                "color=primary")
        return
    row = await ticket_by_number(n[:20], caller.scope)
    if row is None:
        not_found("Ticket introuvable", f"Aucun ticket n'a le numéro « {n[:20]} ».")
        return

    async def reload() -> None:
        ui.navigate.reload()

    with frame(f"Ticket {row['number']}", active="/maintenance/tickets"):
        with ui.row().classes("gap-4 text-sm"):
            ui.link("← Tous les tickets", "/maintenance/tickets")
            ui.link(f"Tickets du lycée {row['school__uai']}", f"/maintenance/ecoles/{row['school__uai']}")
        with ui.row().classes("items-center gap-3"):
            ui.label(row["summary"]).classes("text-xl")
            status_badge(row["status"])
            sla_badge(row["sla_state"], row["status"])
        with ui.row().classes("w-full gap-4 items-start no-wrap max-md:flex-wrap"):
            with ui.card().classes("flex-1 min-w-80 gap-3"):
                ticket_facts(row)
                if row["note"]:
                    ui.label(f"Dernier message : {row['note']}").classes("text-sm italic")
                action_buttons(row, caller, reload)
            with ui.card().classes("flex-1 min-w-80"):
                ui.label("Historique").classes("text-lg font-semibold")
                await timeline_view(row["id"])


def _months(today: dt.date, count: int = 13) -> dict[str, str]:
    out: dict[str, str] = {}
    year, month = today.year, today.month
    for _ in range(count):
        out[f"{year}-{month:02d}"] = f"{MONTHS_FR[month - 1]} {year}"
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


@page("/maintenance/releve", roles=STAFF)
async def statement_page(prestataire: str = "", mois: str = "") -> None:
    """R-TICKET-8: a contractor's monthly statement (tickets, median time to resolve, breaches), as .xlsx too."""
    codes = await contractor_codes()
    months = _months(settings_module.today())
    code = prestataire if prestataire in codes else (codes[0] if codes else "")
    month = mois if mois in months else list(months)[1 if len(months) > 1 else 0]
    with frame("Relevé mensuel par prestataire", active="/maintenance"):
        with ui.row().classes("items-end gap-3"):
            pick = ui.select(codes, value=code or None, label="Prestataire").classes("w-48").mark("pick-contractor")
            when = ui.select(months, value=month, label="Mois").classes("w-48").mark("pick-month")
            ui.button("Afficher", on_click=lambda: ui.navigate.to(
                f"/maintenance/releve?prestataire={pick.value}&mois={when.value}")).props("color=primary")
        if not code:
            ui.label("Aucun prestataire enregistré.").classes("text-grey-7")
            return
        year, number = (int(x) for x in month.split("-"))
        statement = await monthly_statement(code, year, number, settings_module.tz())
        contractor = await Contractor.get(code=code)
        with ui.row().classes("gap-4 flex-wrap").mark("statement-figures"):
            median = statement.median_hours
            for label, value in (("Tickets reçus", fr_number(len(statement.rows))),
                                 ("Résolus", fr_number(len(statement.resolved))),
                                 ("Délai médian de résolution", "—" if median is None else
                                  f"{fr_number(median, 1)} h ouvrées"),
                                 ("Délais dépassés", fr_number(statement.breaches)),
                                 ("Ouvertures tardives", fr_number(statement.late_openings))):
                with ui.card().classes("min-w-40 gap-0"):
                    ui.label(value).classes("text-2xl font-semibold text-primary")
                    ui.label(label).classes("text-sm text-grey-8")

        def download() -> None:
            target = Path(tempfile.mkdtemp(prefix="rentree-releve-")) / f"releve-{code}-{month}.xlsx"
            write_statement(statement, contractor.name, target)
            ui.download(target.read_bytes(), target.name)
            target.unlink(missing_ok=True)

        ui.button("Télécharger le relevé (.xlsx)", icon="file_download", on_click=download).props(
            "outline no-caps").mark("statement-download")
        columns = [{"name": k, "label": label, "field": k, "align": "left"} for k, label in (
            ("number", "N°"), ("uai", "UAI"), ("category", "Catégorie"), ("handling", "Traitement"),
            ("opened", "Reçu le"), ("resolved", "Résolu le"), ("hours", "Résolution (h ouvrées)"), ("sla", "Délai"))]
        rows = [{"number": r["number"], "uai": r["school__uai"], "category": r["category__label"],
                 "handling": Handling.label_of(code_of(r["handling"])) if r["handling"] else "",
                 "opened": fr_date(r["opened_at"]), "resolved": fr_date(r["resolved_at"]),
                 "hours": "" if r["hours_to_resolve"] is None else fr_number(r["hours_to_resolve"], 1),
                 "sla": SlaState.label_of(code_of(r["sla_state"]))} for r in statement.rows]
        ui.table(columns=columns, rows=rows, row_key="number", pagination={"rowsPerPage": 20}).props(
            "flat dense bordered").classes("w-full").mark("statement-rows")
        if CONTRACTORS.may_edit(await caller_for_page()):
            ui.link("Prestataires et engagements", "/feuilles/contractors").classes("text-sm")


# --- Home alert and steering chart ------------------------------------------------------------------


async def _tickets_by_category_and_state() -> dict[tuple[str, str], int]:
    from tortoise.functions import Count

    from models.tickets import Ticket

    rows = await (Ticket.all().group_by("category__label", "sla_state").annotate(n=Count("id"))
                  .values("category__label", "sla_state", "n"))
    return {(str(r["category__label"]), str(getattr(r["sla_state"], "value", r["sla_state"]))): int(r["n"])
            for r in rows}


async def _open_tickets_by_state() -> dict[str, int]:
    from tortoise.functions import Count

    from models.tickets import Ticket

    rows = await (Ticket.filter(status__in=[s.value for s in OPEN_STATUSES]).group_by("sla_state")
                  .annotate(n=Count("id")).values("sla_state", "n"))
    return {str(getattr(r["sla_state"], "value", r["sla_state"])): int(r["n"]) for r in rows}


@home_alert("tickets.sla", roles=TICKETS.read_roles, order=40)
async def ticket_alerts() -> list[Alert]:
    """Open tickets past their deadline or about to be (R-TICKET SLA watch)."""
    from sheets.engine.dataversion import STEERING

    states = await STEERING.get("home.tickets.states", ("tickets",), _open_tickets_by_state)
    return [Alert("Tickets ouverts hors délai (SLA dépassé)", states.get(SlaState.BREACHED.value, 0),
                  f"{TICKETS.path}?sla_state={SlaState.BREACHED.value}", "danger"),
            Alert("Tickets ouverts à risque de dépassement", states.get(SlaState.AT_RISK.value, 0),
                  f"{TICKETS.path}?sla_state={SlaState.AT_RISK.value}", "warning")]


@steering_chart("tickets.category_sla", "Tickets par catégorie et délai", roles=TICKETS.read_roles, order=40,
                description="Tous les tickets, ouverts et terminés, par catégorie, selon leur délai (dans les délais, "
                            "à risque, dépassé).")
async def tickets_chart() -> ChartData:
    """Tickets by category (bars) and SLA state (stacked), kept by the tickets' data version."""
    from sheets.engine.dataversion import STEERING

    counts = await STEERING.get("chart.tickets.category_sla", ("tickets", "ticket_categories"),
                                _tickets_by_category_and_state)
    categories = sorted({c for c, _ in counts})
    states = SlaState.choices()
    series = [(label, [counts.get((c, code), 0) for c in categories]) for code, label in states]

    def link(category: int, serie: int) -> str:
        base = f"{TICKETS.path}?category_label={quote(categories[category])}"
        return f"{base}&sla_state={states[serie][0]}" if 0 <= serie < len(states) else base

    return ChartData(categories=categories, series=series, category_label="Catégorie", stacked=True, link=link)


@search_provider("ticket", TICKETS, order=50)
async def find_tickets(query: Query, caller: Caller) -> list[Hit]:
    """A ticket number (exact or its start)."""
    rows = await rows_starting(TICKETS, caller, "number", [query.upper], ["number", "summary", "school__name"],
                               "-number")
    return [Hit("Ticket", f"{r['number']} · {r['school__name']} · {str(r['summary'])[:60]}",
                f"/maintenance/ticket?n={quote(r['number'])}", 0 if r["number"] == query.upper else 1) for r in rows]
