"""Test factories: schools with valid UAIs, contacts with roles."""

from __future__ import annotations

import itertools
from typing import Any

from models.schools import Contact, ContactRole, ContactRoleAssignment, School, uai_letter

_counter = itertools.count(1)


def next_uai(departement: str = "75") -> str:
    """A fresh valid UAI in a département (R-SCH-1)."""
    digits = f"0{departement}{next(_counter) % 10000:04d}"
    return digits + uai_letter(digits)


async def make_school(**fields: Any) -> School:
    """Create a school; unspecified fields get plausible values."""
    departement = str(fields.pop("departement", "75"))
    values: dict[str, Any] = {
        "uai": next_uai(departement), "name": f"Lycée d'essai {next(_counter)}", "commune": "Paris",
        "track_generale": True,
    }
    values.update(fields)
    school = School(**values)
    await school.save()
    return school


async def make_contact(school: School, roles: list[ContactRole] | None = None, **fields: Any) -> Contact:
    """Create a contact of a school with roles."""
    n = next(_counter)
    values: dict[str, Any] = {"full_name": f"Personne {n}", "email": f"personne{n}@ac-paris.fr"}
    values.update(fields)
    contact = Contact(school=school, **values)
    await contact.save()
    for role in roles or []:
        await ContactRoleAssignment.create(contact=contact, role=role)
    return contact
