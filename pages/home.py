"""Home page: what needs attention now."""

from __future__ import annotations

from nicegui import ui

from models.accounts import STAFF_ROLES
from models.schools import Academie, school_overview, wifi_attention_schools
from pages.auth import page
from pages.components.frame import frame
from pages.fmt import fr_number
from sheets.engine.declaration import Nav


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


async def upcoming_card() -> None:
    """The next campaign events and their next reminder day (content of the « Échéances à venir » card)."""
    from models.campaign import Audience, audience_sizes, upcoming_events
    from pages.fmt import fr_date
    from pages.reminders import reminder_next, today

    day = today()
    events = await upcoming_events(day, 6)
    if not events:
        ui.label("Aucune échéance à venir dans le calendrier de campagne.").classes("text-grey-7")
        ui.link("Préparer la campagne suivante (page Relances)", "/relances")
        return
    sizes = await audience_sizes()
    with ui.list().props("dense separator").classes("w-full"):
        for e in events:
            nxt = reminder_next(e, day)
            with ui.item(on_click=lambda d=e.due_on: ui.navigate.to(f"/relances?date={d.isoformat()}")).props(
                    "clickable"):
                with ui.item_section().props("avatar"):
                    ui.label(fr_date(e.due_on)).classes("font-mono font-semibold text-primary")
                with ui.item_section():
                    ui.item_label(f"{e.title} ({e.rule_id})")
                    audience = f"{Audience.label_of(e.audience.value)} ({fr_number(sizes.get(e.audience.value, 0))})"
                    reminder = f"prochaine relance le {fr_date(nxt)}" if nxt else "pas de relance par courriel"
                    ui.item_label(f"{audience} · {reminder}").props("caption")
    ui.link("Relances et calendrier de campagne", "/relances")


@page("/", roles=STAFF_ROLES, nav=Nav("Accueil", "home", 0, "Accueil"))
async def home_page() -> None:
    """Key figures and the schools to look at."""
    overview = await school_overview()
    with frame("Tableau de bord", active="/"):
        with ui.row().classes("gap-4 flex-wrap"):
            stat_card("établissements", fr_number(overview["total"]), "school")
            for code, label in Academie.choices():
                stat_card(f"académie de {label}", fr_number(overview["by_academie"].get(code, 0)), "place")
            stat_card("Wi-Fi à vérifier (MDM)", fr_number(overview["wifi_attention"]), "wifi_off",
                      "non configuré ou code changé")
            stat_card("avec CSN (télémaintenance)", fr_number(overview["csn"]), "settings_remote")
        with ui.card().classes("w-full"):
            ui.label("Échéances à venir").classes("text-lg font-semibold")
            await upcoming_card()
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
