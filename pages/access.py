"""School access: the form asking for a link (`/acces`, and `POST /acces`), and the link itself (`/acces/<token>`).

`POST /acces` (form field or JSON `{"email": …}`) always answers 200 with the same French text, known address or
not; the work (journal, rate limits, link, mail) runs after the answer, so its time says nothing either. A known
contact's own address gets a single-use link valid 20 minutes, through the outbox; `GET /acces/<token>` opens a
school session (role `ecole`) on a new session id and answers 303 to its school's page, or a French page offering a
new link when the link is used, expired or unknown.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from nicegui import Client, ui
from nicegui.page import page as nicegui_page
from pydantic import BaseModel

import settings as settings_module
from models.access import TOKEN_MINUTES, open_session, request_link
from pages.auth import (
    ACCESS_PATH,
    client_ip,
    current_school,
    current_user,
    public_frame,
    start_school_session,
)

log = logging.getLogger("rentree.access")

NEUTRAL = ("Demande enregistrée. Si cette adresse est celle d'une personne qui tient un rôle dans un lycée, un lien "
           f"d'accès personnel vient de lui être envoyé : il est valable {TOKEN_MINUTES} minutes et ne sert qu'une "
           "fois. Pensez à regarder dans les courriers indésirables.")
REFUSED = ("Ce lien d'accès n'est plus valable : il a déjà servi, il a expiré (il est valable "
           f"{TOKEN_MINUTES} minutes) ou il est incomplet. Demandez-en un nouveau ci-dessous.")
SCHOOL_HOME = "/etablissement/{uai}"

_TASKS: set[asyncio.Task[None]] = set()


async def _send_link(raw_email: str, ip: str) -> None:
    """Record a request; for a known contact queue the link and send the outbox now (the worker retries if SMTP is
    down)."""
    from emails.access import queue_access_link
    from jobs.outbox import send_pending

    cfg = settings_module.get()
    try:
        link = await request_link(raw_email, ip)
        if link is None:
            return
        await queue_access_link(link, cfg.base_url, cfg.timezone)
        await send_pending(cfg)
    except Exception:  # a request never fails in front of the person: the journal and the outbox tell the team
        log.exception("demande de lien d'accès")


def ask_for_link(raw_email: str, ip: str) -> None:
    """Handle a request for a link after the answer (same answer, about the same time, for any address)."""
    task = asyncio.get_running_loop().create_task(_send_link(str(raw_email or "")[:254], ip))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


async def settled() -> None:
    """Wait for the requests being handled (tests, shutdown)."""
    while _TASKS:
        await asyncio.gather(*list(_TASKS), return_exceptions=True)


class LinkRequest(BaseModel):
    """A request for an access link."""

    email: str = ""


def build_router() -> APIRouter:
    """`POST /acces` and `GET /acces/<token>` (both open without a session: the login guard lets them through)."""
    router = APIRouter(tags=["Accès des établissements"])

    @router.post(ACCESS_PATH, summary="Demander un lien d'accès (personnels des lycées)")
    async def request_access(request: Request) -> Response:
        """Always 200 with the same French text; a link goes only to a known contact's own address."""
        email = ""
        kind = request.headers.get("content-type", "")
        body = await request.body()
        if len(body) <= 4096:
            if "json" in kind:
                try:
                    data: Any = json.loads(body or b"{}")
                except ValueError:
                    data = {}
                email = str(data.get("email", "")) if isinstance(data, dict) else ""
            else:
                form = await request.form()
                email = str(form.get("email") or "")
        ask_for_link(email, client_ip(request))
        if "json" in kind or "json" in request.headers.get("accept", ""):
            return JSONResponse({"detail": NEUTRAL})
        return _html_page(request, "Lien d'accès", NEUTRAL, 200)

    @router.get(ACCESS_PATH + "/{token}", include_in_schema=False)
    async def use_link(token: str, request: Request) -> Response:
        opened = await open_session(token, client_ip(request))
        if opened is None:
            return _html_page(request, "Lien non valable", REFUSED, 410, offer_new=True)
        await start_school_session(request, opened.session, opened.key)
        return RedirectResponse(SCHOOL_HOME.format(uai=opened.session.access.uais[0]), status_code=303)

    return router


def _html_page(request: Request, title: str, message: str, status: int, *, offer_new: bool = False) -> Response:
    """A French page without a session: the message and the way to a new link."""
    try:
        with Client(nicegui_page(""), request=request) as client:
            with public_frame(title):
                ui.label(title).classes("text-2xl font-semibold text-primary")
                ui.label(message).classes("text-grey-9").mark("access-message")
                ui.link("Demander un nouveau lien" if offer_new else "Retour", ACCESS_PATH).mark("new-link")
        return client.build_response(request, status)
    except Exception:  # outside NiceGUI (a bare ASGI test): plain HTML
        return HTMLResponse(f"<!DOCTYPE html><html lang='fr'><body><h1>{title}</h1><p>{message}</p>"
                            f"<a href='{ACCESS_PATH}'>Demander un nouveau lien</a></body></html>", status_code=status)


@ui.page(ACCESS_PATH)
async def access_page(fin: str = "", deconnecte: str = "") -> Response | None:
    """The form asking for a link: one field, the e-mail; the same answer whatever the address."""
    school = await current_school()
    if school is not None:
        return RedirectResponse(SCHOOL_HOME.format(uai=school.access.uais[0]), status_code=303)
    if await current_user() is not None:
        return RedirectResponse("/", status_code=303)
    ip = client_ip()
    with public_frame("Accès des établissements"):
        ui.label("Accès des établissements").classes("text-2xl font-semibold text-primary")
        if fin:
            ui.label("Votre session a pris fin (inactivité, révocation ou changement de vos rôles) : demandez un "
                     "nouveau lien.").classes("text-orange-9")
        if deconnecte:
            ui.label("Vous êtes déconnecté(e).").classes("text-green-8")
        ui.label("Chef d'établissement, coordonnateur numérique, ADML, membres des groupes « La Poste » et CRRE, "
                 "RESP-AFFECT-GAR : saisissez votre adresse e-mail professionnelle, celle que la Région connaît. Vous "
                 f"recevrez un lien personnel, valable {TOKEN_MINUTES} minutes et utilisable une fois, qui ouvre "
                 "l'espace de votre établissement.").classes("text-grey-8 text-sm")
        email = ui.input("Adresse e-mail").props('outlined autofocus type=email autocomplete=email '
                                                 'aria-label="Adresse e-mail"').classes("w-full").mark("access-email")
        button = ui.button("Recevoir mon lien d'accès", icon="mail").classes("w-full").mark("access-submit")
        answer = ui.label().classes("text-green-9").mark("access-answer")
        ui.label("L'adresse générique ce.… de l'établissement ne reçoit jamais de lien : utilisez votre propre "
                 "adresse.").classes("text-xs text-grey-7")
        with ui.row().classes("items-center gap-1 text-sm"):
            ui.label("Personnel de la Région ou partenaire :").classes("text-grey-8")
            ui.link("se connecter", "/login")

    def submit() -> None:
        value = (email.value or "").strip()
        if not value:
            answer.text = ""
            email.props("error error-message='Saisissez votre adresse e-mail.'")
            return
        email.props(remove="error error-message")
        ask_for_link(value, ip)
        answer.text = NEUTRAL
        email.value = ""

    button.on_click(submit)
    email.on("keydown.enter", submit)
    return None
