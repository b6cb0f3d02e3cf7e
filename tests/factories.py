"""Test factories: schools with valid UAIs, contacts with roles."""

from __future__ import annotations

import itertools
from typing import Any

from models.schools import Contact, ContactRole, ContactRoleAssignment, School, uai_letter

_counter = itertools.count(1)


def next_uai(departement: str = "75") -> str:
    """A fresh valid UAI in a département (R-SCH-1); never 0750650Z, which tests name as an unknown school."""
    n = next(_counter) % 10000
    if n == 650:
        n = next(_counter) % 10000
    digits = f"0{departement}{n:04d}"
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


# --- Accounts --------------------------------------------------------------------------------------

TEST_PASSWORD = "Correct-cheval-agrafe-pile-42"


async def make_account(role: str = "agent", *, totp: bool | None = None, **fields: Any) -> Any:
    """Create an account with TEST_PASSWORD, ready to log in (admins get TOTP, as R-SEC-1 requires)."""
    import pyotp

    from models.accounts import Role, create_user, set_totp_secret

    role = Role(role)
    n = next(_counter)
    email = fields.pop("email", f"{role.value}{n}@essai.iledefrance.fr")
    user, _ = await create_user(email, fields.pop("full_name", f"Compte {role.value} {n}"), role,
                                password=fields.pop("password", TEST_PASSWORD))
    if totp if totp is not None else role == Role.ADMIN:
        set_totp_secret(user, pyotp.random_base32(32))  # encrypted at rest, as the app stores it
        user.totp_enabled = True
    for key, value in fields.items():
        setattr(user, key, value)
    await user.save()
    return user


def totp_now(account: Any) -> str:
    """The current TOTP code of an account."""
    import pyotp

    from models.accounts import totp_secret_of

    return pyotp.TOTP(totp_secret_of(account)).now()


async def see(user: Any, text: str, seconds: float = 10) -> None:
    """Like user.should_see, waiting longer (a login checks an Argon2 hash in a worker thread)."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            await user.should_see(text, retries=1)
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def login(user: Any, role: str = "agent", account: Any = None, **fields: Any) -> Any:
    """Log a simulated user in through the real login page (creating an account of the role); return it."""
    import asyncio

    from nicegui import ui

    account = account or await make_account(role, **fields)
    await user.open("/login")
    user.find(kind=ui.input, content="Adresse e-mail").type(account.email)
    user.find(kind=ui.input, content="Mot de passe").type(TEST_PASSWORD)
    user.find(kind=ui.button, content="Se connecter").click()
    if account.totp_enabled:
        await see(user, "Saisissez le code à 6 chiffres")
        user.find(kind=ui.input, content="Code de vérification").type(totp_now(account))
        user.find("Valider").click()
    for _ in range(500):
        if user.back_history and user.back_history[-1].startswith("/login/session"):
            break
        await asyncio.sleep(0.02)
    assert user.back_history[-1].startswith("/login/session"), "login failed"
    await see(user, "Se déconnecter")  # the page after login (the one asked for, or a required step)
    return account


async def written_around_the_engine(*sheets: str) -> None:
    """A factory wrote with the ORM: bump those sheets' data versions as the engine would (caches forget them)."""
    from sheets.engine.dataversion import bump_versions, forget_local

    await bump_versions(sheets)
    forget_local(sheets)


async def bearer(role: str) -> dict[str, str]:
    """Authorization headers of a fresh account of a role (an admin has TOTP, R-SEC-1)."""
    from models.accounts import create_token

    account = await make_account(role)
    _token, secret = await create_token(account, "essai")
    return {"Authorization": f"Bearer {secret}"}
