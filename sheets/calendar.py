"""The campaign calendar as a sheet: dated events of a year, their audience and reminder days."""

from __future__ import annotations

from typing import Any

from models.campaign import Audience, CampaignEvent, parse_days
from models.schools import ContactRole
from sheets.engine.declaration import Column, Sheet, register


def _days(value: str) -> str:
    return ",".join(str(d) for d in parse_days(value))


def _window(row: dict[str, Any]) -> None:
    start, due = row.get("starts_on"), row.get("due_on")
    if start and due and start > due:
        raise ValueError(f"La date de début ({start:%d/%m/%Y}) est après l'échéance ({due:%d/%m/%Y}).")


CALENDAR = register(Sheet(
    name="calendar",
    label="Calendrier de campagne",
    model=CampaignEvent,
    read_roles=frozenset({"admin", "agent", "lecteur"}),
    edit_roles=frozenset({"admin", "agent"}),
    key="id",
    default_sort=("year", "due_on", "slug"),
    page_path="/feuilles/calendar",
    row_validator=_window,
    description="Les échéances du livret, par année de campagne : qui est concerné et quand relancer.",
    columns=(
        Column("id", "N°", kind="integer", width=80),
        Column("year", "Campagne", kind="integer", width=100),
        Column("rule_id", "Règle", width=110),
        Column("title", "Échéance", editable=True, required=True, width=300),
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
