"""Fixed equipment and computer rooms as a sheet (R-FLEET-15): the whole feature is this declaration."""

from __future__ import annotations

from models.equipment import (
    EquipmentKind,
    EquipmentStatus,
    FixedEquipment,
    TrackNeed,
    check_equipment,
)
from sheets.engine.caller import REGION_EDITORS
from sheets.engine.declaration import Column, Nav, Sheet, register


def _quantity(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ValueError("La quantité est d'au moins 1.")
    return value


def _order_ref(value: str) -> str:
    if value and len(value) > 40:
        raise ValueError("Référence de commande trop longue : 40 caractères au plus.")
    return value


def _room(value: str) -> str:
    if value and len(value) > 80:
        raise ValueError("Nom de salle trop long : 80 caractères au plus.")
    return value


EQUIPMENT = register(Sheet(
    name="equipment",
    label="Équipement fixe et salles",
    model=FixedEquipment,
    read_roles=frozenset({"admin", "agent", "lecteur", "maintenance"}),
    edit_roles=REGION_EDITORS,
    create_roles=REGION_EDITORS,
    key="id",
    default_sort=("school__uai", "room", "id"),
    school_path="school__uai",
    row_validator=check_equipment,
    nav=Nav("Parc", "desktop_windows", 50, "Équipement fixe et salles"),
    description="Parc fixe et salles informatiques (R-FLEET-15, remplace Lystore) : chaque besoin d'une salle, "
                "par voie, suivi de la commande à l'installation. Dates dans l'ordre ; « Livré » demande la date "
                "de livraison, « Installé » celle d'installation.",
    columns=(
        Column("id", "N°", kind="integer", width=80),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), editable=True, required=True,
               width=110, link="/parc/ecoles/{value}", aliases=("uai", "etablissement", "rne")),
        Column("room", "Salle", editable=True, required=True, validator=_room, width=190,
               aliases=("local", "salle informatique")),
        Column("kind", "Équipement", kind="choice", editable=True, required=True, width=150,
               choices=EquipmentKind, aliases=("type", "materiel")),
        Column("track", "Voie", kind="choice", editable=True, width=140, choices=TrackNeed,
               aliases=("voie concernee", "besoin voie")),
        Column("quantity", "Quantité", kind="integer", editable=True, required=True, validator=_quantity, width=100,
               aliases=("qte", "nombre")),
        Column("status", "Statut", kind="choice", editable=True, width=150,
               choices=EquipmentStatus,
               help="Besoin exprimé → commandé → livré → installé ; ou retiré."),
        Column("ordered_on", "Commandé le", kind="date", editable=True, width=120, aliases=("date de commande",)),
        Column("delivered_on", "Livré le", kind="date", editable=True, width=120, aliases=("date de livraison",)),
        Column("installed_on", "Installé le", kind="date", editable=True, width=120,
               aliases=("date d'installation",)),
        Column("order_ref", "Réf. commande", editable=True, validator=_order_ref, width=150,
               aliases=("reference commande", "bon de commande", "lystore")),
        Column("updated_at", "Modifié le", kind="datetime", width=150),
    ),
))
