"""School access as sheets: the access journal (links asked, sent, used, refused, sessions ended or revoked) and the
record of the student / teacher lists each school applied (R-SLOT-2)."""

from __future__ import annotations

from models.access import AccessEvent, AccessEventKind
from models.fleet import HolderKind
from models.school_lists import ListUpload
from sheets.engine.caller import REGION_EDITORS, REGION_READERS, SYSTEM
from sheets.engine.declaration import Column, Nav, Sheet, register
from sheets.engine.writes import WriteContext
from sheets.fleet import SCHOOL_FLEET

TEAM = REGION_EDITORS
REGION_TEAM = REGION_READERS

ACCESS_EVENTS = register(Sheet(
    name="access_events",
    label="Accès des établissements (lien e-mail)",
    model=AccessEvent,
    read_roles=TEAM,
    edit_roles=frozenset(),
    key="id",
    versioned=False,
    personal_data=True,
    default_sort=("-id",),
    nav=Nav("Administration", "mark_email_read", 40, "Accès des établissements"),
    description="Chaque demande de lien d'accès (adresse connue ou non), chaque lien envoyé, utilisé ou refusé, "
                "chaque session ouverte, terminée ou révoquée. La révocation se fait depuis la feuille Contacts "
                "(« Actions »).",
    columns=(
        Column("id", "N°", kind="integer", width=80),
        Column("at", "Date", kind="datetime", width=150),
        Column("kind", "Événement", kind="choice", choices=AccessEventKind, width=230),
        Column("email", "E-mail", width=240),
        Column("uais", "Établissement(s)", width=150),
        Column("ip", "Adresse réseau", width=130),
        Column("actor", "Par", width=200),
        Column("detail", "Détail", width=300),
    ),
))

async def _lists_applied(ctx: WriteContext) -> None:
    """R-SLOT-6: a student list applied changes the school's classes: the plan of its open slot is recomputed."""
    if getattr(ctx.instance, "kind", None) == HolderKind.STUDENT:
        from sheets.slots import replan_at_end

        replan_at_end(ctx.instance.school_id, ctx.caller)  # type: ignore[union-attr]


LIST_UPLOADS = register(Sheet(
    name="list_uploads",
    label="Listes élèves et enseignants importées",
    model=ListUpload,
    read_roles=REGION_TEAM | SCHOOL_FLEET,
    edit_roles=frozenset(),
    create_roles=frozenset({SYSTEM}),  # written by the list import itself (sheets/fleet_movements.py), never by hand
    key="id",
    default_sort=("-id",),
    school_path="school__uai",
    after_create=_lists_applied,
    nav=Nav("Parc", "fact_check", 50, "Listes importées"),
    description="Chaque base élèves (SIECLE) ou enseignants (STS) appliquée : quand, par qui, ce qu'elle a changé. "
                "À faire 7 jours ouvrés avant la livraison des PC (R-SLOT-2).",
    columns=(
        Column("id", "N°", kind="integer", width=80),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), on_create=True, required=True,
               width=110, link="/ecoles/{value}"),
        Column("kind", "Liste", kind="choice", choices=HolderKind, on_create=True, required=True, width=120),
        Column("uploaded_at", "Importée le", kind="datetime", width=150),
        Column("uploaded_by", "Par", on_create=True, width=240),
        Column("new", "Nouveaux", kind="integer", on_create=True, width=100),
        Column("moved", "Arrivés d'un autre lycée", kind="integer", on_create=True, width=120),
        Column("updated", "Changements", kind="integer", on_create=True, width=110),
        Column("left", "Partis", kind="integer", on_create=True, width=90),
    ),
))
