"""The contacts sheet: people of the schools (R-SCH-5), one row per person and school (R-ORG-1)."""

from __future__ import annotations

from models.schools import Contact, normalize_email
from sheets.engine.declaration import Column, Sheet, register


def _email(value: str) -> str:
    return normalize_email(value)


CONTACTS = register(Sheet(
    name="contacts",
    label="Contacts des établissements",
    model=Contact,
    read_roles=frozenset({"admin", "agent", "lecteur"}),
    edit_roles=frozenset({"admin", "agent"}),
    key="id",
    personal_data=True,
    default_sort=("school__uai", "full_name"),
    page_path="/feuilles/contacts",
    description="Personnes des lycées et leurs adresses ; une même personne peut figurer dans deux lycées.",
    columns=(
        Column("id", "N°", kind="integer", width=90),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), editable=True, required=True,
               width=110, link="/ecoles/{value}", aliases=("uai", "etablissement")),
        Column("full_name", "Nom", editable=True, required=True, width=220, aliases=("nom", "nom complet")),
        Column("email", "E-mail", editable=True, required=True, validator=_email, width=260,
               aliases=("mail", "courriel", "adresse")),
        Column("until", "Jusqu'au", kind="date", editable=True, width=120,
               help="Dernier jour dans cet établissement (mutation)."),
        Column("updated_at", "Modifié le", kind="datetime", width=150),
    ),
))
