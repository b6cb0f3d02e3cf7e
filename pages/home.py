"""Home page: what needs attention now."""

from __future__ import annotations

from nicegui import ui

from models.accounts import STAFF_ROLES
from models.schools import Academie, school_overview
from pages.auth import page
from pages.components.frame import frame
from pages.components.home_board import alerts_for
from pages.fmt import fr_number
from pages.reminders import reminder_next
from settings import today
from sheets.engine.caller import Caller
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
    """The next campaign events and their next reminder day, with the campaign year they belong to said."""
    import settings as settings_module
    from models.campaign import Audience, audience_sizes, upcoming_events
    from pages.fmt import fr_date

    day = today()
    events = await upcoming_events(day, 6)
    years = sorted({e.year for e in events})
    configured = settings_module.get().campaign_year
    title = "Échéances à venir" + (f" — campagne {', '.join(str(y) for y in years)}" if years else "")
    ui.label(title).classes("text-lg font-semibold")
    if years and configured not in years:
        ui.label(f"La campagne affichée en bas de page ({configured}, réglage CAMPAIGN_YEAR) n'a plus d'échéance à "
                 f"venir : voici celles de la campagne suivante, copiées du livret.").classes("text-sm text-grey-8")
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
    """What needs attention now: alerts of every area, what is due in 14 days and what is late, the calendar."""
    from pages.auth import caller_for_page

    caller = await caller_for_page()
    overview = await school_overview()
    with frame("Tableau de bord", active="/"):
        with ui.row().classes("gap-4 flex-wrap"):
            stat_card("établissements", fr_number(overview["total"]), "school")
            for code, label in Academie.choices():
                stat_card(f"académie de {label}", fr_number(overview["by_academie"].get(code, 0)), "place")
            stat_card("avec CSN (télémaintenance)", fr_number(overview["csn"]), "settings_remote")
        await alerts_card(caller)
        with ui.card().classes("w-full"):
            ui.label("À faire dans les 14 jours et en retard, par module").classes("text-lg font-semibold")
            await outlook_card()
        with ui.card().classes("w-full"):
            await upcoming_card()


LEVELS = {"danger": ("error", "text-red-9", "bg-red-1"), "warning": ("warning", "text-orange-9", "bg-orange-1"),
          "info": ("info", "text-blue-9", "bg-blue-1")}


async def alerts_card(caller: Caller) -> None:
    """The alerts of every area this caller may open, each a link to where to act (not colour alone: an icon and
    a word say the level)."""
    alerts = await alerts_for(caller)
    with ui.card().classes("w-full"):
        ui.label("Alertes").classes("text-lg font-semibold")
        if not alerts:
            ui.label("Rien à signaler.").classes("text-grey-7")
        with ui.row().classes("w-full gap-3 flex-wrap"):
            for alert in alerts:
                icon, text, background = LEVELS.get(alert.level, LEVELS["info"])
                word = {"danger": "Urgent", "warning": "À traiter", "info": "À suivre"}.get(alert.level, "")
                with ui.link(target=alert.url).classes(f"no-underline rounded px-3 py-2 {background} {text}"):
                    with ui.row().classes("items-center gap-2 no-wrap"):
                        ui.icon(icon)
                        ui.label(fr_number(alert.count)).classes("text-xl font-semibold")
                        with ui.column().classes("gap-0"):
                            ui.label(alert.label).classes("text-sm")
                            ui.label(word).classes("text-xs uppercase")


async def outlook_card() -> None:
    """Per reminder rule (each area registers its own): how many schools have it due soon, how many are late."""
    from models.reminders import outlook
    from pages.fmt import fr_date

    rows = await outlook(today())
    if not rows:
        ui.label("Rien n'est dû dans les 14 prochains jours, rien n'est en retard.").classes("text-grey-7")
        return
    columns = [{"name": "rule", "label": "Suivi", "field": "rule", "align": "left"},
               {"name": "soon", "label": "Dû dans 14 jours", "field": "soon", "align": "right"},
               {"name": "next", "label": "Prochaine échéance", "field": "next", "align": "left"},
               {"name": "late", "label": "En retard", "field": "late", "align": "right"}]
    table = ui.table(columns=columns, row_key="rule", rows=[
        {"rule": o.rule.label, "soon": fr_number(o.soon), "next": fr_date(o.next_due) if o.next_due else "—",
         "late": fr_number(o.late) if o.rule.tracks_state else "—", "url": o.rule.url or "/relances"}
        for o in rows]).props("flat dense bordered").classes("w-full")
    table.add_slot("body-cell-rule", '<q-td :props="props"><a :href="props.row.url" class="text-primary">'
                                     '{{ props.value }}</a></q-td>')
