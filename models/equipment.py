"""Fixed equipment and computer rooms of the schools, from need to installation (R-FLEET-15).

Replaces the old ordering tool (Lystore): one row per need of a room (kind, quantity, track), followed through
order, delivery and installation, so that orders and deliveries are centralised by track and by school.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from itertools import pairwise
from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.vocab import Labeled


class EquipmentKind(Labeled):
    """What a fixed piece of equipment is."""

    DESKTOP = "poste_fixe", "Poste fixe"
    PROJECTOR = "videoprojecteur", "Vidéoprojecteur"
    SERVER = "serveur", "Serveur"
    WIFI = "borne_wifi", "Borne Wi-Fi"
    PRINTER = "imprimante", "Imprimante"
    OTHER = "autre", "Autre"


class TrackNeed(Labeled):
    """The track a need serves (R-SCH-4 tracks) or every track of the school."""

    ALL = "tous", "Toutes voies"
    GENERALE = "generale", "Générale"
    TECHNOLOGIQUE = "technologique", "Technologique"
    PROFESSIONNELLE = "professionnelle", "Professionnelle"


class EquipmentStatus(Labeled):
    """Steps of a need: expressed, ordered, delivered, installed, or withdrawn."""

    NEED = "besoin", "Besoin exprimé"
    ORDERED = "commande", "Commandé"
    DELIVERED = "livre", "Livré"
    INSTALLED = "installe", "Installé"
    WITHDRAWN = "retire", "Retiré"


# Dates a status needs, in order: each step needs its own date and the earlier ones.
_STEPS: tuple[tuple[EquipmentStatus, str, str], ...] = (
    (EquipmentStatus.ORDERED, "ordered_on", "Commandé le"),
    (EquipmentStatus.DELIVERED, "delivered_on", "Livré le"),
    (EquipmentStatus.INSTALLED, "installed_on", "Installé le"),
)
_RANK: dict[str, int] = {"besoin": 0, "commande": 1, "livre": 2, "installe": 3}


def _code(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


def check_equipment(row: dict[str, Any]) -> None:
    """R-FLEET-15: dates in order (commande ≤ livraison ≤ installation) and the status coherent with them."""
    quantity = row.get("quantity")
    if quantity is not None and int(quantity) < 1:
        raise ValueError("La quantité est d'au moins 1.")
    dates: list[tuple[str, dt.date]] = [(label, row[name]) for _s, name, label in _STEPS if row.get(name)]
    for (label_a, a), (label_b, b) in pairwise(dates):
        if a > b:
            raise ValueError(f"« {label_a} » ({a:%d/%m/%Y}) est après « {label_b} » ({b:%d/%m/%Y}) : "
                             "les dates suivent l'ordre commande, livraison, installation.")
    status = _code(row.get("status")) or EquipmentStatus.NEED.value
    if status == EquipmentStatus.WITHDRAWN:
        return
    rank = _RANK[status]
    for i, (step, name, label) in enumerate(_STEPS, start=1):
        if i <= rank and not row.get(name):
            raise ValueError(f"Statut « {EquipmentStatus.label_of(status)} » : la date « {label} » est obligatoire.")
        if i > rank and row.get(name):
            raise ValueError(f"Statut « {EquipmentStatus.label_of(status)} » incohérent avec la date « {label} » : "
                             f"passez le statut à « {EquipmentStatus.label_of(step.value)} » ou videz la date.")


class FixedEquipment(Model):
    """A need of fixed equipment in a room of a school, followed to its installation (R-FLEET-15)."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.School", related_name="equipment", on_delete=fields.CASCADE)
    room = fields.CharField(max_length=80)
    kind = fields.CharEnumField(EquipmentKind, max_length=16, default=EquipmentKind.DESKTOP)
    track = fields.CharEnumField(TrackNeed, max_length=16, default=TrackNeed.ALL)
    quantity = fields.IntField(default=1)
    status = fields.CharEnumField(EquipmentStatus, max_length=12, default=EquipmentStatus.NEED)
    ordered_on = fields.DateField(null=True)
    delivered_on = fields.DateField(null=True)
    installed_on = fields.DateField(null=True)
    order_ref = fields.CharField(max_length=40, default="")
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "fixed_equipment"
        indexes = (("school_id", "status"), ("track", "status"))


async def equipment_by_status(school_id: int) -> dict[str, int]:
    """Quantities of a school's fixed equipment by status, one grouped query: {status: quantity}."""
    from tortoise.functions import Sum

    rows = await FixedEquipment.filter(school_id=school_id).group_by("status").annotate(
        n=Sum("quantity")).values("status", "n")
    return {str(_code(r["status"])): int(r["n"] or 0) for r in rows}


async def needs_by_track() -> dict[str, dict[str, int]]:
    """Regional quantities by track need and status, one grouped query: {track: {status: quantity}}."""
    from tortoise.functions import Sum

    out: dict[str, dict[str, int]] = {}
    for r in await FixedEquipment.all().group_by("track", "status").annotate(n=Sum("quantity")).values(
            "track", "status", "n"):
        out.setdefault(str(_code(r["track"])), {})[str(_code(r["status"]))] = int(r["n"] or 0)
    return out
