"""Schools: the searchable list and the school page (« fiche établissement »)."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from models.accounts import Role, contacts_visible_to
from models.schools import (
    ACADEMIE_LABELS,
    CONTACT_ROLE_LABELS,
    DEPARTEMENT_LABELS,
    LEVEL_LABELS,
    MODE_LABELS,
    TRACK_LABELS,
    Enrolment,
    InvalidUAI,
    School,
    get_school,
    normalize_uai,
    school_contacts,
    search_schools,
)
from pages.auth import current_user
from pages.errors import not_found
from pages.fmt import fr_number, yes_no
from pages.layout import frame

PAGE_SIZE = 50

COLUMNS: list[dict[str, Any]] = [
    {"name": "uai", "label": "UAI", "field": "uai", "sortable": True, "align": "left"},
    {"name": "name", "label": "Nom", "field": "name", "sortable": True, "align": "left"},
    {"name": "type", "label": "Type", "field": "type", "sortable": True, "align": "left"},
    {"name": "commune", "label": "Commune", "field": "commune", "sortable": True, "align": "left"},
    {"name": "departement", "label": "Dép.", "field": "departement", "sortable": True, "align": "left"},
    {"name": "academie", "label": "Académie", "field": "academie", "sortable": True, "align": "left"},
    {"name": "mode", "label": "Manuels", "field": "mode", "align": "left"},
    {"name": "csn", "label": "CSN", "field": "csn", "align": "center"},
    {"name": "wifi", "label": "Wi-Fi MDM", "field": "wifi", "align": "left"},
]


def school_row(s: School) -> dict[str, Any]:
    """A school as a row of the list."""
    return {
        "uai": s.uai, "name": s.name, "type": s.type.value, "commune": s.commune,
        "departement": s.departement, "academie": ACADEMIE_LABELS[s.academie.value],
        "mode": MODE_LABELS[s.mode.value], "csn": yes_no(s.csn_deployed),
        "wifi": ("À reconnecter" if s.wifi_code_changed else "Configuré") if s.wifi_mdm_configured
        else "Non configuré",
    }


@ui.page("/ecoles")
async def schools_page(q: str = "") -> None:
    """The schools list: server-side paging, sorting and a search box."""
    with frame("Établissements", active="/ecoles"):
        state: dict[str, Any] = {"q": q}
        with ui.row().classes("w-full items-center gap-4"):
            search = ui.input("Rechercher (UAI, nom, commune)", value=q).props(
                "clearable outlined dense debounce=300").classes("w-96")
            count_label = ui.label().classes("text-grey-8")
        table = ui.table(
            columns=COLUMNS, rows=[], row_key="uai",
            pagination={"rowsPerPage": PAGE_SIZE, "sortBy": "uai", "descending": False, "page": 1,
                        "rowsNumber": 0},
        ).props("flat bordered dense :rows-per-page-options=[25,50,100]").classes("w-full")
        table.add_slot("body-cell-uai", r'''
            <q-td :props="props">
              <a :href="'/ecoles/' + props.value" class="text-primary font-mono">{{ props.value }}</a>
            </q-td>''')
        table.add_slot("body-cell-wifi", r'''
            <q-td :props="props">
              <q-badge :color="props.value === 'Configuré' ? 'green-7' : 'orange-8'">{{ props.value }}</q-badge>
            </q-td>''')

        async def load(pagination: dict[str, Any]) -> None:
            per_page = int(pagination.get("rowsPerPage") or PAGE_SIZE)
            page = max(1, int(pagination.get("page") or 1))
            rows, total = await search_schools(
                state["q"] or "", sort=pagination.get("sortBy") or "uai",
                descending=bool(pagination.get("descending")), offset=(page - 1) * per_page, limit=per_page)
            table.rows = [school_row(s) for s in rows]
            table.pagination = {**pagination, "page": page, "rowsPerPage": per_page, "rowsNumber": total}
            count_label.text = f"{fr_number(total)} établissement(s)"

        async def on_request(e: Any) -> None:
            await load(e.args["pagination"])

        async def on_search(e: Any) -> None:
            state["q"] = e.value or ""
            await load({**table.pagination, "page": 1})

        table.on("request", on_request)
        search.on_value_change(on_search)
        await load(table.pagination)


@ui.page("/ecoles/{uai}")
async def school_page(uai: str) -> None:
    """The school page: identity, generic address, flags, enrolments and contacts."""
    try:
        code = normalize_uai(uai)
    except InvalidUAI as exc:
        not_found("Établissement introuvable", str(exc))
        return
    school = await get_school(code)
    if school is None:
        not_found("Établissement introuvable",
                  f"Aucun établissement n'a l'UAI {code}. Vérifiez le code ou cherchez-le dans la liste.")
        return
    if code != uai:
        ui.navigate.to(f"/ecoles/{code}")
    viewer = await current_user()
    contacts = contacts_visible_to(viewer.role if viewer else Role.LECTEUR, await school_contacts(school))  # R-SEC-4
    enrolments = await Enrolment.filter(school=school).order_by("track", "level")
    with frame(f"{school.name}", active="/ecoles"):
        ui.link("← Tous les établissements", "/ecoles").classes("text-sm")
        with ui.row().classes("w-full gap-4 items-stretch flex-wrap"):
            with ui.card().classes("flex-1 min-w-80"):
                ui.label("Identité").classes("text-lg font-semibold")
                _facts([
                    ("UAI", school.uai),
                    ("Type", school.type.value),
                    ("Commune", f"{school.commune} ({school.postal_code})" if school.postal_code else school.commune),
                    ("Département", f"{school.departement} · {DEPARTEMENT_LABELS.get(school.departement, '')}"),
                    ("Académie", ACADEMIE_LABELS[school.academie.value]),
                    ("Adresse générique", school.generic_email),
                ])
            with ui.card().classes("flex-1 min-w-80"):
                ui.label("Équipement et services").classes("text-lg font-semibold")
                _facts([
                    ("Manuels", MODE_LABELS[school.mode.value]),
                    ("Voies", ", ".join(TRACK_LABELS[t.value] for t in school.tracks) or "—"),
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
                        ui.badge(CONTACT_ROLE_LABELS.get(role, role)).props("outline color=primary")
        with ui.card().classes("w-full"):
            total = sum(e.students for e in enrolments)
            ui.label(f"Effectifs ({fr_number(total)} élèves)").classes("text-lg font-semibold")
            if enrolments:
                ui.table(
                    columns=[{"name": "track", "label": "Voie", "field": "track", "align": "left"},
                             {"name": "level", "label": "Niveau", "field": "level", "align": "left"},
                             {"name": "students", "label": "Élèves", "field": "students", "align": "right"}],
                    rows=[{"id": e.id, "track": TRACK_LABELS[e.track.value], "level": LEVEL_LABELS[e.level.value],
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
