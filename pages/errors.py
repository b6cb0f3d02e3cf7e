"""French error pages: 404 for unknown pages and malformed addresses, JSON errors under /api/."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from nicegui import App, Client, context, ui
from nicegui.page import page
from starlette.exceptions import HTTPException as StarletteHTTPException

from pages.components.frame import frame, school_entries


def not_found(title: str, message: str) -> None:
    """Render a French 'not found' page in the current page and answer HTTP 404."""
    context.client.status_code = 404
    with frame(title):
        _not_found_body(message)


async def school_or_not_found(uai: str, unknown: str = "") -> Any:
    """The school of a page's UAI, or None with the French 404 page shown (a malformed or an unknown UAI)."""
    from models.schools import InvalidUAI, get_school, normalize_uai

    try:
        code = normalize_uai(uai)
    except InvalidUAI as exc:
        not_found("Établissement introuvable", str(exc))
        return None
    school = await get_school(code)
    if school is None:
        not_found("Établissement introuvable", (unknown or "Aucun établissement n'a l'UAI {code}.").format(code=code))
    return school


def _not_found_body(message: str) -> None:
    with ui.card().classes("w-full items-center py-10 gap-3"):
        ui.icon("search_off", size="4rem").classes("text-grey-6")
        ui.label("Page introuvable (erreur 404)").classes("text-xl font-semibold")
        ui.label(message).classes("text-grey-8 text-center")
        with ui.row().classes("gap-4"):
            schools = school_entries()  # a school's person (e-mail link): its own school's page only
            for entry in schools:
                ui.link(f"Retour à {entry.label}", entry.path)
            if not schools:
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
    app.add_exception_handler(RequestValidationError, handle_validation)  # type: ignore[arg-type]


_PYDANTIC_FR = {
    "missing": "obligatoire", "extra_forbidden": "champ inconnu", "int_parsing": "nombre entier attendu",
    "int_type": "nombre entier attendu", "int_from_float": "nombre entier attendu", "bool_type": "Oui/Non attendu",
    "bool_parsing": "Oui/Non attendu", "string_type": "texte attendu", "float_type": "nombre attendu",
    "float_parsing": "nombre attendu", "list_type": "liste attendue", "dict_type": "objet attendu",
    "model_type": "objet attendu", "model_attributes_type": "objet attendu", "json_invalid": "JSON illisible",
    "string_too_long": "texte trop long", "string_too_short": "texte vide", "too_long": "trop d'éléments",
    "too_short": "pas assez d'éléments", "greater_than_equal": "valeur trop petite",
    "less_than_equal": "valeur trop grande", "greater_than": "valeur trop petite", "less_than": "valeur trop grande",
    "string_pattern_mismatch": "format refusé", "finite_number": "nombre fini attendu",
    "union_tag_invalid": "type de valeur refusé", "value_error": "valeur refusée",
}


def validation_message(errors: list[dict[str, Any]]) -> str:
    """A French summary of a request's validation errors (where and why; never the value itself)."""
    parts = []
    for e in errors[:10]:
        where = ".".join(str(x) for x in e.get("loc", ())[1:])[:80] or "corps"
        why = _PYDANTIC_FR.get(str(e.get("type", "")).split(".")[0], "valeur refusée")
        parts.append(f"{where} : {why}")
    more = f" (et {len(errors) - 10} autre(s))" if len(errors) > 10 else ""
    return "Requête invalide — " + " ; ".join(parts) + more + "."


async def handle_validation(request: Request, exc: RequestValidationError) -> Response:
    """A request whose body, path or query does not fit: 422 with a French reason (400 for unreadable JSON)."""
    errors = list(exc.errors())
    status = 400 if any(e.get("type") == "json_invalid" for e in errors) else 422
    return JSONResponse({"detail": validation_message(errors)}, status_code=status)
