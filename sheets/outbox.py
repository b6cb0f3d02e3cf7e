"""The outbox as a read-only sheet: every mail the app sends, its state and its last error; failed ones can be put
back in the queue by the Région's team (a move of the outbox's life cycle, audited)."""

from __future__ import annotations

from typing import Any

from models.outbox import MailStatus, OutboxMail
from sheets.engine.caller import REGION_EDITORS
from sheets.engine.declaration import Column, Nav, Sheet, register
from sheets.engine.lifecycle import LifeCycle, Transition

TEAM = REGION_EDITORS


def _requeued(row: dict[str, Any], today: Any) -> dict[str, Any]:
    return {"attempts": 0, "next_attempt_at": None}


OUTBOX = register(Sheet(
    name="outbox",
    label="File d'envoi des courriels",
    model=OutboxMail,
    read_roles=TEAM,
    edit_roles=frozenset(),
    key="id",
    personal_data=True,
    versioned=False,  # the sending worker changes rows outside the engine (claims): infrastructure, not data
    default_sort=("-id",),
    school_path="school_uai",
    nav=Nav("Relances", "outbox", 30, "File d'envoi"),
    lifecycle=LifeCycle(
        field="status", states=MailStatus.choices(), initial=MailStatus.PENDING.value,
        transitions=(Transition("requeue", "Remettre en file", (MailStatus.FAILED.value,), MailStatus.PENDING.value,
                                TEAM, derive=_requeued,
                                help="Le prochain passage du robot d'envoi le renverra (même Message-ID)."),),
    ),
    description="Chaque courriel envoyé par l'application (relances, liens d'accès…) : en attente, envoyé, en échec "
                "avec la raison. Un courriel en échec se remet en file (action « Remettre en file »).",
    columns=(
        Column("id", "N°", kind="integer", width=80),
        Column("created_at", "Créé le", kind="datetime", width=140),
        Column("kind", "Type", width=100),
        Column("school_uai", "UAI", width=100, link="/ecoles/{value}"),
        Column("recipients", "Destinataires", width=260),
        Column("subject", "Objet", width=300),
        Column("status", "État", kind="choice", choices=MailStatus, width=120),
        Column("attempts", "Essais", kind="integer", width=80),
        Column("sent_at", "Envoyé le", kind="datetime", width=140),
        Column("last_error", "Dernière erreur", width=260),
    ),
))
