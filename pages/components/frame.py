"""The shared layout: header with product name and user menu, navigation by area, footer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from nicegui import app, ui

import settings as settings_module
from sheets.engine.caller import Caller

PRIMARY = "#1d4e89"


SECTIONS = ("Accueil", "Établissements", "Parc", "Créneaux", "Manuels et ressources", "Maintenance", "Relances",
            "Administration", "Aide")


@dataclass(frozen=True)
class NavEntry:
    """One entry of the left navigation: a custom page's (registered with its roles) or a sheet's."""

    label: str
    path: str
    icon: str
    section: str = "Aide"
    order: int = 100
    roles: frozenset[str] = field(default_factory=frozenset)
    demo_only: bool = False

    def visible_to(self, caller: Caller) -> bool:
        """True when this caller may open the entry."""
        return caller.allowed(self.roles)


_PAGES: dict[str, NavEntry] = {}


def register_nav(entry: NavEntry) -> NavEntry:
    """Add a custom page to the navigation (same path again replaces it)."""
    _PAGES[entry.path] = entry
    return entry


def nav_entries(caller: Caller) -> list[NavEntry]:
    """The entries this caller may open: custom pages and sheets (their read roles), by section and order."""
    from sheets.engine.declaration import all_sheets

    entries = dict(_PAGES)
    for sheet in all_sheets():
        if sheet.nav is not None and sheet.path not in entries:
            entries[sheet.path] = NavEntry(sheet.nav.label or sheet.label, sheet.path, sheet.nav.icon,
                                           sheet.nav.section, sheet.nav.order, sheet.read_roles)
    demo = settings_module.get().is_demo
    visible = [e for e in entries.values() if e.visible_to(caller) and (demo or not e.demo_only)]
    rank = {name: i for i, name in enumerate(SECTIONS)}
    return sorted(visible, key=lambda e: (rank.get(e.section, len(SECTIONS)), e.order, e.label))


def session_info() -> dict[str, str]:
    """Who is logged in, as the login guard keeps it in the session (name, e-mail, role, password due)."""
    try:
        store = app.storage.user
    except RuntimeError:
        return {}
    return {k: str(store.get(k) or "") for k in ("name", "email", "role", "password_due")}


SCHOOL_PAGE = "/etablissement/{uai}"  # « Mon établissement » (pages/school.py)


def school_entries() -> list[NavEntry]:
    """A school session's navigation: the page of each of its schools (kept in the session by the login guard)."""
    try:
        schools = app.storage.user.get("schools") or []
    except RuntimeError:
        return []
    return [NavEntry(f"{name} ({uai})", SCHOOL_PAGE.format(uai=uai), "school", "Mon établissement", i)
            for i, (uai, name) in enumerate(schools)]


@contextmanager
def frame(title: str, *, active: str = "", fill: bool = False) -> Iterator[None]:
    """Lay out a page: header, navigation, title; the caller fills the content. `fill`: the content takes the
    window's height exactly (a grid page: the grid grows to the bottom, the page itself never scrolls)."""
    from pages.auth import watch_session  # here: pages.auth builds its pages with this frame

    cfg = settings_module.get()
    me = session_info()
    watch_session()
    ui.colors(primary=PRIMARY, secondary="#e2001a", accent="#f5a623")
    ui.page_title(f"{title} · Rentrée")
    with ui.header(elevated=True).classes("items-center px-4 py-2 bg-primary"):
        drawer_button = ui.button(icon="menu").props("flat round color=white aria-label=Menu")
        home = "/" if me.get("role") != "ecole" else (school_entries() or [NavEntry("", "/acces", "")])[0].path
        with ui.link(target=home).classes("no-underline text-white"):
            ui.label("Rentrée").classes("text-2xl font-bold tracking-tight")
        ui.label("Équipement numérique des lycées · Région Île-de-France").classes(
            "text-sm opacity-80 max-sm:hidden")
        ui.space()
        if me.get("role") and me.get("role") != "ecole":  # a school's people have their one school
            _search_box(Caller(actor=me.get("email", ""), role=me.get("role")))
        _user_menu(me)
    with ui.left_drawer(value=True, bordered=True).classes("bg-grey-1 p-0") as drawer:
        with ui.list().props("padding").classes("w-full"):
            section = ""
            school_session = me.get("role") == "ecole"
            entries = school_entries() if school_session else nav_entries(
                Caller(actor=me.get("email", ""), role=me.get("role") or None))
            for entry in entries:
                if entry.section != section and entry.section != "Accueil":
                    ui.item_label(entry.section).props("header").classes("text-xs uppercase text-grey-7 pt-3 pb-1")
                section = entry.section
                selected = entry.path == active
                with ui.item(on_click=lambda p=entry.path: ui.navigate.to(p)).props(
                        f"clickable {'active' if selected else ''} active-class=text-primary").classes(
                        "rounded-r-full " + ("bg-blue-1 font-bold" if selected else "")):
                    with ui.item_section().props("avatar"):
                        ui.icon(entry.icon)
                    with ui.item_section():
                        ui.item_label(entry.label)
    drawer_button.on_click(drawer.toggle)
    content = ui.column().classes("w-full max-w-screen-xl mx-auto p-6 gap-4" + (" no-wrap" if fill else ""))
    if fill:  # the window minus the header and the footer
        content.style("height: calc(100vh - 130px); overflow: hidden")  # NiceGUI pads its page by 1rem
    with content:
        _password_banner(me.get("password_due", ""))
        ui.label(title).classes("text-2xl font-semibold text-primary")
        yield
    with ui.footer().classes("bg-grey-2 text-grey-9 text-sm px-6 py-2 items-center gap-6"):
        ui.label(f"Campagne {cfg.campaign_year}")
        ui.space()
        ui.link("Signaler un incident de sécurité", f"mailto:{cfg.rssi_email}").classes("text-red-9")
        ui.link("Fuite de données personnelles", f"mailto:{cfg.dpo_email}").classes("text-red-9")


def _search_box(caller: Caller) -> None:
    """The header's search: results as you type (what the role may read), Enter opens the first one."""
    from sheets.search import search

    found: list[str] = []
    with ui.input(placeholder="Rechercher : UAI, nom, n° de série, porteur, ticket").props(
            'dense standout="bg-white text-black" dark clearable aria-label="Rechercher"').classes(
            "w-96 max-lg:w-64 max-md:hidden").mark("header-search") as box:
        with ui.menu().props("no-focus no-parent-event fit").mark("search-results") as menu:
            listing = ui.list().props("dense").classes("min-w-[24rem]")

    async def refresh() -> None:
        text = (box.value or "").strip()
        hits = await search(text, caller) if len(text) >= 2 else []
        found[:] = [h.url for h in hits]
        listing.clear()
        with listing:
            for hit in hits:
                with ui.item(on_click=lambda u=hit.url: ui.navigate.to(u)).props("clickable").mark("search-hit"):
                    with ui.item_section():
                        ui.item_label(hit.label)
                        ui.item_label(hit.kind).props("caption")
            if len(text) >= 2 and not hits:
                ui.item_label("Aucun résultat pour votre rôle.").classes("p-3 text-grey-7")
        if len(text) >= 2:
            menu.open()
        else:
            menu.close()

    typed = [0]

    async def changed() -> None:  # a pause of 150 ms in the typing, then one search
        typed[0] += 1
        mine = typed[0]
        await asyncio.sleep(0.15)
        if mine == typed[0]:
            await refresh()

    async def open_first() -> None:
        if not found:
            await refresh()
        if found:
            ui.navigate.to(found[0])

    box.on_value_change(changed)
    box.on("keydown.enter", open_first)


def _user_menu(me: dict[str, str]) -> None:
    """The header's user menu: name, role, « Mon compte », « Se déconnecter »."""
    from models.accounts import Role

    with ui.button(icon="account_circle").props("flat no-caps color=white aria-label=Compte"):
        if me.get("name"):
            ui.label(me["name"]).classes("ml-2 max-sm:hidden")
        with ui.menu():
            if me.get("name"):
                with ui.item().props("dense"):
                    with ui.item_section():
                        ui.item_label(me["name"]).classes("font-semibold")
                        ui.item_label(Role.label_of(me.get("role", ""), me.get("role", ""))).props("caption")
                ui.separator()
            if me.get("role") != "ecole":  # a school's person has no account: only their school's page
                ui.menu_item("Mon compte", on_click=lambda: ui.navigate.to("/compte")).mark("menu-account")
            ui.menu_item("Se déconnecter", on_click=lambda: ui.navigate.to("/logout")).mark("menu-logout")


def _password_banner(due_iso: str) -> None:
    """R-SEC-2: warn the user whose password is due soon."""
    if not due_iso:
        return
    due = datetime.fromisoformat(due_iso).astimezone(ZoneInfo(settings_module.get().timezone))
    with ui.row().classes("w-full items-center gap-2 bg-orange-1 text-orange-10 rounded px-4 py-2"):
        ui.icon("key")
        ui.label(f"Votre mot de passe doit être renouvelé avant le {due:%d/%m/%Y} (deux fois par année scolaire) : "
                 "changez-le maintenant, sinon il vous sera demandé à la prochaine connexion.")
        ui.link("Changer mon mot de passe", "/compte/mot-de-passe").classes("font-medium")
