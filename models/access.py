"""School access: single-use e-mail links, the sessions they open (role `ecole`), their scope and rights, the journal.

The schools' own people (R-SCH-5: head, coordinator, ADML, « La Poste » and CRRE groups, RESP-AFFECT-GAR, RRUPN)
have no account. A contact asks for a link with its own e-mail address; the link (a random token, stored hashed)
opens one session, once, within TOKEN_MINUTES. The session's scope is the schools where the contact holds a role,
computed again at every request from the contacts and their roles, so a role removed, a contact deleted or a
session revoked takes effect at once. R-ORG-1: during the directory period of the campaign calendar (the R-ORG-1
events, e.g. 17/08 → 04/09) a person may belong to two schools; outside it only the newest assignment counts (the
older one ends). A contact row whose « Jusqu'au » date is past ends too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from tortoise import fields
from tortoise.models import Model

from models.schools import Contact, ContactRole, normalize_email
from models.vocab import Labeled

TOKEN_MINUTES = 20  # a link is valid this long, once
SESSION_HOURS = 12  # a school session ends this long after it opened, whatever the activity (idle: settings)
RATE_MINUTES = 15  # window of the rate limits below
LINKS_PER_EMAIL = 3  # links mailed to one address in RATE_MINUTES
REQUESTS_PER_ADDRESS = 10  # requests (known addresses or not) from one client address in RATE_MINUTES
MAX_SCHOOLS = 2  # R-ORG-1: two schools at most, during the directory period
DIRECTORY_RULE = "R-ORG-1"  # the calendar events that give the directory period
MAX_TOKEN_CHARS = 100  # a longer path segment is not a token (refused before hashing)


class AccessEventKind(Labeled):
    """What the access journal records."""

    REQUESTED = "requested", "Lien demandé"
    ISSUED = "issued", "Lien envoyé"
    UNKNOWN = "unknown", "Demande pour une adresse sans rôle"
    GENERIC = "generic", "Demande refusée (adresse générique ce.)"
    LIMITED = "limited", "Demande ignorée (trop de demandes)"
    OPENED = "opened", "Session ouverte (lien utilisé)"
    REFUSED = "refused", "Lien refusé (utilisé, expiré ou inconnu)"
    EXPIRED = "expired", "Session expirée"
    LOGOUT = "logout", "Déconnexion"
    REVOKED = "revoked", "Accès révoqué par la Région"
    ENDED = "ended", "Session terminée (plus aucun rôle)"


class AccessToken(Model):
    """A single-use link sent to a contact's own address, stored as its SHA-256."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, db_index=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    ip = fields.CharField(max_length=64, default="")
    used_ip = fields.CharField(max_length=64, default="")

    class Meta:
        table = "access_token"


class AccessSession(Model):
    """A school session opened by a link: its person (e-mail), its secret (hashed), when it ends."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, db_index=True)
    key_hash = fields.CharField(max_length=64, unique=True)
    token_id = fields.IntField(null=True)
    opened_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    end_reason = fields.CharField(max_length=16, default="")
    ip = fields.CharField(max_length=64, default="")

    class Meta:
        table = "access_session"


class AccessEvent(Model):
    """One entry of the access journal: requests, links sent, sessions opened, refused, ended, revoked."""

    id = fields.IntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    kind = fields.CharEnumField(AccessEventKind, max_length=16)
    email = fields.CharField(max_length=254, default="")
    ip = fields.CharField(max_length=64, default="")
    uais = fields.CharField(max_length=40, default="")
    actor = fields.CharField(max_length=254, default="")
    detail = fields.CharField(max_length=300, default="")

    class Meta:
        table = "access_event"
        indexes = (("email", "at"), ("ip", "at"))


def utcnow() -> dt.datetime:
    """Now, aware, UTC."""
    return dt.datetime.now(dt.UTC)


def _today() -> dt.date:
    from settings import today

    return today()


def digest(secret: str) -> str:
    """SHA-256 of a token or a session key (what is stored)."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def log(kind: AccessEventKind, *, email: str = "", ip: str = "", uais: tuple[str, ...] = (), actor: str = "",
              detail: str = "") -> AccessEvent:
    """Write an entry of the access journal."""
    return await AccessEvent.create(kind=kind, email=email.lower()[:254], ip=ip[:64], uais=",".join(uais)[:40],
                                    actor=actor[:254], detail=detail[:300])


# --- Scope and rights (R-SCH-5, R-ORG-1) -----------------------------------------------------------------

async def directory_periods() -> list[tuple[dt.date, dt.date]]:
    """R-ORG-1: the directory period of each campaign year, from the calendar's R-ORG-1 events (data)."""
    from models.campaign import CampaignEvent

    spans: dict[int, list[dt.date]] = {}
    for row in await CampaignEvent.filter(rule_id=DIRECTORY_RULE).values("year", "starts_on", "due_on"):
        days = spans.setdefault(row["year"], [])
        days += [d for d in (row["starts_on"], row["due_on"]) if d is not None]
    return sorted((min(days), max(days)) for days in spans.values() if days)


def in_directory_period(day: dt.date, periods: list[tuple[dt.date, dt.date]]) -> bool:
    """True when a day falls within one of the directory periods."""
    return any(start <= day <= end for start, end in periods)


@dataclass(frozen=True)
class Assignment:
    """One school of a contact: the contact row, its school and the roles held there."""

    contact_id: int
    uai: str
    school_name: str
    full_name: str
    roles: tuple[str, ...]
    created_at: dt.datetime | None
    until: dt.date | None


def assignments_in_force(rows: list[Assignment], day: dt.date, periods: list[tuple[dt.date, dt.date]]) -> list[
        Assignment]:
    """R-ORG-1 (pure): the schools a person acts for on a day, newest first.

    A school where the person holds no role, or whose « Jusqu'au » date is past, does not count. During a directory
    period two schools count (a transfer: the old and the new one); outside it only the newest (the older ends).
    """
    live = [a for a in rows if a.roles and (a.until is None or a.until >= day)]
    live.sort(key=lambda a: (a.created_at or dt.datetime.min.replace(tzinfo=dt.UTC), a.contact_id), reverse=True)
    return live[:MAX_SCHOOLS] if in_directory_period(day, periods) else live[:1]


@dataclass(frozen=True)
class SchoolAccess:
    """What a school person may reach: its schools (newest first) and its (UAI, contact role) grants."""

    email: str
    full_name: str
    assignments: tuple[Assignment, ...]

    @property
    def uais(self) -> tuple[str, ...]:
        """The UAIs in scope, newest assignment first."""
        return tuple(a.uai for a in self.assignments)

    @property
    def scope(self) -> frozenset[str]:
        """The UAIs in scope."""
        return frozenset(self.uais)

    @property
    def grants(self) -> frozenset[tuple[str, str]]:
        """(UAI, contact role code) pairs."""
        return frozenset((a.uai, role) for a in self.assignments for role in a.roles)

    @property
    def contact_ids(self) -> tuple[int, ...]:
        """The contact rows in force."""
        return tuple(a.contact_id for a in self.assignments)

    def roles_at(self, uai: str) -> tuple[str, ...]:
        """The contact roles held at a school."""
        return next((a.roles for a in self.assignments if a.uai == uai), ())

    def name_at(self, uai: str) -> str:
        """The school's name."""
        return next((a.school_name for a in self.assignments if a.uai == uai), uai)


async def school_access(email: str, day: dt.date | None = None) -> SchoolAccess | None:
    """The schools and rights of an e-mail address on a day (None when it holds no role anywhere in force)."""
    try:
        address = normalize_email(email)
    except ValueError:
        return None
    day = day or _today()
    contacts = await Contact.filter(email=address).prefetch_related("roles", "school")
    rows = [Assignment(c.id, c.school.uai, c.school.name, c.full_name,
                       tuple(sorted({ContactRole(r.role).value for r in c.roles})), c.created_at, c.until)
            for c in contacts]
    kept = assignments_in_force(rows, day, await directory_periods() if len(rows) > 1 else [])
    if not kept:
        return None
    return SchoolAccess(address, kept[0].full_name, tuple(kept))


# --- Links --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IssuedLink:
    """A link to mail: the secret (shown only in that mail) and whom it opens for."""

    secret: str
    token_id: int
    access: SchoolAccess
    expires_at: dt.datetime


async def _count(kind: AccessEventKind, since: dt.datetime, **where: str) -> int:
    return await AccessEvent.filter(kind=kind, at__gt=since, **where).count()


async def request_link(raw_email: str, ip: str = "", now: dt.datetime | None = None) -> IssuedLink | None:
    """Record a request for a link; return the link to mail when the address is a contact with a role in force
    (and under the rate limits), else None. The caller answers the same thing either way."""
    now = now or utcnow()
    since = now - dt.timedelta(minutes=RATE_MINUTES)
    try:
        email = normalize_email(raw_email)
    except ValueError:
        await log(AccessEventKind.REQUESTED, email=str(raw_email or "")[:254], ip=ip, detail="adresse illisible")
        return None
    await log(AccessEventKind.REQUESTED, email=email, ip=ip)
    if ip and await _count(AccessEventKind.REQUESTED, since, ip=ip) > REQUESTS_PER_ADDRESS:
        await log(AccessEventKind.LIMITED, email=email, ip=ip,
                  detail=f"plus de {REQUESTS_PER_ADDRESS} demandes en {RATE_MINUTES} min depuis cette adresse")
        return None
    if email.startswith("ce."):  # a school's generic mailbox is shared: a link never goes there
        await log(AccessEventKind.GENERIC, email=email, ip=ip)
        return None
    access = await school_access(email)
    if access is None:
        await log(AccessEventKind.UNKNOWN, email=email, ip=ip)
        return None
    return await _new_link(email, access, ip=ip, now=now)


async def issue_link(email: str, *, reason: str, now: dt.datetime | None = None) -> IssuedLink | None:
    """A link the app itself mails to a contact (e.g. R-SLOT-9: the authorised persons of a school when its
    certificates wait): the same single-use link, journaled with its reason, under the same per-e-mail limit; None
    when the address holds no role in force (or is a generic ce. one)."""
    try:
        address = normalize_email(email)
    except ValueError:
        return None
    access = None if address.startswith("ce.") else await school_access(address)
    if access is None:
        return None
    return await _new_link(address, access, detail=reason, now=now or utcnow())


async def _new_link(email: str, access: SchoolAccess, *, ip: str = "", detail: str = "",
                    now: dt.datetime) -> IssuedLink | None:
    """Store a new link (its hash) unless the address had LINKS_PER_EMAIL in RATE_MINUTES; journaled."""
    if await _count(AccessEventKind.ISSUED, now - dt.timedelta(minutes=RATE_MINUTES), email=email) >= LINKS_PER_EMAIL:
        await log(AccessEventKind.LIMITED, email=email, ip=ip,
                  detail=f"déjà {LINKS_PER_EMAIL} liens envoyés en {RATE_MINUTES} min à cette adresse")
        return None
    secret = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(minutes=TOKEN_MINUTES)
    token = await AccessToken.create(email=email, token_hash=digest(secret), expires_at=expires, ip=ip[:64])
    await log(AccessEventKind.ISSUED, email=email, ip=ip, uais=access.uais, detail=detail)
    return IssuedLink(secret, token.id, access, expires)


# --- Sessions -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SchoolSession:
    """A live school session: its row id and what it may reach now."""

    session_id: int
    access: SchoolAccess

    @property
    def email(self) -> str:
        """The person's own address (the audit's author)."""
        return self.access.email


@dataclass(frozen=True)
class OpenedSession:
    """A session just opened by a link: the browser keeps its id and key."""

    session: SchoolSession
    key: str = field(repr=False)


async def open_session(secret: str, ip: str = "", now: dt.datetime | None = None) -> OpenedSession | None:
    """Use a link: once, before it expires; None (journaled) for a used, expired, revoked or unknown one."""
    now = now or utcnow()
    if not secret or len(secret) > MAX_TOKEN_CHARS:
        await log(AccessEventKind.REFUSED, ip=ip, detail="lien illisible")
        return None
    token_hash = digest(secret)
    # Atomic: of two requests with the same link, only one UPDATE matches it.
    claimed = await AccessToken.filter(token_hash=token_hash, used_at__isnull=True, revoked_at__isnull=True,
                                       expires_at__gt=now).update(used_at=now, used_ip=ip[:64])
    token = await AccessToken.get_or_none(token_hash=token_hash)
    if not claimed or token is None:
        reason = ("lien inconnu" if token is None else "lien déjà utilisé" if token.used_at and not claimed
                  else "lien révoqué" if token.revoked_at else "lien expiré")
        await log(AccessEventKind.REFUSED, email=token.email if token else "", ip=ip, detail=reason)
        return None
    access = await school_access(token.email)
    if access is None:
        await log(AccessEventKind.REFUSED, email=token.email, ip=ip, detail="plus aucun rôle dans un établissement")
        return None
    key = secrets.token_urlsafe(32)
    row = await AccessSession.create(email=token.email, key_hash=digest(key), token_id=token.id, ip=ip[:64],
                                     expires_at=now + dt.timedelta(hours=SESSION_HOURS))
    await log(AccessEventKind.OPENED, email=token.email, ip=ip, uais=access.uais)
    return OpenedSession(SchoolSession(row.id, access), key)


async def live_session(session_id: object, key: object, now: dt.datetime | None = None) -> SchoolSession | None:
    """The session of a browser, if it is still open (not ended, revoked or expired) and its person still holds a
    role somewhere; its scope and grants are computed now."""
    if not isinstance(session_id, int) or not isinstance(key, str):
        return None
    row = await AccessSession.get_or_none(id=session_id)
    if row is None or row.ended_at is not None or not secrets.compare_digest(row.key_hash, digest(key)):
        return None
    if row.expires_at <= (now or utcnow()):
        await end_session(session_id, AccessEventKind.EXPIRED, detail=f"après {SESSION_HOURS} h")
        return None
    access = await school_access(row.email)
    if access is None:
        await end_session(session_id, AccessEventKind.ENDED)
        return None
    return SchoolSession(row.id, access)


async def end_session(session_id: int, kind: AccessEventKind, *, ip: str = "", detail: str = "") -> bool:
    """End a session (logout, idle, no role left); journaled once."""
    updated = await AccessSession.filter(id=session_id, ended_at__isnull=True).update(ended_at=utcnow(),
                                                                                      end_reason=kind.value)
    if updated:
        email = await AccessSession.filter(id=session_id).values_list("email", flat=True)
        await log(kind, email=email[0] if email else "", ip=ip, detail=detail)
    return bool(updated)


RevokeListener = Callable[[set[int]], None]
_revoke_listener: RevokeListener | None = None


def on_access_revoked(listener: RevokeListener | None) -> None:
    """Call this function with the ids of sessions the Région revoked (the web app closes their open pages)."""
    global _revoke_listener
    _revoke_listener = listener


async def revoke_access(emails: list[str], *, actor: str, ip: str = "") -> int:
    """End every session of these people and cancel their unused links; journaled per person. Returns the number
    of sessions ended."""
    now = utcnow()
    addresses = sorted({e.strip().lower() for e in emails if e and e.strip()})
    ids = set(await AccessSession.filter(email__in=addresses, ended_at__isnull=True).values_list("id", flat=True))
    if ids:
        await AccessSession.filter(id__in=list(ids)).update(ended_at=now, end_reason=AccessEventKind.REVOKED.value)
    links = await AccessToken.filter(email__in=addresses, used_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=now)
    for email in addresses:
        await log(AccessEventKind.REVOKED, email=email, ip=ip, actor=actor,
                  detail=f"{len(ids)} session(s) fermée(s), {links} lien(s) annulé(s)" if len(addresses) == 1 else "")
    if ids and _revoke_listener is not None:
        _revoke_listener(ids)
    return len(ids)


# --- Who maintains whom (R-SCH-5) ---------------------------------------------------------------------------

# The groups the ADML (Monlycee.net local administrator) maintains; the head maintains every role, its own
# successor included (a school keeps one head).
ADML_MANAGED: frozenset[str] = frozenset({ContactRole.LA_POSTE.value, ContactRole.CRRE_PRESCRIPTEUR.value,
                                          ContactRole.CRRE_VALIDEUR.value, ContactRole.RESP_AFFECT_GAR.value})
CONTACT_MANAGERS: frozenset[str] = frozenset({ContactRole.ADML.value, ContactRole.CHEF.value})


def role_maintenance_refusal(held: set[str] | frozenset[str], roles: set[str] | frozenset[str]) -> str | None:
    """R-SCH-5 (pure): why a school person holding `held` may not give, change or remove `roles` in its school
    (French), or None. The head maintains every role; the ADML the « La Poste », CRRE and RESP-AFFECT-GAR groups."""
    if ContactRole.CHEF.value in held:
        return None
    if ContactRole.ADML.value in held:
        outside = sorted(set(roles) - ADML_MANAGED)
        if not outside:
            return None
        labels = ", ".join(ContactRole.label_of(r) for r in outside)
        return (f"Réservé au chef d'établissement : l'ADML gère les groupes « La Poste », CRRE et RESP-AFFECT-GAR, "
                f"pas « {labels} ».")
    return "Seuls le chef d'établissement et l'ADML tiennent à jour les rôles de l'établissement."


async def school_people(school_id: int) -> list[tuple[Contact, list[tuple[int, str]]]]:
    """A school's contacts, each with its (assignment id, role code) pairs, by name."""
    from models.schools import ContactRoleAssignment

    contacts = await Contact.filter(school_id=school_id).order_by("full_name", "id")
    roles: dict[int, list[tuple[int, str]]] = {}
    for rid, cid, role in await ContactRoleAssignment.filter(contact__school_id=school_id).order_by("id").values_list(
            "id", "contact_id", "role"):
        roles.setdefault(cid, []).append((rid, ContactRole(role).value))
    return [(c, roles.get(c.id, [])) for c in contacts]


async def next_event_day(rule_id: str, today: dt.date) -> dt.date | None:
    """The next date (start or due) of the calendar's events of a rule, from today on (calendar data)."""
    from models.campaign import CampaignEvent

    days = sorted(d for row in await CampaignEvent.filter(rule_id=rule_id).values("starts_on", "due_on")
                  for d in (row["starts_on"], row["due_on"]) if d is not None and d >= today)
    return days[0] if days else None
