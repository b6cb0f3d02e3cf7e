"""French error pages: 404 for unknown pages and malformed addresses, JSON errors under /api/."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from nicegui import App, Client, context, ui
from nicegui.page import page
from starlette.exceptions import HTTPException as StarletteHTTPException

from pages.components.frame import frame


def not_found(title: str, message: str) -> None:
    """Render a French 'not found' page in the current page and answer HTTP 404."""
    context.client.status_code = 404
    with frame(title):
        _not_found_body(message)


def _not_found_body(message: str) -> None:
    with ui.card().classes("w-full items-center py-10 gap-3"):
        ui.icon("search_off", size="4rem").classes("text-grey-6")
        ui.label("Page introuvable (erreur 404)").classes("text-xl font-semibold")
        ui.label(message).classes("text-grey-8 text-center")
        with ui.row().classes("gap-4"):
            ui.link("Retour à l'accueil", "/")
            ui.link("Liste des établissements", "/ecoles")


def install(app: App) -> None:
    """Replace NiceGUI's English 404 page with a French one; keep JSON for the API."""

    async def handle_404(request: Request, exc: Exception) -> Response:
        detail = exc.detail if isinstance(exc, StarletteHTTPException) else "Not Found"
        if request.url.path.startswith("/api/") or request.url.path.startswith("/_nicegui/"):
            message = detail if detail != "Not Found" else "Ressource introuvable."
            return JSONResponse({"detail": message}, status_code=404)
        with Client(page(""), request=request) as client:
            with frame("Page introuvable"):
                _not_found_body(f"L'adresse {request.url.path} ne correspond à aucune page de Rentrée.")
        return client.build_response(request, 404)

    app.add_exception_handler(404, handle_404)
