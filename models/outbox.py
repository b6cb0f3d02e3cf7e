"""Persistent outbox: every mail is a row with an idempotency key, sent by the worker, never twice by design.

States: pending → sending (claimed with a token, attempts + 1) → sent | pending again (temporary error,
exponential backoff) | failed (permanent 5xx refusal, or too many attempts). A row left in `sending` by a
process killed mid-send is put back to pending by `release_stale` and sent again with the same
Message-ID: the window for a duplicate is the time between the server's 250 and our UPDATE to `sent`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.functions import Count
from tortoise.models import Model

from models.schools import Academie, InvalidUAI, normalize_email, normalize_uai
from models.vocab import Labeled


class MailStatus(Labeled):
    """Where a mail of the outbox stands."""

    PENDING = "pending", "En attente"
    SENDING = "sending", "En cours d'envoi"
    SENT = "sent", "Envoyé"
    FAILED = "failed", "En échec"


class InvalidRecipient(ValueError):
    """An address refused before queueing; the message is in French."""


_CE = re.compile(r"^ce\.([0-9a-z]+)@ac-([a-z]+)\.fr$")


def validate_recipient(raw: object) -> str:
    """The normalised address, or InvalidRecipient (a ce.<UAI> address must carry a valid UAI, R-SCH-1/3)."""
    try:
        email = normalize_email(raw)
    except ValueError as exc:
        raise InvalidRecipient(str(exc)) from None
    match = _CE.match(email)
    if match or email.startswith("ce."):
        if not match:
            raise InvalidRecipient(f"Adresse « {email} » refusée : une adresse ce. doit être "
                                   "ce.<uai>@ac-<académie>.fr.")
        try:
            normalize_uai(match.group(1))
        except InvalidUAI as exc:
            raise InvalidRecipient(f"Adresse « {email} » refusée : {exc}") from None
        if match.group(2) not in {a.value for a in Academie}:
            raise InvalidRecipient(f"Adresse « {email} » refusée : académie « {match.group(2)} » inconnue "
                                   "(paris, creteil ou versailles).")
    return email


ACCESS_KIND = "acces"  # a school access link: its body carries a secret, removed once the mail is sent or given up
SECRET_KINDS: frozenset[str] = frozenset({ACCESS_KIND})
REDACTED = ("(Contenu retiré après l'envoi : ce courriel portait un lien d'accès personnel à usage unique, qui n'est "
            "conservé que sous forme d'empreinte.)")


def message_id_for(key: str, domain: str = "rentree.iledefrance.fr") -> str:
    """A Message-ID derived from the idempotency key: a resend after a crash carries the same one."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def utcnow() -> dt.datetime:
    """Now, timezone-aware (UTC)."""
    return dt.datetime.now(dt.UTC)


class OutboxMail(Model):
    """One mail to send, identified by its idempotency key (rule + school + deadline + day)."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=200, unique=True)
    kind = fields.CharField(max_length=40, default="digest")
    school_uai = fields.CharField(max_length=8, null=True, db_index=True)
    recipients = fields.TextField()
    subject = fields.CharField(max_length=300)
    body_text = fields.TextField()
    body_html = fields.TextField(default="")
    items = fields.TextField(default="[]")
    message_id = fields.CharField(max_length=120)
    status = fields.CharEnumField(MailStatus, max_length=10, default=MailStatus.PENDING, db_index=True)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(default="")
    next_attempt_at = fields.DatetimeField(null=True)
    claim_token = fields.CharField(max_length=40, null=True, db_index=True)
    claimed_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbox_mail"
        indexes = (("status", "next_attempt_at"),)

    @property
    def recipient_list(self) -> list[str]:
        """The recipients as a list."""
        return [r for r in self.recipients.split(",") if r]

    @property
    def item_keys(self) -> list[str]:
        """Idempotency keys of the reminder items the mail carries."""
        return list(json.loads(self.items or "[]"))


async def enqueue(key: str, recipients: list[str], subject: str, body_text: str, body_html: str = "", *,
                  kind: str = "digest", school_uai: str | None = None,
                  items: list[str] | None = None) -> tuple[OutboxMail, bool]:
    """Store a mail once per key (validated recipients); return it and whether it was created."""
    clean: list[str] = []
    for raw in recipients:
        email = validate_recipient(raw)
        if email not in clean:
            clean.append(email)
    if not clean:
        raise InvalidRecipient("Aucun destinataire : le courrier n'a pas été mis en file.")
    existing = await OutboxMail.get_or_none(key=key)
    if existing is not None:
        return existing, False
    try:
        mail = await OutboxMail.create(
            key=key, kind=kind, school_uai=school_uai, recipients=",".join(clean), subject=subject,
            body_text=body_text, body_html=body_html, items=json.dumps(items or []),
            message_id=message_id_for(key))
    except IntegrityError:  # another run stored the same key meanwhile
        return await OutboxMail.get(key=key), False
    return mail, True


async def existing_keys(keys: list[str]) -> set[str]:
    """Which of these keys are already in the outbox."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        found.update(await OutboxMail.filter(key__in=keys[start:start + 500]).values_list("key", flat=True))
    return found


async def claim(limit: int, now: dt.datetime | None = None) -> list[OutboxMail]:
    """Take up to `limit` due pending mails for this worker (status sending, a fresh claim token)."""
    now = now or utcnow()
    token = secrets.token_hex(16)
    ids = await OutboxMail.filter(status=MailStatus.PENDING).filter(
        next_attempt_at__isnull=True).order_by("id").limit(limit).values_list("id", flat=True)
    if len(ids) < limit:
        ids += await OutboxMail.filter(status=MailStatus.PENDING, next_attempt_at__lte=now).order_by(
            "next_attempt_at", "id").limit(limit - len(ids)).values_list("id", flat=True)
    if not ids:
        return []
    # Conditional on the status: of two workers racing for one row, only one UPDATE matches it.
    await OutboxMail.filter(id__in=ids, status=MailStatus.PENDING).update(
        status=MailStatus.SENDING, claim_token=token, claimed_at=now, attempts=F("attempts") + 1)
    claimed = await OutboxMail.filter(claim_token=token, status=MailStatus.SENDING).order_by("id")
    return claimed


async def mark_sent(mail: OutboxMail, note: str = "", now: dt.datetime | None = None) -> None:
    """Record that the SMTP server accepted the mail."""
    await OutboxMail.filter(id=mail.id, claim_token=mail.claim_token).update(
        status=MailStatus.SENT, sent_at=now or utcnow(), last_error=note, claim_token=None, **_redacted(mail))


def _redacted(mail: OutboxMail) -> dict[str, str]:
    """The bodies to store once a mail carrying a secret is sent or given up (nothing for other mails)."""
    return {"body_text": REDACTED, "body_html": ""} if mail.kind in SECRET_KINDS else {}


def backoff(attempts: int, base: float = 30.0, cap: float = 3600.0) -> dt.timedelta:
    """Delay before the next attempt: base × 2^(attempts-1), capped."""
    return dt.timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


async def mark_retry(mail: OutboxMail, error: str, max_attempts: int, now: dt.datetime | None = None) -> None:
    """A temporary failure: back to pending with a backoff, or failed after too many attempts."""
    now = now or utcnow()
    if mail.attempts >= max_attempts:
        await OutboxMail.filter(id=mail.id, claim_token=mail.claim_token).update(
            status=MailStatus.FAILED, claim_token=None, **_redacted(mail),
            last_error=f"{error} (abandon après {mail.attempts} tentatives : relancez-le depuis la page Relances)")
        return
    await OutboxMail.filter(id=mail.id, claim_token=mail.claim_token).update(
        status=MailStatus.PENDING, claim_token=None, last_error=error,
        next_attempt_at=now + backoff(mail.attempts))


async def mark_failed(mail: OutboxMail, error: str) -> None:
    """A permanent refusal: failed with the reason, never retried automatically."""
    await OutboxMail.filter(id=mail.id, claim_token=mail.claim_token).update(
        status=MailStatus.FAILED, claim_token=None, last_error=error, **_redacted(mail))


async def release_stale(claimed_before: dt.datetime) -> int:
    """Put back to pending the mails left `sending` by a worker that died (claimed before a time)."""
    return await OutboxMail.filter(status=MailStatus.SENDING, claimed_at__lt=claimed_before).update(
        status=MailStatus.PENDING, claim_token=None, next_attempt_at=None,
        last_error="Envoi interrompu (processus arrêté) : renvoyé avec le même Message-ID.")


async def retry_failed(mail_ids: list[int] | None = None) -> int:
    """Put failed mails back in the queue (all, or some)."""
    qs = OutboxMail.filter(status=MailStatus.FAILED)
    if mail_ids is not None:
        qs = qs.filter(id__in=mail_ids)
    return await qs.update(status=MailStatus.PENDING, next_attempt_at=None, attempts=0)


async def outbox_counts() -> dict[str, int]:
    """Number of mails per status."""
    rows = await OutboxMail.all().group_by("status").annotate(n=Count("id")).values("status", "n")
    counts = {s.value: 0 for s in MailStatus}
    counts.update({str(r["status"]): r["n"] for r in rows})
    return counts


async def recent_mails(limit: int = 50, status: MailStatus | None = None) -> list[OutboxMail]:
    """The latest mails of the outbox (optionally of one status)."""
    qs = OutboxMail.all() if status is None else OutboxMail.filter(status=status)
    return await qs.order_by("-id").limit(limit)


async def pending_count() -> int:
    """Mails waiting to be sent (pending or sending)."""
    return await OutboxMail.filter(status__in=[MailStatus.PENDING, MailStatus.SENDING]).count()


async def enqueue_many(mails: list[dict[str, object]]) -> tuple[int, int]:
    """Store many mails (already validated) at once, skipping keys already present; return (created, kept)."""
    keys = [str(m["key"]) for m in mails]
    present = await existing_keys(keys)
    fresh = [OutboxMail(**m, message_id=message_id_for(str(m["key"]))) for m in mails if m["key"] not in present]
    if fresh:
        await OutboxMail.bulk_create(fresh, batch_size=500, ignore_conflicts=True)
    return len(fresh), len(mails) - len(fresh)
