"""The shared layout: header with product name and user menu, navigation by area, footer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from nicegui import ui

import settings as settings_module

PRIMARY = "#1d4e89"


@dataclass(frozen=True)
class NavEntry:
    """One entry of the left navigation."""

    label: str
    path: str
    icon: str


NAV: list[NavEntry] = [
    NavEntry("Accueil", "/", "home"),
    NavEntry("Établissements", "/ecoles", "school"),
    NavEntry("Contacts", "/feuilles/contacts", "contacts"),
    NavEntry("Parc", "/parc", "laptop_chromebook"),
    NavEntry("Annuaire support", "/support", "support_agent"),
    NavEntry("Journal des modifications", "/journal", "manage_history"),
    NavEntry("API (OpenAPI)", "/docs", "api"),
    NavEntry("Relances", "/relances", "notifications_active"),
    NavEntry("Boîte de démonstration", "/boite-demo", "mark_email_unread"),
]


@contextmanager
def frame(title: str, *, active: str = "") -> Iterator[None]:
    """Lay out a page: header, navigation, title; the caller fills the content."""
    cfg = settings_module.get()
    ui.colors(primary=PRIMARY, secondary="#e2001a", accent="#f5a623")
    ui.page_title(f"{title} · Rentrée")
    with ui.header(elevated=True).classes("items-center px-4 py-2 bg-primary"):
        drawer_button = ui.button(icon="menu").props("flat round color=white aria-label=Menu")
        with ui.link(target="/").classes("no-underline text-white"):
            ui.label("Rentrée").classes("text-2xl font-bold tracking-tight")
        ui.label("Équipement numérique des lycées · Région Île-de-France").classes(
            "text-sm opacity-80 max-sm:hidden")
        ui.space()
        with ui.button(icon="account_circle").props("flat round color=white aria-label=Compte"):
            with ui.menu():
                ui.menu_item("Équipe Région (démo)" if cfg.is_demo else "Mon compte").props("disable")
    with ui.left_drawer(value=True, bordered=True).classes("bg-grey-1 p-0") as drawer:
        with ui.list().props("padding").classes("w-full"):
            for entry in NAV:
                selected = entry.path == active
                with ui.item(on_click=lambda p=entry.path: ui.navigate.to(p)).props(
                        f"clickable {'active' if selected else ''} active-class=text-primary").classes(
                        "rounded-r-full " + ("bg-blue-1 font-bold" if selected else "")):
                    with ui.item_section().props("avatar"):
                        ui.icon(entry.icon)
                    with ui.item_section():
                        ui.item_label(entry.label)
    drawer_button.on_click(drawer.toggle)
    with ui.column().classes("w-full max-w-screen-xl mx-auto p-6 gap-4"):
        ui.label(title).classes("text-2xl font-semibold text-primary")
        yield
    with ui.footer().classes("bg-grey-2 text-grey-9 text-sm px-6 py-2 items-center gap-6"):
        ui.label(f"Campagne {cfg.campaign_year}")
        ui.space()
        ui.link("Signaler un incident de sécurité", f"mailto:{cfg.rssi_email}").classes("text-red-9")
        ui.link("Fuite de données personnelles", f"mailto:{cfg.dpo_email}").classes("text-red-9")
