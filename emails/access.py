"""Mailing a school access link: built from its template, queued in the outbox, to the contact's own address."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from emails.render import render_access_link
from models.access import TOKEN_MINUTES, IssuedLink, issue_link
from models.outbox import ACCESS_KIND, InvalidRecipient, OutboxMail, enqueue


async def queue_access_link(link: IssuedLink, base_url: str, timezone: str = "Europe/Paris") -> OutboxMail:
    """Queue the mail carrying a link (key `acces:<token id>`: once); never to a generic ce. address."""
    email = link.access.email
    if email.startswith("ce."):
        raise InvalidRecipient("Un lien d'accès ne part jamais vers l'adresse générique d'un établissement.")
    until = link.expires_at.astimezone(ZoneInfo(timezone)).strftime("%H:%M")
    mail = render_access_link(link.access.full_name, [(a.uai, a.school_name) for a in link.access.assignments],
                              f"{base_url}/acces/{link.secret}", f"{base_url}/acces", TOKEN_MINUTES, until)
    row, _ = await enqueue(f"acces:{link.token_id}", [email], mail.subject, mail.text, mail.html, kind=ACCESS_KIND,
                           school_uai=link.access.uais[0])
    return row


async def mail_access_link(email: str, *, reason: str) -> OutboxMail | None:
    """Mail a contact its access link on the app's own initiative (R-SLOT-9 for the slots, say): queued in the outbox
    (the worker sends it); None when the address holds no role in force, is generic, or had too many links."""
    import settings as settings_module

    link = await issue_link(email, reason=reason)
    if link is None:
        return None
    cfg = settings_module.get()
    return await queue_access_link(link, cfg.base_url, cfg.timezone)
