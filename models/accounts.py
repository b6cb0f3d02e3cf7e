"""Accounts: users and roles, Argon2 passwords, TOTP, recovery codes, API tokens and the security journal.

Rules: R-SEC-1 (admins use TOTP), R-SEC-2 (passwords renewed twice per school year), R-SEC-4 (each
role sees what its work needs), R-FLEET-5 (only Unowhy and La Poste reset or reassign a device).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise import fields, timezone
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.crypto import is_sealed, reseal, reveal, seal
from models.vocab import Labeled

# --- Roles -----------------------------------------------------------------------------------------


class Role(Labeled):
    """What a user may do: the Région's team, then the partners (R-SEC-4)."""

    ADMIN = "admin", "Administrateur (Région)"
    AGENT = "agent", "Agent de la Région"
    LECTEUR = "lecteur", "Lecteur (consultation)"
    LAPOSTE = "laposte", "La Poste"
    UNOWHY = "unowhy", "Unowhy"
    MAINTENANCE = "maintenance", "Maintenance (SPIE / ATOS)"
    # A school's own person signed in by a single-use e-mail link (models/access.py): never an account, no
    # password, no TOTP; its rights come from its contact roles (`ecole:<contact role>` in a sheet's roles).
    ECOLE = "ecole", "Établissement (lien e-mail)"


REGION_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.AGENT, Role.LECTEUR})
PARTNER_ROLES: frozenset[Role] = frozenset({Role.LAPOSTE, Role.UNOWHY, Role.MAINTENANCE})
EDIT_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.AGENT})
STAFF_ROLES: frozenset[Role] = REGION_ROLES | PARTNER_ROLES  # accounts of the Région's team and its partners
ACCOUNT_ROLES: tuple[Role, ...] = tuple(r for r in Role if r in STAFF_ROLES)  # roles an account may have, in order
# R-FLEET-5: only Unowhy and La Poste may reset a device to assign it to another person.
FLEET_RESET_ROLES: frozenset[Role] = frozenset({Role.UNOWHY, Role.LAPOSTE})

# R-SEC-4: the school contacts (personal data) each partner needs for its work; the Région's roles see all.
# La Poste: the school's « La Poste » group (books slots, signs certificates, R-SCH-5) and its head.
# Unowhy and maintenance: the head and the digital coordinator (after-sales, restock, tickets, R-TICKET-3).
PARTNER_CONTACT_ROLES: dict[str, frozenset[str]] = {
    "laposte": frozenset({"groupe_la_poste", "chef_etablissement"}),
    "unowhy": frozenset({"chef_etablissement", "coordonnateur_numerique"}),
    "maintenance": frozenset({"chef_etablissement", "coordonnateur_numerique"}),
}


def contacts_visible_to(role: Role | str, contacts: list[tuple[Any, list[str]]]) -> list[tuple[Any, list[str]]]:
    """R-SEC-4: the (contact, role codes) pairs a user of this role may see."""
    allowed = PARTNER_CONTACT_ROLES.get(Role(role).value)
    if allowed is None:
        return contacts
    return [(c, roles) for c, roles in contacts if allowed & set(roles)]


class BasketRight(StrEnum):
    """What a school's staff member may do with textbook baskets (R-BASKET-3)."""

    BROWSE = "browse"
    CREATE = "create"
    VALIDATE = "validate"


def basket_rights(contact_roles: set[str] | list[str]) -> set[BasketRight]:
    """R-BASKET-3: everyone browses, CRRE-PRESCRIPTEUR creates baskets, CRRE-VALIDEUR creates and validates."""
    roles = {str(r) for r in contact_roles}
    rights = {BasketRight.BROWSE}
    if roles & {"crre_prescripteur", "crre_valideur"}:
        rights.add(BasketRight.CREATE)
    if "crre_valideur" in roles:
        rights.add(BasketRight.VALIDATE)
    return rights


DEFAULT_ORGANISATION: dict[str, str] = {
    "admin": "Région Île-de-France", "agent": "Région Île-de-France", "lecteur": "Région Île-de-France",
    "laposte": "La Poste", "unowhy": "Unowhy", "maintenance": "SPIE / ATOS",
}

# --- Policy ----------------------------------------------------------------------------------------

MIN_PASSWORD_LENGTH = 12
LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15
ADDRESS_SLOWDOWN_AFTER = 10  # failures from one client address in LOCK_MINUTES before each answer slows
ADDRESS_LOCK_AFTER = 30  # failures from one client address in LOCK_MINUTES, any accounts: the address waits
STEP_UP_SECONDS = 300
PASSWORD_WARNING_DAYS = 14
RECOVERY_CODES = 10
TOTP_ISSUER = "Rentrée IDF"

_hasher = PasswordHasher()


class EventKind(Labeled):
    """Kinds of entries of the security journal."""

    LOGIN_OK = "login_ok", "Connexion réussie"
    LOGIN_FAILED = "login_failed", "Échec de connexion"
    LOGIN_LOCKED = "login_locked", "Connexion refusée (compte verrouillé)"
    LOCKOUT = "lockout", "Verrouillage (compte ou adresse)"  # an account, or a client address (email empty)
    LOGOUT = "logout", "Déconnexion"
    SESSION_EXPIRED = "session_expired", "Session expirée (inactivité)"
    TOTP_ENROLLED = "totp_enrolled", "Double authentification activée"
    TOTP_RESET = "totp_reset", "Double authentification réinitialisée"
    TOTP_FAILED = "totp_failed", "Code de double authentification refusé"
    RECOVERY_CODE_USED = "recovery_code_used", "Code de secours utilisé"
    STEP_UP = "step_up", "Confirmation par code (action d'administration)"
    PASSWORD_CHANGED = "password_changed", "Mot de passe changé"
    PASSWORD_RESET = "password_reset", "Mot de passe réinitialisé"
    USER_CREATED = "user_created", "Compte créé"
    ROLE_CHANGED = "role_changed", "Rôle modifié"
    USER_DISABLED = "user_disabled", "Compte désactivé"
    USER_ENABLED = "user_enabled", "Compte réactivé"
    TOKEN_CREATED = "token_created", "Jeton d'API créé"
    TOKEN_REVOKED = "token_revoked", "Jeton d'API révoqué"


class User(Model):
    """A person who logs in: the Région's team or a partner."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    full_name = fields.CharField(max_length=120)
    role = fields.CharEnumField(Role, max_length=16)
    organisation = fields.CharField(max_length=120, default="")
    is_active = fields.BooleanField(default=True)
    password_hash = fields.CharField(max_length=255, default="")
    password_changed_at = fields.DatetimeField(null=True)
    must_change_password = fields.BooleanField(default=True)
    totp_secret = fields.CharField(max_length=255, default="")  # encrypted: models.crypto.seal
    totp_enabled = fields.BooleanField(default=False)
    totp_last_step = fields.BigIntField(default=0)
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Changed whenever the account's sessions must end (password, role, disabled, TOTP reset): a session
    # remembers the value it was opened with and ends when it differs.
    security_stamp = fields.CharField(max_length=32, default="")

    class Meta:
        table = "app_user"
        ordering = ["email"]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    @property
    def role_label(self) -> str:
        """The role in French."""
        return Role.label_of(Role(self.role).value)


class RecoveryCode(Model):
    """A one-time TOTP recovery code, stored hashed."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="recovery_codes", on_delete=fields.CASCADE)
    code_hash = fields.CharField(max_length=64)
    used_at = fields.DatetimeField(null=True)


class ApiToken(Model):
    """A bearer token for partners and scripts, stored hashed, carrying its user's rights."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tokens", on_delete=fields.CASCADE)
    name = fields.CharField(max_length=100)
    prefix = fields.CharField(max_length=16)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        ordering = ["-created_at"]


class SecurityEvent(Model):
    """One entry of the security journal: logins, lockouts, TOTP, roles, tokens."""

    id = fields.IntField(primary_key=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    kind = fields.CharEnumField(EventKind, max_length=32)
    email = fields.CharField(max_length=254, default="", db_index=True)
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="security_events", null=True, on_delete=fields.SET_NULL)
    actor_email = fields.CharField(max_length=254, default="")
    ip = fields.CharField(max_length=64, default="", db_index=True)
    detail = fields.CharField(max_length=500, default="")

    class Meta:
        ordering = ["-created_at", "-id"]


# --- Journal ---------------------------------------------------------------------------------------

async def log_event(kind: EventKind, *, user: User | None = None, email: str = "", actor: User | None = None,
                    ip: str = "", detail: str = "") -> SecurityEvent:
    """Write an entry of the security journal."""
    return await SecurityEvent.create(
        kind=kind, user=user, email=(email or (user.email if user else "")).lower()[:254],
        actor_email=actor.email if actor else "", ip=ip[:64], detail=detail[:500])


EVENT_SORTS = {"created_at", "kind", "email", "ip", "actor_email"}


async def search_events(q: str = "", *, sort: str = "created_at", descending: bool = True, offset: int = 0,
                        limit: int = 50) -> tuple[list[SecurityEvent], int]:
    """One page of the security journal, filtered by e-mail, address or detail, and the total."""
    query = SecurityEvent.all()
    if q.strip():
        text = q.strip()
        query = query.filter(Q(email__icontains=text) | Q(ip__icontains=text) | Q(detail__icontains=text)
                             | Q(actor_email__icontains=text))
    column = sort if sort in EVENT_SORTS else "created_at"
    total = await query.count()
    rows = await query.order_by(f"-{column}" if descending else column, "-id").offset(offset).limit(limit)
    return rows, total


# --- Sessions --------------------------------------------------------------------------------------

SessionListener = Callable[[int], None]
_session_listener: SessionListener | None = None


def on_sessions_revoked(listener: SessionListener | None) -> None:
    """Call this function with a user id whenever that user's sessions are revoked (the web app ends its pages)."""
    global _session_listener
    _session_listener = listener


def new_stamp(user: User) -> None:
    """Give the user a new security stamp (saved by the caller): every session opened before it ends."""
    user.security_stamp = secrets.token_hex(16)


def sessions_revoked(user: User) -> None:
    """Tell the web app, when it runs in this process, that the user's open pages must end now."""
    if _session_listener is not None and user.id is not None:
        _session_listener(user.id)


# --- Passwords -------------------------------------------------------------------------------------

@cache
def common_passwords() -> frozenset[str]:
    """The list of common passwords shipped with the app (lower case)."""
    path = Path(__file__).with_name("common_passwords.txt")
    return frozenset(line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                     if line.strip() and not line.startswith("#"))


def password_problem(password: str, email: str = "") -> str | None:
    """Why a password is refused (French, says what to do), or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return (f"Le mot de passe doit contenir au moins {MIN_PASSWORD_LENGTH} caractères "
                f"({len(password)} saisi(s)) : une phrase de plusieurs mots convient bien.")
    low = password.lower()
    core = low.rstrip(string.digits + string.punctuation + " ").lstrip(string.digits + string.punctuation + " ")
    if low in common_passwords() or (core and core in common_passwords()) or len(set(low)) <= 2:
        return "Ce mot de passe est trop courant et facile à deviner : choisissez-en un autre."
    local = email.split("@", 1)[0].lower()
    if len(local) >= 3 and local in low:
        return "Le mot de passe ne doit pas contenir votre adresse e-mail : choisissez-en un autre."
    for part in local.replace("-", ".").replace("_", ".").split("."):
        if len(part) >= 4 and part in low:
            return "Le mot de passe ne doit pas contenir votre nom ni votre adresse e-mail : choisissez-en un autre."
    return None


def use_light_hashing() -> None:
    """Cheaper Argon2id parameters, for the test suite only (hashes stay Argon2id and verifiable)."""
    global _hasher
    _hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def hash_password(password: str) -> str:
    """Argon2id hash of a password."""
    return _hasher.hash(password)


def check_password(stored_hash: str, password: str) -> bool:
    """True when the password matches the stored Argon2 hash."""
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def hash_password_async(password: str) -> str:
    """hash_password in a worker thread: Argon2 takes a few hundred ms and must not stall the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def check_password_async(stored_hash: str, password: str) -> bool:
    """check_password in a worker thread (Argon2 releases the GIL)."""
    return await asyncio.to_thread(check_password, stored_hash, password)


def generate_password() -> str:
    """A random one-time password that passes the policy."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(3))


def password_due(user: User, max_age_days: int) -> datetime | None:
    """When the user's password must be renewed (R-SEC-2: twice per school year), None if never set."""
    if user.password_changed_at is None:
        return None
    return user.password_changed_at + timedelta(days=max_age_days)


def password_expired(user: User, max_age_days: int, now: datetime | None = None) -> bool:
    """True when the password must be changed before going further (R-SEC-2)."""
    due = password_due(user, max_age_days)
    return user.must_change_password or (due is not None and (now or timezone.now()) >= due)


def password_warning(user: User, max_age_days: int, now: datetime | None = None) -> datetime | None:
    """The due date when it is near (the banner shows it), else None (R-SEC-2)."""
    due = password_due(user, max_age_days)
    now = now or timezone.now()
    if due is not None and due - timedelta(days=PASSWORD_WARNING_DAYS) <= now:
        return due
    return None


class PasswordRefused(ValueError):
    """A password the policy refuses; the message is in French."""


async def set_password(user: User, password: str, *, actor: User | None = None, ip: str = "",
                       temporary: bool = False) -> None:
    """Set a new password (checked against the policy), logged in the journal."""
    problem = password_problem(password, user.email)
    if problem and not temporary:
        raise PasswordRefused(problem)
    if not temporary and await check_password_async(user.password_hash, password):
        raise PasswordRefused("Le nouveau mot de passe doit être différent de l'actuel.")
    user.password_hash = await hash_password_async(password)
    user.password_changed_at = timezone.now()
    user.must_change_password = temporary
    new_stamp(user)
    await user.save(update_fields=["password_hash", "password_changed_at", "must_change_password", "security_stamp"])
    sessions_revoked(user)
    await log_event(EventKind.PASSWORD_RESET if temporary else EventKind.PASSWORD_CHANGED, user=user, actor=actor,
                    ip=ip)


# --- Users -----------------------------------------------------------------------------------------

class AccountError(ValueError):
    """A user-management action that cannot be done; the message is in French."""


def normalize_email(raw: str) -> str:
    """A login e-mail in lower case, or AccountError when it does not look like one."""
    email = (raw or "").strip().lower()
    if "@" not in email or email.startswith("@") or "." not in email.split("@", 1)[1] or " " in email:
        raise AccountError(f"Adresse e-mail invalide : « {raw} » (exemple : prenom.nom@iledefrance.fr).")
    return email


async def create_user(email: str, full_name: str, role: Role | str, *, organisation: str = "",
                      password: str | None = None, actor: User | None = None, ip: str = "") -> tuple[User, str]:
    """Create an account; return it and its one-time password (to change at first login)."""
    email = normalize_email(email)
    raw_role = role
    try:
        role = Role(role)
    except ValueError:
        role = None  # type: ignore[assignment]
    if role not in ACCOUNT_ROLES:
        raise AccountError(f"Rôle inconnu pour un compte : « {raw_role} » (rôles : "
                           f"{', '.join(r.value for r in ACCOUNT_ROLES)}). Les personnels des lycées n'ont pas de "
                           "compte : ils reçoivent un lien d'accès par e-mail (/acces).") from None
    if await User.filter(email=email).exists():
        raise AccountError(f"Un compte existe déjà pour {email}.")
    one_time = password or generate_password()
    user = await User.create(
        email=email, full_name=(full_name or email.split("@")[0]).strip()[:120], role=role,
        organisation=organisation or DEFAULT_ORGANISATION[role.value],
        password_hash=await hash_password_async(one_time),
        password_changed_at=timezone.now(), must_change_password=password is None)
    await log_event(EventKind.USER_CREATED, user=user, actor=actor, ip=ip, detail=f"rôle {role.value}")
    return user, one_time


async def find_user(email: str) -> User | None:
    """The account of an e-mail (any case), or None."""
    return await User.get_or_none(email=(email or "").strip().lower())


async def active_user(user_id: int | None) -> User | None:
    """The active account of an id, or None."""
    if not user_id:
        return None
    return await User.get_or_none(id=user_id, is_active=True)


async def change_role(user: User, role: Role | str, *, actor: User | None = None, ip: str = "") -> None:
    """Change a user's role, logged."""
    new = Role(role)
    old = Role(user.role)
    if new == old:
        return
    if new not in ACCOUNT_ROLES:
        raise AccountError(f"Rôle « {new.label} » impossible pour un compte : les personnels des lycées entrent par "
                           "un lien e-mail.")
    if old == Role.ADMIN and not await User.filter(role=Role.ADMIN, is_active=True).exclude(id=user.id).exists():
        raise AccountError("Impossible : c'est le dernier administrateur actif. "
                           "Nommez d'abord un autre administrateur.")
    user.role = new
    new_stamp(user)
    await user.save(update_fields=["role", "security_stamp"])
    sessions_revoked(user)
    await log_event(EventKind.ROLE_CHANGED, user=user, actor=actor, ip=ip, detail=f"{old.value} → {new.value}")


async def set_active(user: User, active: bool, *, actor: User | None = None, ip: str = "") -> None:
    """Disable or re-enable an account, logged (a disabled account's tokens stop working too)."""
    if user.is_active == active:
        return
    if not active and user.role == Role.ADMIN and not await User.filter(
            role=Role.ADMIN, is_active=True).exclude(id=user.id).exists():
        raise AccountError("Impossible : c'est le dernier administrateur actif.")
    user.is_active = active
    new_stamp(user)
    await user.save(update_fields=["is_active", "security_stamp"])
    sessions_revoked(user)
    await log_event(EventKind.USER_ENABLED if active else EventKind.USER_DISABLED, user=user, actor=actor, ip=ip)


async def reset_password(user: User, *, actor: User | None = None, ip: str = "") -> str:
    """Give the user a new one-time password (to change at next login); return it."""
    one_time = generate_password()
    await set_password(user, one_time, actor=actor, ip=ip, temporary=True)
    return one_time


# --- Login and throttling ---------------------------------------------------------------------------

@dataclass
class LoginResult:
    """The outcome of a password check."""

    user: User | None = None
    message: str = ""
    wait_minutes: int = 0
    slow_down: float = 0.0


BAD_CREDENTIALS = "E-mail ou mot de passe incorrect. Vérifiez votre saisie et réessayez."
ADDRESS_LOCKED_MESSAGE = ("Trop d'échecs de connexion depuis votre adresse réseau : les connexions en sont refusées "
                          "pendant {minutes} minute(s). Réessayez plus tard, ou contactez un administrateur de la "
                          "Région.")


async def lock_state(email: str, now: datetime | None = None) -> datetime | None:
    """Until when logins to an e-mail are refused after repeated failures, or None."""
    now = now or timezone.now()
    window = now - timedelta(minutes=LOCK_MINUTES)
    last_ok = await SecurityEvent.filter(kind=EventKind.LOGIN_OK, email=email).order_by("-created_at").first()
    query = SecurityEvent.filter(kind=EventKind.LOGIN_FAILED, email=email, created_at__gt=window)
    if last_ok is not None:
        query = query.filter(created_at__gt=last_ok.created_at)
    recent = await query.order_by("-created_at").limit(LOCK_AFTER_FAILURES).values_list("created_at", flat=True)
    if len(recent) >= LOCK_AFTER_FAILURES:
        until = recent[0] + timedelta(minutes=LOCK_MINUTES)
        if until > now:
            return until
    return None


async def address_slowdown(ip: str) -> float:
    """Seconds to wait before answering a client address with many recent failures (any account)."""
    if not ip:
        return 0.0
    since = timezone.now() - timedelta(minutes=LOCK_MINUTES)
    failures = await SecurityEvent.filter(kind=EventKind.LOGIN_FAILED, ip=ip, created_at__gt=since).count()
    return float(min(10, failures - ADDRESS_SLOWDOWN_AFTER + 1)) if failures >= ADDRESS_SLOWDOWN_AFTER else 0.0


async def address_lock(ip: str, now: datetime | None = None) -> datetime | None:
    """Until when logins from a client address are refused after ADDRESS_LOCK_AFTER failures (any accounts)."""
    if not ip:
        return None
    now = now or timezone.now()
    recent = await SecurityEvent.filter(
        kind=EventKind.LOGIN_FAILED, ip=ip, created_at__gt=now - timedelta(minutes=LOCK_MINUTES)).order_by(
        "-created_at").limit(ADDRESS_LOCK_AFTER).values_list("created_at", flat=True)
    if len(recent) >= ADDRESS_LOCK_AFTER:
        until = recent[0] + timedelta(minutes=LOCK_MINUTES)
        if until > now:
            return until
    return None


def _minutes_until(until: datetime) -> int:
    return max(1, int((until - timezone.now()).total_seconds() + 59) // 60)


async def authenticate(email: str, password: str, ip: str = "") -> LoginResult:
    """Check a login: same message for an unknown e-mail and a wrong password, lockout after 5 failures."""
    address = (email or "").strip().lower()[:254]
    slow = await address_slowdown(ip)
    blocked = await address_lock(ip)
    if blocked is not None:  # no password is checked from an address trying many accounts
        await log_event(EventKind.LOGIN_LOCKED, email=address, ip=ip, detail="adresse bloquée")
        minutes = _minutes_until(blocked)
        return LoginResult(message=ADDRESS_LOCKED_MESSAGE.format(minutes=minutes), wait_minutes=minutes,
                           slow_down=slow)
    until = await lock_state(address)
    if until is not None:
        await log_event(EventKind.LOGIN_LOCKED, email=address, ip=ip)
        minutes = _minutes_until(until)
        return LoginResult(message=f"Trop d'essais infructueux : ce compte est bloqué. Réessayez dans {minutes} "
                                   f"minute(s), ou demandez à un administrateur de vérifier votre compte.",
                           wait_minutes=minutes, slow_down=slow)
    user = await User.get_or_none(email=address)
    ok = await check_password_async(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    if not ok or user is None or not user.is_active:
        await log_event(EventKind.LOGIN_FAILED, user=user, email=address, ip=ip,
                        detail="compte désactivé" if user is not None and ok else "")
        blocked = await address_lock(ip)
        if blocked is not None:
            await log_event(EventKind.LOCKOUT, ip=ip,
                            detail=f"adresse bloquée : {ADDRESS_LOCK_AFTER} échecs en moins de {LOCK_MINUTES} "
                                   "minutes depuis cette adresse, tous comptes confondus")
            minutes = _minutes_until(blocked)
            return LoginResult(message=ADDRESS_LOCKED_MESSAGE.format(minutes=minutes), wait_minutes=minutes,
                               slow_down=slow)
        until = await lock_state(address)
        if until is not None:
            await log_event(EventKind.LOCKOUT, user=user, email=address, ip=ip,
                            detail=f"{LOCK_AFTER_FAILURES} échecs en moins de {LOCK_MINUTES} minutes")
            minutes = _minutes_until(until)
            return LoginResult(message=f"{BAD_CREDENTIALS} Après {LOCK_AFTER_FAILURES} essais infructueux, le compte "
                                       f"est bloqué {minutes} minute(s).", wait_minutes=minutes, slow_down=slow)
        return LoginResult(message=BAD_CREDENTIALS, slow_down=slow)
    return LoginResult(user=user, slow_down=slow)


async def record_login(user: User, ip: str = "", detail: str = "") -> None:
    """A completed login (password and, when enabled, TOTP): journal and last login time."""
    user.last_login_at = timezone.now()
    await user.save(update_fields=["last_login_at"])
    await log_event(EventKind.LOGIN_OK, user=user, ip=ip, detail=detail)


# --- TOTP ------------------------------------------------------------------------------------------

def new_totp_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def totp_secret_of(user: User) -> str:
    """The user's TOTP secret in clear (stored encrypted)."""
    return reveal(user.totp_secret)


def set_totp_secret(user: User, secret: str) -> None:
    """Keep a TOTP secret on the user, encrypted (saved by the caller)."""
    user.totp_secret = seal(secret)


async def seal_plaintext_rows() -> int:
    """Encrypt the TOTP secrets still stored in clear (rows of before encryption); return how many."""
    count = 0
    async with in_transaction():
        for user in await User.exclude(totp_secret="").only("id", "totp_secret"):
            if not is_sealed(user.totp_secret):
                await User.filter(id=user.id).update(totp_secret=seal(user.totp_secret))
                count += 1
    return count


async def rotate_secrets() -> int:
    """Encrypt every stored secret again with the first key of SECRET_KEY; return how many rows."""
    count = 0
    async with in_transaction():
        for user in await User.exclude(totp_secret="").only("id", "totp_secret"):
            await User.filter(id=user.id).update(totp_secret=reseal(user.totp_secret))
            count += 1
    return count


def totp_uri(email: str, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def _matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step a code is valid for (valid_window=1), or None."""
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 6 or not secret:
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if at is None else at
    for offset in (0, -1, 1):
        moment = now + offset * totp.interval
        if secrets.compare_digest(totp.at(moment), code):
            return int(moment // totp.interval)
    return None


async def verify_totp(user: User, code: str, *, at: float | None = None) -> bool:
    """Accept a TOTP code once: valid_window=1 and replay refused (the last used time step is stored)."""
    if not user.totp_enabled:
        return False
    step = _matching_step(totp_secret_of(user), code, at)
    if step is None:
        return False
    # Atomic: only one request can move the stored step forward to this one.
    updated = await User.filter(id=user.id, totp_last_step__lt=step).update(totp_last_step=step)
    if updated:
        user.totp_last_step = step
    return bool(updated)


def _hash_code(code: str) -> str:
    return hashlib.sha256("".join(ch for ch in code.lower() if ch.isalnum()).encode()).hexdigest()


async def use_recovery_code(user: User, code: str, ip: str = "") -> bool:
    """Accept an unused recovery code once."""
    digest = _hash_code(code or "")
    updated = await RecoveryCode.filter(user_id=user.id, code_hash=digest, used_at__isnull=True).update(
        used_at=timezone.now())
    if updated:
        left = await RecoveryCode.filter(user_id=user.id, used_at__isnull=True).count()
        await log_event(EventKind.RECOVERY_CODE_USED, user=user, ip=ip, detail=f"{left} code(s) restant(s)")
    return bool(updated)


async def check_second_factor(user: User, code: str, ip: str = "") -> bool:
    """A TOTP code or a recovery code, each accepted once; a refusal is logged."""
    if await verify_totp(user, code) or await use_recovery_code(user, code, ip):
        return True
    await log_event(EventKind.TOTP_FAILED, user=user, ip=ip)
    return False


def _new_recovery_code() -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


async def enable_totp(user: User, secret: str, code: str, *, ip: str = "") -> list[str] | None:
    """Confirm enrolment with a first valid code; return ten recovery codes (shown once), or None."""
    step = _matching_step(secret, code)
    if step is None:
        await log_event(EventKind.TOTP_FAILED, user=user, ip=ip, detail="enrôlement")
        return None
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    async with in_transaction():
        user.totp_secret, user.totp_enabled, user.totp_last_step = seal(secret), True, step
        await user.save(update_fields=["totp_secret", "totp_enabled", "totp_last_step"])
        await RecoveryCode.filter(user_id=user.id).delete()
        await RecoveryCode.bulk_create([RecoveryCode(user=user, code_hash=_hash_code(c)) for c in codes])
    await log_event(EventKind.TOTP_ENROLLED, user=user, ip=ip)
    return codes


async def reset_totp(user: User, *, actor: User | None = None, ip: str = "") -> None:
    """Remove a user's TOTP and recovery codes (they enrol again at next login), logged."""
    async with in_transaction():
        user.totp_secret, user.totp_enabled, user.totp_last_step = "", False, 0
        new_stamp(user)
        await user.save(update_fields=["totp_secret", "totp_enabled", "totp_last_step", "security_stamp"])
        await RecoveryCode.filter(user_id=user.id).delete()
    sessions_revoked(user)
    await log_event(EventKind.TOTP_RESET, user=user, actor=actor, ip=ip)


def needs_totp_enrolment(user: User) -> bool:
    """True for an admin without TOTP: they enrol before anything else (R-SEC-1)."""
    return Role(user.role) == Role.ADMIN and not user.totp_enabled


# --- API tokens ------------------------------------------------------------------------------------

TOKEN_PREFIX = "rtr_"


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(user: User, name: str, *, actor: User | None = None, ip: str = "") -> tuple[ApiToken, str]:
    """Create an API token for a user; return it and the secret (shown once, stored hashed)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = await ApiToken.create(user=user, name=(name or "jeton").strip()[:100], prefix=secret[:10],
                                  token_hash=_hash_token(secret))
    await log_event(EventKind.TOKEN_CREATED, user=user, actor=actor, ip=ip, detail=f"{token.name} ({token.prefix}…)")
    return token, secret


async def user_for_token(secret: str) -> User | None:
    """The active user of a valid, unrevoked token, or None."""
    if not secret or not secret.startswith(TOKEN_PREFIX):
        return None
    token = await ApiToken.get_or_none(token_hash=_hash_token(secret), revoked_at__isnull=True).prefetch_related(
        "user")
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return token.user


async def revoke_token(token: ApiToken, *, actor: User | None = None, ip: str = "") -> None:
    """Revoke a token, logged."""
    if token.revoked_at is not None:
        return
    token.revoked_at = timezone.now()
    await token.save(update_fields=["revoked_at"])
    user = await token.user
    await log_event(EventKind.TOKEN_REVOKED, user=user, actor=actor, ip=ip, detail=f"{token.name} ({token.prefix}…)")
