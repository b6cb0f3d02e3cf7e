"""Account rules without the UI, on SQLite and PostgreSQL: passwords, TOTP, recovery codes, tokens, roles, CLI."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from tortoise import timezone

from models.accounts import (
    FLEET_RESET_ROLES,
    RECOVERY_CODES,
    AccountError,
    ApiToken,
    EventKind,
    PasswordRefused,
    RecoveryCode,
    Role,
    SecurityEvent,
    User,
    authenticate,
    change_role,
    common_passwords,
    create_token,
    create_user,
    enable_totp,
    needs_totp_enrolment,
    password_expired,
    password_problem,
    password_warning,
    reset_totp,
    set_active,
    set_password,
    totp_secret_of,
    use_recovery_code,
    user_for_token,
    verify_totp,
)
from tests.factories import TEST_PASSWORD, make_account


def test_roles_are_the_contract_with_the_engine() -> None:
    from models.accounts import ACCOUNT_ROLES

    assert [r.value for r in Role] == ["admin", "agent", "lecteur", "laposte", "unowhy", "maintenance", "ecole"]
    # `ecole` is a school's person signed in by an e-mail link (school access), never an account.
    assert [r.value for r in ACCOUNT_ROLES] == ["admin", "agent", "lecteur", "laposte", "unowhy", "maintenance"]
    assert FLEET_RESET_ROLES == {Role.UNOWHY, Role.LAPOSTE}  # R-FLEET-5


async def test_no_account_can_have_the_school_role(sqlite_db: str) -> None:
    """R-SCH-5: the schools' people have no account, no password, no TOTP: the role `ecole` is refused to accounts."""
    import pytest

    from models.accounts import AccountError, change_role, create_user

    with pytest.raises(AccountError, match="lien d'accès par e-mail"):
        await create_user("chef@ac-paris.fr", "Chef", "ecole", password=TEST_PASSWORD)
    user = await make_account("agent")
    with pytest.raises(AccountError, match="lien e-mail"):
        await change_role(user, "ecole")


def test_r_basket_3_ordering_rights_come_from_crre_membership() -> None:
    from models.accounts import BasketRight, basket_rights
    from models.schools import ContactRole

    assert basket_rights([]) == {BasketRight.BROWSE}  # every teacher browses the catalogue
    assert basket_rights([ContactRole.CHEF, ContactRole.COORDONNATEUR]) == {BasketRight.BROWSE}
    assert basket_rights([ContactRole.CRRE_PRESCRIPTEUR]) == {BasketRight.BROWSE, BasketRight.CREATE}
    assert basket_rights([ContactRole.CRRE_VALIDEUR]) == set(BasketRight)


def test_r_sec_2_password_policy() -> None:
    assert len(common_passwords()) > 4000
    assert "trop courant" not in (password_problem("Trois souris vertes dansent", "a.b@x.fr") or "")
    assert password_problem("Trois souris vertes dansent", "a.b@x.fr") is None
    assert "au moins 12 caractères" in password_problem("Court-1!", "a@x.fr")  # type: ignore[operator]
    for common in ("azertyuiop123", "motdepasse2024!", "passwordpassword", "123456789012", "aaaaaaaaaaaaaa"):
        assert "trop courant" in (password_problem(common, "a@x.fr") or ""), common
    assert "adresse e-mail" in (password_problem("xx-camille.durand-2024", "camille.durand@iledefrance.fr") or "")
    assert "nom" in (password_problem("Durand et ses 3 chats", "camille.durand@iledefrance.fr") or "")


async def test_r_sec_2_passwords_are_argon2_and_renewed_twice_a_year(db: str) -> None:
    user, one_time = await create_user("Camille.Durand@IledeFrance.fr", "Camille Durand", Role.AGENT)
    assert user.email == "camille.durand@iledefrance.fr"
    assert user.password_hash.startswith("$argon2id$") and one_time not in user.password_hash
    assert user.must_change_password and password_expired(user, 182)  # a one-time password
    with pytest.raises(PasswordRefused, match="au moins 12"):
        await set_password(user, "court")
    await set_password(user, "Trois souris vertes dansent")
    assert not password_expired(user, 182) and password_warning(user, 182) is None
    now = timezone.now()
    assert password_warning(user, 182, now + timedelta(days=170)) is not None  # the banner's window
    assert password_expired(user, 182, now + timedelta(days=183))
    assert (await authenticate(user.email, "Trois souris vertes dansent", "10.1.1.1")).user is not None
    with pytest.raises(PasswordRefused, match="différent"):
        await set_password(user, "Trois souris vertes dansent")
    assert await SecurityEvent.filter(kind=EventKind.PASSWORD_CHANGED, email=user.email).count() == 1


async def test_lockout_counts_failures_since_the_last_success(db: str) -> None:
    user = await make_account("agent")
    for _ in range(4):
        assert (await authenticate(user.email, "faux", "10.0.0.9")).user is None
    assert (await authenticate(user.email, TEST_PASSWORD, "10.0.0.9")).user is not None
    from models.accounts import record_login

    await record_login(user, "10.0.0.9")
    for _ in range(4):
        await authenticate(user.email, "faux", "10.0.0.9")
    fifth = await authenticate(user.email, "faux", "10.0.0.9")
    assert fifth.user is None and fifth.wait_minutes == 15 and "bloqué 15 minute(s)" in fifth.message
    locked = await authenticate(user.email, TEST_PASSWORD, "10.0.0.9")
    assert locked.user is None and "Réessayez dans" in locked.message
    # Fifteen minutes later the account opens again.
    await SecurityEvent.filter(kind=EventKind.LOGIN_FAILED).update(created_at=timezone.now() - timedelta(minutes=16))
    assert (await authenticate(user.email, TEST_PASSWORD, "10.0.0.9")).user is not None


async def test_disabled_account_cannot_log_in_nor_use_tokens(db: str) -> None:
    admin = await make_account("admin")
    user = await make_account("laposte")
    _t, secret = await create_token(user, "export")
    assert (await user_for_token(secret)) is not None
    await set_active(user, False, actor=admin)
    result = await authenticate(user.email, TEST_PASSWORD)
    assert result.user is None and result.message.startswith("E-mail ou mot de passe incorrect")
    assert await user_for_token(secret) is None
    with pytest.raises(AccountError, match="dernier administrateur"):
        await set_active(admin, False)
    with pytest.raises(AccountError, match="dernier administrateur"):
        await change_role(admin, Role.AGENT)
    await change_role(user, Role.UNOWHY, actor=admin)
    event = await SecurityEvent.get(kind=EventKind.ROLE_CHANGED)
    assert event.detail == "laposte → unowhy" and event.actor_email == admin.email


async def test_totp_window_of_one_step_and_replay_refused(db: str) -> None:
    user = await make_account("agent")
    secret = pyotp.random_base32(32)
    totp = pyotp.TOTP(secret)
    assert await enable_totp(user, secret, "000000" if totp.now() != "000000" else "111111") is None
    codes = await enable_totp(user, secret, totp.now())
    assert codes is not None and len(codes) == RECOVERY_CODES == len(set(codes))
    assert await RecoveryCode.filter(user_id=user.id).count() == 10
    hashes = await RecoveryCode.all().values_list("code_hash", flat=True)
    assert not set(codes) & set(hashes)  # stored hashed
    assert not await verify_totp(user, totp.now())  # the enrolment's code was used already
    later = time.time() + 60  # two steps later
    assert await verify_totp(user, totp.at(later - 30), at=later)  # previous step: valid_window=1
    assert not await verify_totp(user, totp.at(later - 30), at=later)  # the same code again: replay
    assert await verify_totp(user, totp.at(later + 30), at=later)  # next step accepted
    assert not await verify_totp(user, totp.at(later + 120), at=later)  # two steps away: refused
    # Recovery codes: each once.
    assert await use_recovery_code(user, codes[0].upper())
    assert not await use_recovery_code(user, codes[0])
    await reset_totp(user)
    assert not user.totp_enabled and await RecoveryCode.filter(user_id=user.id).count() == 0
    kinds = await SecurityEvent.filter(email=user.email).values_list("kind", flat=True)
    assert {EventKind.TOTP_ENROLLED, EventKind.RECOVERY_CODE_USED, EventKind.TOTP_RESET} <= set(kinds)


async def test_r_sec_1_admins_need_totp(db: str) -> None:
    admin = await make_account("admin", totp=False)
    agent = await make_account("agent", totp=False)
    assert needs_totp_enrolment(admin) and not needs_totp_enrolment(agent)


async def test_tokens_are_hashed_and_revocable(db: str) -> None:
    user = await make_account("unowhy")
    token, secret = await create_token(user, "flotte")
    stored = await ApiToken.get(id=token.id)
    assert secret.startswith("rtr_") and stored.token_hash != secret and secret not in stored.prefix + stored.name
    assert (await user_for_token(secret)).id == user.id  # type: ignore[union-attr]
    assert await user_for_token(secret + "x") is None
    from models.accounts import revoke_token

    await revoke_token(stored)
    assert await user_for_token(secret) is None


# --- CLI -------------------------------------------------------------------------------------------

def test_cli_users_add_list_disable_reset_totp_token(isolated_settings: Path) -> None:
    from tests.cli import run_cli

    added = run_cli("users", "add", "Chef.Projet@iledefrance.fr", "--role", "admin", "--name", "Chef de projet")
    assert added.returncode == 0, added.stderr
    assert "Compte créé : chef.projet@iledefrance.fr" in added.stdout
    one_time = re.search(r"première connexion\) : (\S+)", added.stdout).group(1)  # type: ignore[union-attr]
    assert "double authentification" in added.stdout
    again = run_cli("users", "add", "chef.projet@iledefrance.fr", "--role", "agent")
    assert again.returncode == 1 and "existe déjà" in again.stderr
    assert run_cli("users", "add", "partenaire@laposte.fr", "--role", "laposte").returncode == 0
    listing = run_cli("users", "list")
    assert "chef.projet@iledefrance.fr" in listing.stdout and "2 compte(s)." in listing.stdout
    token = run_cli("users", "token", "partenaire@laposte.fr", "--name", "suivi")
    assert token.returncode == 0 and re.search(r"^rtr_\S{20,}$", token.stdout, re.M)
    assert run_cli("users", "reset-totp", "partenaire@laposte.fr").returncode == 0
    disabled = run_cli("users", "disable", "partenaire@laposte.fr")
    assert disabled.returncode == 0 and "désactivé" in disabled.stdout
    unknown = run_cli("users", "disable", "personne@nulle-part.fr")
    assert unknown.returncode == 1 and "aucun compte" in unknown.stderr
    with sqlite3.connect(isolated_settings / "test.sqlite3") as con:
        stored = con.execute("SELECT password_hash, must_change_password FROM app_user WHERE role='admin'").fetchone()
        assert stored[0].startswith("$argon2id$") and one_time not in stored[0] and stored[1] == 1
        kinds = [r[0] for r in con.execute("SELECT kind FROM securityevent ORDER BY id")]
        assert {"user_created", "token_created", "totp_reset", "user_disabled"} <= set(kinds)
        assert con.execute("SELECT count(*) FROM apitoken").fetchone()[0] == 1


def test_demo_accounts_one_per_role_printed_once(isolated_settings: Path) -> None:
    """The demo creates one account per role at first start and prints the credentials once."""
    import asyncio

    from models import db as database
    from seed.accounts import credentials_text, seed_demo_users

    async def run() -> tuple[list[dict[str, str]], list[dict[str, str]], list[User]]:
        await database.init(f"sqlite://{isolated_settings / 'demo.sqlite3'}")
        try:
            first = await seed_demo_users()
            second = await seed_demo_users()
            return first, second, await User.all()
        finally:
            await database.close()

    first, second, users = asyncio.run(run())
    assert {c["role"] for c in first} == {r.value for r in Role} - {"ecole"} and second == []
    admin = next(u for u in users if u.role == Role.ADMIN)
    assert admin.totp_enabled  # R-SEC-1
    text = credentials_text(first)
    for c in first:
        assert c["email"] in text and c["password"] in text
        assert all(c["password"] not in u.password_hash for u in users)
    assert totp_secret_of(admin) in text and admin.totp_secret not in text  # printed in clear, stored encrypted
