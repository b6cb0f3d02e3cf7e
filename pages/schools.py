"""Schools: the searchable list and the school page (« fiche établissement »)."""

from __future__ import annotations

from fastapi import Request
from nicegui import ui

from models.accounts import STAFF_ROLES, Role, contacts_visible_to
from models.schools import (
    DEPARTEMENT_LABELS,
    Academie,
    ContactRole,
    Enrolment,
    Level,
    Mode,
    Track,
    school_contacts,
    school_overview,
)
from pages.auth import current_user, page
from pages.components.frame import frame
from pages.components.home_board import Alert, home_alert
from pages.errors import school_or_not_found
from pages.fmt import fr_number, yes_no
from pages.sheet_pages import sheet_grid_page
from sheets.engine.caller import Caller
from sheets.engine.query import scope_q
from sheets.engine.values import fold
from sheets.schools import SCHOOLS
from sheets.search import PER_KIND, Hit, Query, search_provider


@home_alert("schools.wifi", roles=SCHOOLS.read_roles, order=10)
async def wifi_alerts() -> list[Alert]:
    """R-SCH-7: schools whose Wi-Fi is missing from the MDM or changed after the preparation."""
    overview = await school_overview()
    return [Alert("Wi-Fi à configurer ou à reconnecter dans le MDM (R-SCH-7)", int(overview["wifi_attention"]),
                  "/ecoles", "warning")]


@page("/ecoles", roles=STAFF_ROLES)  # school people have « Mon établissement »
async def schools_page(request: Request) -> None:
    """The schools sheet: the engine's grid (filters, sort, edit, bulk, paste, undo, history)."""
    await sheet_grid_page(SCHOOLS, request)


@page("/ecoles/{uai}", roles=STAFF_ROLES)
async def school_page(uai: str) -> None:
    """The school page: identity, generic address, flags, enrolments and contacts."""
    school = await school_or_not_found(uai, "Aucun établissement n'a l'UAI {code}. Vérifiez le code ou cherchez-le "
                                            "dans la liste.")
    if school is None:
        return
    code = school.uai
    if code != uai:
        ui.navigate.to(f"/ecoles/{code}")
    viewer = await current_user()
    contacts = contacts_visible_to(viewer.role if viewer else Role.LECTEUR, await school_contacts(school))  # R-SEC-4
    enrolments = await Enrolment.filter(school=school).order_by("track", "level")
    with frame(f"{school.name}", active="/ecoles"):
        with ui.row().classes("gap-4 text-sm"):
            ui.link("← Tous les établissements", "/ecoles")
            ui.link("Parc de PC et d'écrans de l'établissement →", f"/parc/ecoles/{school.uai}")  # issue 6
            if viewer is not None and viewer.role in ("admin", "agent", "lecteur", "maintenance"):
                ui.link("Tickets de maintenance →", f"/maintenance/ecoles/{school.uai}")  # issue 14
        with ui.row().classes("w-full gap-4 items-stretch flex-wrap"):
            with ui.card().classes("flex-1 min-w-80"):
                ui.label("Identité").classes("text-lg font-semibold")
                _facts([
                    ("UAI", school.uai),
                    ("Type", school.type.value),
                    ("Commune", f"{school.commune} ({school.postal_code})" if school.postal_code else school.commune),
                    ("Département", f"{school.departement} · {DEPARTEMENT_LABELS.get(school.departement, '')}"),
                    ("Académie", Academie.label_of(school.academie.value)),
                    ("Adresse générique", school.generic_email),
                ])
            with ui.card().classes("flex-1 min-w-80"):
                ui.label("Équipement et services").classes("text-lg font-semibold")
                _facts([
                    ("Manuels", Mode.label_of(school.mode.value)),
                    ("Voies", ", ".join(Track.label_of(t.value) for t in school.tracks) or "—"),
                    ("CSN (télémaintenance)", yes_no(school.csn_deployed)),
                    ("Wi-Fi dans le MDM", yes_no(school.wifi_mdm_configured)),
                    ("SSID", school.wifi_ssid or "—"),
                ])
                if school.wifi_needs_attention:
                    with ui.row().classes("items-center gap-2 text-orange-9"):
                        ui.icon("warning")
                        ui.label("Code Wi-Fi changé : chaque PC doit être reconnecté." if school.wifi_code_changed
                                 else "Wi-Fi non configuré : une manipulation sera nécessaire sur chaque PC.")
        with ui.card().classes("w-full"):
            ui.label(f"Contacts ({len(contacts)})").classes("text-lg font-semibold")
            if not contacts:
                ui.label("Aucun contact enregistré.").classes("text-grey-7")
            for contact, roles in contacts:
                with ui.row().classes("items-center gap-2 w-full py-1 border-b border-grey-3"):
                    ui.label(contact.full_name).classes("font-medium min-w-48")
                    ui.label(contact.email).classes("text-grey-8 font-mono text-sm min-w-64")
                    for role in roles:
                        ui.badge(ContactRole.label_of(role, role)).props("outline color=primary")
        with ui.card().classes("w-full"):
            total = sum(e.students for e in enrolments)
            ui.label(f"Effectifs ({fr_number(total)} élèves)").classes("text-lg font-semibold")
            if enrolments:
                ui.table(
                    columns=[{"name": "track", "label": "Voie", "field": "track", "align": "left"},
                             {"name": "level", "label": "Niveau", "field": "level", "align": "left"},
                             {"name": "students", "label": "Élèves", "field": "students", "align": "right"}],
                    rows=[{"id": e.id, "track": Track.label_of(e.track.value), "level": Level.label_of(e.level.value),
                           "students": fr_number(e.students)} for e in enrolments],
                    row_key="id",
                ).props("flat dense bordered").classes("max-w-xl")
            else:
                ui.label("Aucun effectif saisi.").classes("text-grey-7")


def _facts(pairs: list[tuple[str, str]]) -> None:
    """Label / value pairs as a two-column grid."""
    with ui.grid(columns="auto 1fr").classes("gap-x-6 gap-y-1"):
        for label, value in pairs:
            ui.label(label).classes("text-grey-7")
            ui.label(value or "—").classes("font-medium")


@search_provider("établissement", SCHOOLS, order=10)
async def find_schools(query: Query, caller: Caller) -> list[Hit]:
    """A UAI (exact or its start) or words of a school's name or commune (470 rows: read whole)."""
    from models.schools import School

    hits: list[Hit] = []
    code = query.upper
    words = [w for w in fold(query.text).split() if w]
    for s in await School.filter(scope_q(SCHOOLS, caller)).order_by("uai").values("uai", "name", "commune"):
        name = fold(f"{s['name']} {s['commune']}")
        if s["uai"] == code:
            rank = 0
        elif s["uai"].startswith(code):
            rank = 1
        elif words and all(w in name for w in words):
            rank = 1 if fold(s["name"]).startswith(words[0]) else 2
        else:
            continue
        hits.append(Hit("Établissement", f"{s['uai']} · {s['name']} ({s['commune']})", f"/ecoles/{s['uai']}", rank))
    hits.sort(key=lambda h: h.rank)
    return hits[:PER_KIND]
