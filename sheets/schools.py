"""The schools sheet (R-SCH-1 … R-SCH-7)."""

from __future__ import annotations

from models.schools import (
    TYPE_TRACKS,
    Academie,
    InvalidUAI,
    Mode,
    School,
    SchoolType,
    normalize_uai,
)
from sheets.engine.caller import REGION_EDITORS
from sheets.engine.declaration import Column, Nav, Sheet, register
from sheets.engine.writes import WriteContext


def _uai(value: str) -> str:
    try:
        return normalize_uai(value)
    except InvalidUAI as exc:
        raise ValueError(str(exc)) from None


def _ssid(value: str) -> str:
    if value and len(value) > 32:
        raise ValueError(f"SSID « {value} » trop long : 32 caractères au plus.")
    return value


async def _new_school(ctx: WriteContext) -> None:
    """A school created without its tracks gets those its kind teaches (R-SCH-4), to be corrected if needed."""
    tracks = ("track_generale", "track_technologique", "track_professionnelle")
    if not any(ctx.values.get(t) for t in tracks):
        for track in TYPE_TRACKS.get(str(getattr(ctx.values.get("type"), "value", ctx.values.get("type")) or "LPO"),
                                     ()):
            ctx.values[f"track_{track}"] = True


SCHOOLS = register(Sheet(
    name="schools",
    label="Établissements",
    model=School,
    # `ecole`: a school's own people read their school's row (scope), through the engine's API.
    read_roles=frozenset({"admin", "agent", "lecteur", "laposte", "unowhy", "maintenance", "ecole"}),
    edit_roles=REGION_EDITORS,
    create_roles=frozenset({"admin"}),
    create_hook=_new_school,
    key="uai",
    default_sort=("uai",),
    school_path="uai",
    page_path="/ecoles",
    nav=Nav("Établissements", "school", 10),
    description="Les lycées publics : identité, manuels, CSN, Wi-Fi dans le MDM.",
    columns=(
        Column("uai", "UAI", validator=_uai, width=110, link="/ecoles/{value}", required=True, on_create=True,
               aliases=("code uai", "rne", "numero uai", "numero_lycee")),
        Column("name", "Nom", editable=True, required=True, width=320, aliases=("nom", "etablissement", "libelle")),
        Column("type", "Type", kind="choice", editable=True, width=90, aliases=("type lycee", "type_lycee"),
               choices=tuple((t.value, t.value) for t in SchoolType)),
        Column("commune", "Commune", editable=True, width=200),
        Column("postal_code", "Code postal", editable=True, width=110, aliases=("cp",)),
        Column("departement", "Département", width=110, aliases=("dep", "code departement", "code_departement"),
               help="Déduit de l'UAI (R-SCH-2)."),
        Column("academie", "Académie", kind="choice", width=120, choices=Academie),
        Column("mode", "Manuels", kind="choice", editable=True, width=120, choices=Mode),
        Column("track_generale", "Voie générale", kind="boolean", editable=True, width=110),
        Column("track_technologique", "Voie technologique", kind="boolean", editable=True, width=110),
        Column("track_professionnelle", "Voie professionnelle", kind="boolean", editable=True, width=110),
        Column("csn_deployed", "CSN déployé", kind="boolean", editable=True, width=110),
        Column("wifi_mdm_configured", "Wi-Fi dans le MDM", kind="boolean", editable=True, width=120),
        Column("wifi_ssid", "SSID", editable=True, validator=_ssid, width=140),
        Column("wifi_code_changed", "Code Wi-Fi changé", kind="boolean", editable=True, width=120),
        Column("updated_at", "Modifié le", kind="datetime", width=150),
    ),
))
