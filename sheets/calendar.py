"""The campaign calendar as a sheet: dated events of a year, their audience and reminder days."""

from __future__ import annotations

from typing import Any

from models.campaign import Audience, CampaignEvent, parse_days, shift_year
from models.schools import ContactRole
from sheets.engine.actions import ActionContext, RowAction
from sheets.engine.caller import REGION_EDITORS, REGION_READERS
from sheets.engine.declaration import Column, Nav, Sheet, register


def _days(value: str) -> str:
    return ",".join(str(d) for d in parse_days(value))


def _window(row: dict[str, Any]) -> None:
    start, due = row.get("starts_on"), row.get("due_on")
    if start and due and start > due:
        raise ValueError(f"La date de début ({start:%d/%m/%Y}) est après l'échéance ({due:%d/%m/%Y}).")


async def copy_next_year(ctx: ActionContext) -> str:
    """Copy a campaign's events to the next year, day and month kept (29/02 → 28/02), through the engine."""
    year = ctx.values.get("year")
    if year is None:
        raise ValueError("Indiquez la campagne à copier.")
    existing = set(await CampaignEvent.filter(year=year + 1).values_list("slug", flat=True))
    rows = [{"year": year + 1, "slug": e.slug, "rule_id": e.rule_id, "title": e.title, "action": e.action,
             "where": e.where, "starts_on": shift_year(e.starts_on), "due_on": shift_year(e.due_on),
             "audience": e.audience.value, "cc_role": e.cc_role.value if e.cc_role else None,
             "remind_days": e.remind_days}
            for e in await CampaignEvent.filter(year=year).order_by("due_on", "slug") if e.slug not in existing]
    if not rows:
        return f"Rien à copier : la campagne {year + 1} a déjà tous les événements de {year}."
    await ctx.create(rows)
    return f"{len(rows)} événement(s) copié(s) vers {year + 1}, dates décalées d'un an."


EDITORS = REGION_EDITORS

CALENDAR = register(Sheet(
    name="calendar",
    label="Calendrier de campagne",
    model=CampaignEvent,
    read_roles=REGION_READERS,
    edit_roles=EDITORS,
    create_roles=EDITORS,
    nav=Nav("Relances", "event", 20),
    actions=(RowAction("copy_next_year", "Copier vers l'année suivante", EDITORS, copy_next_year, rows="none",
                       fields=(Column("year", "Campagne à copier", kind="integer", required=True),),
                       icon="content_copy", help="Copie chaque événement de la campagne vers la suivante."),),
    key="id",
    default_sort=("year", "due_on", "slug"),
    page_path="/feuilles/calendar",
    row_validator=_window,
    description="Les échéances du livret, par année de campagne : qui est concerné et quand relancer.",
    columns=(
        Column("id", "N°", kind="integer", width=80),
        Column("year", "Campagne", kind="integer", width=100, required=True, on_create=True),
        Column("slug", "Code", width=140, required=True, on_create=True),
        Column("rule_id", "Règle", width=110, on_create=True),
        Column("title", "Intitulé", editable=True, required=True, width=300),
        Column("starts_on", "Début", kind="date", editable=True, width=120),
        Column("due_on", "Échéance le", kind="date", editable=True, required=True, width=120),
        Column("audience", "Public", kind="choice", editable=True, choices=Audience,
               width=160),
        Column("cc_role", "En copie", kind="choice", editable=True, choices=ContactRole,
               width=200),
        Column("remind_days", "Relances (jours avant)", editable=True, validator=_days, width=170,
               help="Ex. 14, 7, 2, 0 ; vide : affiché mais jamais envoyé."),
        Column("action", "À faire", editable=True, width=300),
        Column("where", "Où", editable=True, width=200),
    ),
))
