"""Support directory (R-ORG-3): which desk for what, when, how."""

from __future__ import annotations

from nicegui import ui

from models.accounts import STAFF_ROLES
from models.schools import support_desks
from pages.auth import page
from pages.components.frame import frame
from sheets.engine.declaration import Nav


@page("/support", roles=STAFF_ROLES, nav=Nav("Aide", "support_agent", 10, "Annuaire support"))
async def support_page() -> None:
    """The support desks, with the « ne pas diffuser » ones marked."""
    desks = await support_desks()
    with frame("Annuaire des supports", active="/support"):
        ui.label("Guichets génériques du livret de rentrée. Ceux marqués « ne pas diffuser » sont réservés "
                 "aux chefs d'établissement et coordonnateurs numériques.").classes("text-grey-8")
        with ui.row().classes("w-full gap-4 flex-wrap items-stretch"):
            for d in desks:
                with ui.card().classes("w-96"):
                    with ui.row().classes("items-center w-full"):
                        ui.label(d.name).classes("text-lg font-semibold")
                        ui.space()
                        if d.do_not_share:
                            ui.badge("Ne pas diffuser").props("color=red-8")
                    if d.topic:
                        ui.label(d.topic).classes("text-sm")
                    for icon, value in (("groups", d.audience), ("schedule", d.hours), ("call", d.phone),
                                        ("mail", d.email), ("place", d.address)):
                        if value:
                            with ui.row().classes("items-center gap-2 text-grey-9"):
                                ui.icon(icon, size="xs")
                                ui.label(value).classes("text-sm")
