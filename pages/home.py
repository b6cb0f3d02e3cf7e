"""Home page: what needs attention now."""

from __future__ import annotations

from nicegui import ui

from models.schools import ACADEMIE_LABELS, school_overview, wifi_attention_schools
from pages.fmt import fr_number
from pages.layout import frame


def stat_card(label: str, value: str, icon: str, hint: str = "") -> None:
    """A figure in a card."""
    with ui.card().classes("min-w-48"):
        with ui.row().classes("items-center gap-3"):
            ui.icon(icon, size="md").classes("text-primary")
            with ui.column().classes("gap-0"):
                ui.label(value).classes("text-2xl font-bold")
                ui.label(label).classes("text-sm text-grey-8")
                if hint:
                    ui.label(hint).classes("text-xs text-grey-6")


@ui.page("/")
async def home_page() -> None:
    """Key figures and the schools to look at."""
    overview = await school_overview()
    with frame("Tableau de bord", active="/"):
        with ui.row().classes("gap-4 flex-wrap"):
            stat_card("établissements", fr_number(overview["total"]), "school")
            for code, label in ACADEMIE_LABELS.items():
                stat_card(f"académie de {label}", fr_number(overview["by_academie"].get(code, 0)), "place")
            stat_card("Wi-Fi à vérifier (MDM)", fr_number(overview["wifi_attention"]), "wifi_off",
                      "non configuré ou code changé")
            stat_card("avec CSN (télémaintenance)", fr_number(overview["csn"]), "settings_remote")
        with ui.card().classes("w-full"):
            ui.label("Échéances à venir").classes("text-lg font-semibold")
            ui.label("Le calendrier de campagne et les relances aux établissements s'afficheront ici.").classes(
                "text-grey-7")
        with ui.card().classes("w-full"):
            ui.label("Wi-Fi à configurer ou à reconnecter dans le MDM").classes("text-lg font-semibold")
            schools = await wifi_attention_schools(10)
            if not schools:
                ui.label("Aucun établissement à signaler.").classes("text-grey-7")
            with ui.list().props("dense separator").classes("w-full"):
                for s in schools:
                    with ui.item(on_click=lambda u=s.uai: ui.navigate.to(f"/ecoles/{u}")).props("clickable"):
                        with ui.item_section():
                            ui.item_label(f"{s.uai} · {s.name}")
                            ui.item_label(
                                "Code Wi-Fi changé après préparation : reconnecter chaque PC"
                                if s.wifi_code_changed else "Wi-Fi non configuré dans le MDM").props("caption")
            ui.link("Voir tous les établissements", "/ecoles")
