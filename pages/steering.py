"""`/pilotage`: the steering charts of every area (each area registers its own, see pages/components/charts.py)."""

from __future__ import annotations

from nicegui import ui

from models.accounts import STAFF_ROLES
from pages.auth import caller_for_page, page
from pages.components.charts import charts_for, render
from pages.components.frame import frame
from sheets.engine.declaration import Nav


@page("/pilotage", roles=STAFF_ROLES, nav=Nav("Accueil", "insights", 5, "Pilotage"))
async def steering_page() -> None:
    """Every chart the caller's role may see: click a bar to open its rows, export the image or the data."""
    caller = await caller_for_page()
    charts = charts_for(caller)
    with frame("Pilotage", active="/pilotage"):
        ui.label("Graphiques de la campagne : un clic sur une barre ouvre la grille filtrée sur ce qu'elle compte ; "
                 "chaque graphique s'exporte en image (icône en haut à droite) et ses données en Excel.").classes(
            "text-grey-8")
        if not charts:
            ui.label("Aucun graphique pour votre rôle.").classes("text-grey-7")
        with ui.grid(columns="repeat(auto-fit, minmax(560px, 1fr))").classes("w-full gap-4"):
            for chart in charts:
                render(chart, await chart.build())
