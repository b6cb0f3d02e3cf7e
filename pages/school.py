"""« Mon établissement » (`/etablissement/<UAI>`): a school's own page, built from the sections the areas register
(pages/components/school_space.py), for its people (school access, role `ecole`) and the Région's team.

Sections of this module: what is due (every reminder rule's pending items for the school, with the action in place),
the fleet as the MDM view (R-FLEET-6, R-FLEET-8, R-FLEET-4), the student / teacher lists (R-SLOT-2, R-FLEET-3/7/8/9),
the restocks (R-FLEET-12), the contacts and groups (R-SCH-5). Every write goes through the engine with the page's
caller: a school's person acts only within its schools and its contact roles.
"""

from __future__ import annotations

import logging
from typing import Any

from nicegui import ui

from models.access import next_event_day, role_maintenance_refusal, school_people
from models.accounts import REGION_ROLES, Role
from models.audit import Source
from models.fleet import (
    EndChoice,
    HolderKind,
    RestockStatus,
    Shipping,
    Status,
    devices_to_send_back,
    school_devices,
    school_fleet,
    school_restocks,
)
from models.reminders import pending_for_school
from models.school_lists import LIST_TITLES, lists_state
from models.schools import Academie, ContactRole, InvalidUAI, School, get_school, normalize_uai
from pages.auth import caller_for_page, leave_ended_session, page
from pages.components.frame import frame
from pages.components.school_space import school_section, section_for_rule, sections_for
from pages.errors import not_found
from pages.fmt import fr_date, fr_number
from settings import today
from sheets.contacts import CONTACT_ROLES, CONTACTS, SCHOOL_MANAGERS
from sheets.engine.actions import run_action
from sheets.engine.caller import REGION_EDITORS, Caller, SessionEnded
from sheets.engine.writes import WriteRefused, create_rows, delete_rows, set_values
from sheets.fleet import HOLDERS, RESTOCKS, SCHOOL_FLEET, SCHOOL_RECEIVERS

log = logging.getLogger("rentree.school")

STAFF_VIEW = frozenset(r.value for r in REGION_ROLES)
TEAM = REGION_EDITORS
HORIZON_DAYS = 120


def school_path(uai: str) -> str:
    """The address of a school's page."""
    return f"/etablissement/{uai}"


@page("/etablissement/{uai}", roles={Role.ECOLE, *REGION_ROLES})
async def school_space_page(uai: str) -> None:
    """A school's page: its sections, in order, those the caller may see for this school (another school: 404)."""
    caller = await caller_for_page(Source.PAGE)
    try:
        code = normalize_uai(uai)
    except InvalidUAI as exc:
        not_found("Établissement introuvable", str(exc))
        return
    school = await get_school(code) if caller.in_scope(code) else None
    if school is None:  # the same answer for another school's page and for no school at all: nothing shown
        not_found("Établissement introuvable", f"Aucun de vos établissements n'a l'UAI {code}.")
        return
    sections = sections_for(caller, code)
    title = f"Mon établissement · {school.name}" if caller.is_school else f"Espace de l'établissement · {school.name}"
    with frame(title, active=school_path(code)):
        _header(school, caller)
        if len(sections) > 1:
            with ui.row().classes("gap-2 flex-wrap"):
                for section in sections:
                    ui.link(section.title, f"#section-{section.key}").classes(
                        "text-sm bg-blue-1 rounded px-3 py-1 no-underline text-primary")
        for section in sections:
            with ui.card().classes("w-full gap-2").props(f'id="section-{section.key}"').mark(
                    f"section-{section.key}"):
                ui.label(section.title).classes("text-lg font-semibold text-primary")
                try:
                    await section.render(school, caller)
                except SessionEnded:
                    raise
                except Exception:  # one area's section never takes the page down
                    log.exception("section %s of %s", section.key, code)
                    ui.label("Cette partie n'a pas pu s'afficher : réessayez plus tard ou prévenez la Région.").classes(
                        "text-negative")


def _header(school: School, caller: Caller) -> None:
    with ui.row().classes("w-full items-center gap-4 flex-wrap text-sm text-grey-8"):
        ui.label(f"UAI {school.uai}").classes("font-mono")
        ui.label(f"Académie de {Academie.label_of(school.academie.value)}")
        ui.label(f"Adresse générique : {school.generic_email}")
        if caller.is_school:
            roles = sorted({role for uai, role in caller.grants if uai == school.uai})
            ui.label("Vos rôles : " + (", ".join(ContactRole.label_of(r) for r in roles) or "aucun")).mark("my-roles")
            others = sorted(u for u in caller.scope or () if u != school.uai)
            for other in others:  # R-ORG-1: a person may belong to two schools during the directory period
                ui.link(f"Autre établissement : {other}", school_path(other))
        else:
            ui.label("Vue de l'équipe de la Région (la page que voient les personnels du lycée).").classes("italic")
            ui.link("Fiche de l'établissement", f"/ecoles/{school.uai}")


async def _act(action: Any, success: str) -> bool:
    """Run a write of the page: notify in French; the page reloads on success."""
    try:
        await action
    except SessionEnded as exc:
        leave_ended_session(exc)
        return False
    except WriteRefused as exc:
        ui.notify(f"Refusé : {exc}", type="negative", multi_line=True, timeout=8000)
        return False
    except ValueError as exc:
        ui.notify(f"Refusé : {exc}", type="negative", multi_line=True, timeout=8000)
        return False
    ui.notify(success, type="positive")
    ui.navigate.reload()
    return True


# --- What is due ----------------------------------------------------------------------------------------------

@school_section("due", "À faire", order=10, roles={"ecole", *STAFF_VIEW})
async def due_section(school: School, caller: Caller) -> None:
    """Every pending item of the reminder rules for this school (nothing already done), the action in place."""
    day = today()
    items = await pending_for_school(school.id, day, HORIZON_DAYS)
    visible = sections_for(caller, school.uai)
    if not items:
        ui.label(f"Rien n'est attendu de l'établissement dans les {HORIZON_DAYS} prochains jours.").classes(
            "text-grey-7").mark("nothing-due")
        return
    for _rule, item in items:
        days = (item.due - day).days
        when = "aujourd'hui" if days <= 0 else "demain" if days == 1 else f"dans {days} jours"
        with ui.row().classes("w-full items-start gap-3 border-b border-grey-3 py-1 no-wrap").mark("due-item"):
            with ui.column().classes("gap-0 min-w-32"):
                ui.label(fr_date(item.due)).classes("font-medium")
                ui.label(when).classes("text-xs " + ("text-negative" if days <= 7 else "text-grey-7"))
            with ui.column().classes("gap-0 grow"):
                ui.label(item.title).classes("font-medium")
                ui.label(item.action).classes("text-sm text-grey-8")
            ui.badge(item.rule_id).props("outline color=grey-8")
            target = section_for_rule(visible, item.rule_id)
            if target is not None:
                ui.link("Faire maintenant →", f"#section-{target.key}").classes("text-sm whitespace-nowrap")
            elif item.where:
                ui.label(item.where).classes("text-xs text-grey-7 max-w-56")


# --- The fleet, as the MDM view (R-FLEET-6) --------------------------------------------------------------------

DEVICE_COLUMNS = [
    {"name": "serial", "label": "N° de série", "field": "serial", "sortable": True, "align": "left"},
    {"name": "kind", "label": "Type", "field": "kind", "sortable": True, "align": "left"},
    {"name": "status_label", "label": "Statut", "field": "status_label", "sortable": True, "align": "left"},
    {"name": "holder", "label": "Porteur", "field": "holder", "sortable": True, "align": "left"},
    {"name": "ident", "label": "Identifiant", "field": "ident", "align": "left"},
    {"name": "class_name", "label": "Classe", "field": "class_name", "sortable": True, "align": "left"},
    {"name": "mdm", "label": "MDM", "field": "mdm", "align": "center"},
]


@school_section("fleet", "Parc de l'établissement (vue MDM)", order=30, roles=SCHOOL_FLEET | STAFF_VIEW,
                rules=("R-FLEET-8", "R-FLEET-6", "R-FLEET-4"))
async def fleet_section(school: School, caller: Caller) -> None:
    """R-FLEET-6: devices by status and holder; Terminale students without a keep / return decision (R-FLEET-8);
    devices to send back (R-FLEET-4, R-FLEET-9)."""
    fleet = await school_fleet(school.id)
    with ui.row().classes("gap-3 flex-wrap"):
        for code, label in Status.choices():
            if fleet.by_status.get(code):
                with ui.card().classes("gap-0 px-3 py-2").mark(f"status-{code}"):
                    ui.label(fr_number(fleet.by_status[code])).classes("text-xl font-semibold text-primary")
                    ui.label(label).classes("text-xs text-grey-8")
    if not fleet.by_status:
        ui.label("Aucun appareil n'est enregistré pour l'établissement.").classes("text-grey-7")
    # R-FLEET-8: the keep / return decisions awaited.
    ui.label(f"Élèves de Terminale sans choix garder / restituer ({fr_number(fleet.tle_undecided_count)})").classes(
        "font-semibold mt-2")
    column = HOLDERS.column("end_choice")
    may_decide = HOLDERS.may_edit_column(caller, column, school.uai)
    if not fleet.tle_undecided:
        ui.label("Tous les élèves de Terminale ont choisi (R-FLEET-8).").classes("text-grey-7 text-sm")
    for holder in fleet.tle_undecided:
        with ui.row().classes("items-center gap-3").mark("tle-undecided"):
            ui.label(f"{holder.last_name} {holder.first_name}".strip()).classes("min-w-48")
            ui.label(holder.class_name or "").classes("text-grey-7 min-w-16")
            ui.label("sorti(e) : décision avant le 30/09" if holder.situation.value == "fin_scolarite"
                     else "en Terminale").classes("text-xs text-grey-7")
            if may_decide:
                for choice in EndChoice:
                    ui.button(choice.label, on_click=lambda h=holder.id, c=choice.value: _act(
                        set_values(HOLDERS, [h], {"end_choice": c}, caller),
                        "Choix enregistré.")).props("dense outline no-caps")
    back = await devices_to_send_back(school.id)
    ui.label(f"Appareils à renvoyer ({fr_number(len(back))})").classes("font-semibold mt-2")
    if not back:
        ui.label("Aucun appareil à renvoyer : aucun PC ne reste sans affectation (R-FLEET-4).").classes(
            "text-grey-7 text-sm")
    for device in back[:50]:
        holder = device.holder
        ui.label(f"{device.serial} · {Status.label_of(device.status.value)}"
                 + (f" · {holder.last_name} {holder.first_name}" if holder else " · sans porteur")).classes("text-sm")
    devices = await school_devices(school.id)
    ui.label(f"Tous les appareils ({fr_number(sum(fleet.by_status.values()))})").classes("font-semibold mt-2")
    search = ui.input(placeholder="Filtrer (n° de série, nom, classe…)").props("dense outlined clearable").classes(
        "w-80")
    table = ui.table(columns=DEVICE_COLUMNS, rows=devices, row_key="id", pagination=10).props(
        "flat dense bordered").classes("w-full").mark("devices-table")
    search.bind_value_to(table, "filter")


# --- Student and teacher lists (R-SLOT-2) ---------------------------------------------------------------------

@school_section("lists", "Listes des élèves (SIECLE) et des enseignants (STS)", order=40,
                roles=SCHOOL_FLEET | TEAM, rules=("R-SLOT-2",))
async def lists_section(school: School, caller: Caller) -> None:
    """The lists, due 7 working days before the delivery (R-SLOT-2), uploaded with the shared preview dialog."""
    from pages.fleet import movements_dialog, sample_download

    state = await lists_state(school, today())
    if state["delivery"] is not None:
        ui.label(f"Livraison des PC prévue le {fr_date(state['delivery'])} : les deux listes sont à importer au plus "
                 f"tard le {fr_date(state['due'])} (7 jours ouvrés avant, R-SLOT-2).").classes("text-sm").mark(
            "lists-due")
    for kind in (HolderKind.STUDENT, HolderKind.TEACHER):
        last = state["last"][kind.value]
        done = state["done"][kind.value]
        with ui.row().classes("items-center gap-2"):
            ui.icon("check_circle" if done else "pending").classes("text-positive" if done else "text-orange-8")
            ui.label(LIST_TITLES[kind.value]).classes("font-medium min-w-56")
            ui.label(f"importée le {fr_date(last.uploaded_at)} par {last.uploaded_by}" if last else
                     "jamais importée").classes("text-sm text-grey-8").mark(f"list-{kind.value}")
    if not (HOLDERS.may_create(caller, school.uai) and HOLDERS.may_edit(caller, school.uai)):
        ui.label("Votre rôle ne permet pas d'importer les listes.").classes("text-grey-7 text-sm")
        return
    with ui.row().classes("gap-2 flex-wrap"):
        ui.button("Importer la base élèves (SIECLE)", icon="upload_file",
                  on_click=lambda: movements_dialog(school, HolderKind.STUDENT, caller,
                                                    on_close=ui.navigate.reload)).props(
            "outline no-caps").mark("upload-siecle")
        ui.button("Importer la base enseignants (STS)", icon="upload_file",
                  on_click=lambda: movements_dialog(school, HolderKind.TEACHER, caller,
                                                    on_close=ui.navigate.reload)).props(
            "outline no-caps").mark("upload-sts")
        ui.button("Fichier d'exemple", icon="description", on_click=lambda: sample_download(school)).props(
            "flat no-caps")
    ui.label("Colonnes : Identifiant (INE / NUMEN), Nom, Prénom, Classe, Niveau, Voie. Un élève ou un enseignant "
             "venu d'un autre lycée d'Île-de-France garde son PC (R-FLEET-3, R-FLEET-7) ; les absents de la liste sont "
             "considérés comme partis.").classes("text-xs text-grey-7")


# --- Restocks (R-FLEET-12) ------------------------------------------------------------------------------------

@school_section("restock", "Réassort de PC (nouveaux élèves)", order=50, roles=SCHOOL_RECEIVERS | STAFF_VIEW,
                rules=("R-FLEET-12",))
async def restock_section(school: School, caller: Caller) -> None:
    """R-FLEET-12: ask for laptops, validate their reception, sign the distribution certificates (authorised
    persons: the « La Poste » group)."""
    lifecycle = RESTOCKS.lifecycle
    assert lifecycle is not None
    ui.label("Plus de 5 PC : envoi par transporteur ; 5 ou moins : Colissimo. À la réception, validez-la ici ; une "
             "personne habilitée (groupe « La Poste ») signe ensuite les attestations.").classes("text-sm text-grey-8")
    requests = await school_restocks(school.id)
    if not requests:
        ui.label("Aucune demande de réassort.").classes("text-grey-7 text-sm")
    for r in requests:
        with ui.row().classes("items-center gap-3 border-b border-grey-3 py-1").mark(f"restock-{r.id}"):
            ui.label(f"N° {r.id}").classes("font-mono")
            ui.label(f"{r.quantity} PC · {r.reason} · {Shipping.label_of(r.shipping)}").classes("min-w-64")
            ui.badge(RestockStatus.label_of(r.status)).props("color=primary outline")
            if r.signed_by:
                ui.label(f"signée par {r.signed_by}").classes("text-xs text-grey-7")
            for move in lifecycle.moves_from(r.status, caller, school.uai):
                if move.name == "receive" or (move.name == "sign" and caller.is_school):
                    ui.button(move.label, icon="task_alt", on_click=lambda rid=r.id, m=move.name: _act(
                        run_action(RESTOCKS, m, [rid], {}, caller), "Étape enregistrée.")).props(
                        "dense no-caps").mark(f"restock-{move.name}")
    if RESTOCKS.may_create(caller, school.uai):
        with ui.row().classes("items-end gap-2"):
            quantity = ui.number("Nombre de PC", value=1, min=1, max=500, precision=0).classes("w-36")
            reason = ui.input("Motif", value="Nouveaux élèves").classes("w-64")
            ui.button("Demander un réassort", icon="add_shopping_cart", on_click=lambda: _act(
                create_rows(RESTOCKS, [{"school": school.uai, "quantity": int(quantity.value or 0),
                                        "reason": reason.value or "Nouveaux élèves"}], caller),
                "Demande de réassort enregistrée.")).props("no-caps").mark("ask-restock")


# --- Contacts and groups (R-SCH-5) ----------------------------------------------------------------------------

PRECONDITIONS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("R-SLOT-1", (ContactRole.LA_POSTE.value,), "un membre du groupe « La Poste » (réservation des créneaux)"),
    ("R-BASKET-6", (ContactRole.CRRE_PRESCRIPTEUR.value, ContactRole.CRRE_VALIDEUR.value),
     "un CRRE-PRESCRIPTEUR ou CRRE-VALIDEUR (commandes de manuels)"),
    ("R-BASKET-9", (ContactRole.RESP_AFFECT_GAR.value,), "un RESP-AFFECT-GAR (affectations du GAR)"),
)


@school_section("contacts", "Contacts et groupes de l'établissement", order=90, roles=SCHOOL_MANAGERS | TEAM,
                rules=("R-SCH-5",))
async def contacts_section(school: School, caller: Caller) -> None:
    """The head and the ADML keep who holds which role: « La Poste » group, CRRE groups, RESP-AFFECT-GAR… (R-SCH-5);
    a school keeps one head."""
    people = await school_people(school.id)
    held_here = {r for _c, roles in people for _i, r in roles}
    day = today()
    for rule, roles, what in PRECONDITIONS:
        ok = bool(held_here & set(roles))
        when = await next_event_day(rule, day)
        with ui.row().classes("items-center gap-2 text-sm").mark(f"precondition-{rule}"):
            ui.icon("check_circle" if ok else "warning").classes("text-positive" if ok else "text-orange-8")
            ui.label(("Désigné : " if ok else "À désigner : ") + what
                     + (f", avant le {fr_date(when)}" if when and not ok else "") + f" ({rule})")
    held = {r for u, r in caller.grants if u == school.uai}
    manageable = [code for code, _label in ContactRole.choices()
                  if not caller.is_school or role_maintenance_refusal(held, {code}) is None]
    may_remove = CONTACT_ROLES.may_delete(caller, school.uai)
    for contact, roles in people:
        with ui.row().classes("w-full items-center gap-2 border-b border-grey-3 py-1").mark("contact-row"):
            ui.label(contact.full_name).classes("font-medium min-w-48")
            ui.label(contact.email).classes("text-sm text-grey-8 font-mono min-w-64")
            for assignment_id, role in roles:
                ui.chip(ContactRole.label_of(role), removable=may_remove and role in manageable,
                        on_value_change=lambda e, a=assignment_id: None if e.value else _act(
                            delete_rows(CONTACT_ROLES, [a], caller), "Rôle retiré.")).props(
                    "outline color=primary dense").mark(f"role-{assignment_id}")
    if CONTACT_ROLES.may_create(caller, school.uai) and people and manageable:
        with ui.row().classes("items-end gap-2 mt-2"):
            who = ui.select({c.id: f"{c.full_name} <{c.email}>" for c, _r in people}, label="Personne").classes(
                "w-80").mark("role-person")
            role = ui.select({code: ContactRole.label_of(code) for code in manageable}, label="Rôle").classes(
                "w-72").mark("role-choice")

            async def give() -> None:
                if not who.value or not role.value:
                    ui.notify("Choisissez une personne et un rôle.", type="warning")
                    return
                await _act(create_rows(CONTACT_ROLES, [{"contact": who.value, "role": role.value}], caller),
                           "Rôle ajouté.")

            ui.button("Ajouter ce rôle", icon="person_add", on_click=give).props("no-caps").mark("role-add")
    if CONTACTS.may_create(caller, school.uai):
        with ui.row().classes("items-end gap-2"):
            name = ui.input("Nom et prénom").classes("w-64").mark("person-name")
            email = ui.input("Adresse e-mail professionnelle").classes("w-80").mark("person-email")
            ui.button("Ajouter une personne", icon="add", on_click=lambda: _act(
                create_rows(CONTACTS, [{"school": school.uai, "full_name": name.value or "",
                                        "email": email.value or ""}], caller),
                "Personne ajoutée : donnez-lui ses rôles ci-dessus.")).props("flat no-caps").mark("person-add")
    ui.label("Le chef d'établissement gère tous les rôles (et désigne son successeur : un lycée garde toujours un chef "
             "d'établissement) ; l'ADML gère les groupes « La Poste », CRRE et RESP-AFFECT-GAR.").classes(
        "text-xs text-grey-7")
