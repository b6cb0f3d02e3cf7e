"""The people of the schools (R-SCH-5): contacts, one row per person and school (R-ORG-1), and their roles."""

from __future__ import annotations

from typing import Any

from models.access import revoke_access, role_maintenance_refusal
from models.schools import Contact, ContactRole, ContactRoleAssignment, SupportDesk, normalize_email
from sheets.engine.actions import ActionContext, RowAction
from sheets.engine.caller import REGION_EDITORS, REGION_READERS, Caller
from sheets.engine.declaration import Column, Nav, Sheet, register
from sheets.engine.writes import Forbidden, WriteContext

REGION_TEAM = REGION_READERS
EDITORS = REGION_EDITORS
# R-SCH-5: in its own school, the head and the ADML keep the contacts and their roles up to date (school access).
SCHOOL_MANAGERS = frozenset({"ecole:adml", "ecole:chef_etablissement"})


def _email(value: str) -> str:
    return normalize_email(value)


def _code(value: Any) -> Any:
    return value.value if hasattr(value, "value") and not isinstance(value, str | bool | int) else value


def _held(caller: Caller, uai: str | None) -> set[str]:
    """The contact roles a school person holds in a school."""
    return {role for school, role in caller.grants if school == uai}


async def _contact_hook(ctx: WriteContext) -> None:
    """R-SCH-5: the ADML edits only the people of the groups it maintains (not the head's address, say)."""
    if not ctx.caller.is_school or ctx.instance is None:
        return
    roles = {_code(r) for r in await ContactRoleAssignment.filter(contact_id=ctx.instance.id).values_list(
        "role", flat=True)}
    refusal = role_maintenance_refusal(_held(ctx.caller, ctx.uai), roles)
    if refusal:
        raise Forbidden(refusal)


async def revoke_links(ctx: ActionContext) -> str:
    """End every session opened by a link of the selected people, and cancel their unused links (journaled)."""
    emails = list(await Contact.filter(id__in=ctx.row_ids).values_list("email", flat=True))
    ended = await revoke_access(emails, actor=ctx.caller.actor, ip=ctx.caller.address)
    return (f"Accès par lien e-mail révoqué pour {len(set(emails))} personne(s) : {ended} session(s) fermée(s), "
            "liens non utilisés annulés.")


CONTACTS = register(Sheet(
    name="contacts",
    label="Contacts des établissements",
    model=Contact,
    read_roles=REGION_TEAM | SCHOOL_MANAGERS,
    edit_roles=EDITORS | SCHOOL_MANAGERS,
    create_roles=EDITORS | SCHOOL_MANAGERS,
    change_hook=_contact_hook,
    actions=(RowAction("revoke_access", "Révoquer les accès par lien e-mail", EDITORS, revoke_links, icon="link_off",
                       confirm="Les sessions ouvertes par lien e-mail de ces personnes se ferment et leurs liens non "
                               "utilisés sont annulés. Elles pourront demander un nouveau lien.",
                       rule="R-SCH-5", help="Ferme les sessions « établissement » ouvertes par ces personnes."),),
    key="id",
    personal_data=True,
    default_sort=("school__uai", "full_name"),
    school_path="school__uai",
    page_path="/feuilles/contacts",
    nav=Nav("Établissements", "contacts", 20, "Contacts"),
    description="Personnes des lycées et leurs adresses ; une même personne peut figurer dans deux lycées.",
    columns=(
        Column("id", "N°", kind="integer", width=90),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), editable=True, required=True,
               width=110, link="/ecoles/{value}", aliases=("uai", "etablissement"), edit_roles=EDITORS),
        Column("full_name", "Nom", editable=True, required=True, width=220, aliases=("nom", "nom complet")),
        Column("email", "E-mail", editable=True, required=True, validator=_email, width=260,
               aliases=("mail", "courriel", "adresse")),
        Column("until", "Jusqu'au", kind="date", editable=True, width=120,
               help="Dernier jour dans cet établissement (mutation)."),
        Column("updated_at", "Modifié le", kind="datetime", width=150),
    ),
))


async def _keep_one_head(ids: list[int], caller: Caller) -> None:
    """A school keeps at least one head (chef d'établissement); a school person removes only the roles it maintains."""
    if caller.is_school:
        for uai, role in await ContactRoleAssignment.filter(id__in=ids).values_list("contact__school__uai", "role"):
            refusal = role_maintenance_refusal(_held(caller, uai), {_code(role)})
            if refusal:
                raise ValueError(refusal)
    removed = await ContactRoleAssignment.filter(id__in=ids, role=ContactRole.CHEF).values_list(
        "contact__school_id", "contact__school__uai")
    for school_id, uai in set(removed):
        left = await ContactRoleAssignment.filter(role=ContactRole.CHEF, contact__school_id=school_id).exclude(
            id__in=ids).count()
        if not left:
            raise ValueError(f"L'établissement {uai} doit garder un chef d'établissement : désignez d'abord son "
                             "successeur.")


async def _role_hook(ctx: WriteContext) -> None:
    """A role given or changed: within what the school person maintains (R-SCH-5); the last head stays one."""
    new = _code(ctx.values.get("role"))
    old = _code(await ctx.current("role")) if ctx.instance is not None else None
    if ctx.caller.is_school:
        refusal = role_maintenance_refusal(_held(ctx.caller, ctx.uai), {r for r in (old, new) if r})
        if refusal:
            raise Forbidden(refusal)
    if ctx.instance is not None and old == ContactRole.CHEF.value and new != ContactRole.CHEF.value:
        school_id = (await ContactRoleAssignment.filter(id=ctx.instance.id).values_list("contact__school_id",
                                                                                       flat=True))[0]
        if not await ContactRoleAssignment.filter(role=ContactRole.CHEF, contact__school_id=school_id).exclude(
                id=ctx.instance.id).exists():
            raise ValueError(f"L'établissement {ctx.uai} doit garder un chef d'établissement : désignez d'abord son "
                             "successeur.")


async def _grant_check(ctx: WriteContext) -> None:
    """R-TICKET-3: the access to maintenance tickets is granted to a digital coordinator (heads have it by default)."""
    if str(ctx.values.get("role") or "") != ContactRole.TICKETS.value:
        return
    contact = ctx.values.get("contact") or (ctx.instance.contact_id if ctx.instance is not None else None)  # type: ignore[attr-defined]
    roles = set(await ContactRoleAssignment.filter(contact_id=int(contact or 0)).values_list("role", flat=True))
    if ContactRole.COORDONNATEUR not in roles:
        raise ValueError("L'accès aux tickets de maintenance s'accorde sur demande à un coordonnateur numérique du "
                         "lycée ; le chef d'établissement l'a d'office (R-TICKET-3).")


async def _role_checks(ctx: WriteContext) -> None:
    """Every check of a role given or changed: what a school person maintains, one head, ticket access."""
    await _role_hook(ctx)
    await _grant_check(ctx)


CONTACT_ROLES = register(Sheet(
    name="contact_roles",
    label="Rôles des contacts",
    model=ContactRoleAssignment,
    read_roles=REGION_TEAM | SCHOOL_MANAGERS,
    edit_roles=EDITORS | SCHOOL_MANAGERS,
    create_roles=EDITORS | SCHOOL_MANAGERS,
    delete_roles=EDITORS | SCHOOL_MANAGERS,
    change_hook=_role_checks,
    create_hook=_role_checks,
    key="id",
    personal_data=True,
    default_sort=("contact__school__uai", "role", "id"),
    school_path="contact__school__uai",
    delete_hook=_keep_one_head,
    nav=Nav("Établissements", "groups", 30),
    description="Qui tient quel rôle dans quel lycée (R-SCH-5) : chef d'établissement, coordonnateur, ADML, "
                "RESP-AFFECT-GAR, groupe « La Poste », CRRE. Un lycée garde toujours un chef d'établissement.",
    columns=(
        Column("id", "N°", kind="integer", width=80),
        Column("contact", "Contact (N°)", kind="reference", reference=("contacts", "id"), required=True,
               on_create=True, width=120),
        Column("uai", "UAI", path="contact__school__uai", width=110, link="/ecoles/{value}"),
        Column("name", "Nom", path="contact__full_name", width=200),
        Column("role", "Rôle", kind="choice", choices=ContactRole, editable=True, required=True, width=260),
    ),
))

SUPPORT_DESKS = register(Sheet(
    name="support_desks",
    label="Annuaire support",
    model=SupportDesk,
    read_roles=frozenset({"admin", "agent", "lecteur", "laposte", "unowhy", "maintenance"}),
    edit_roles=EDITORS,
    create_roles=EDITORS,
    key="name",
    default_sort=("name",),
    description="Les supports (R-ORG-3) : public, horaires, téléphone, adresse. Jamais une personne nommée.",
    columns=(
        Column("name", "Support", required=True, on_create=True, width=220),
        Column("topic", "Sujet", editable=True, width=240),
        Column("audience", "Public", editable=True, width=200),
        Column("hours", "Horaires", editable=True, width=200),
        Column("phone", "Téléphone", editable=True, width=130),
        Column("email", "E-mail", editable=True, width=220),
        Column("address", "Adresse", editable=True, width=220),
        Column("do_not_share", "Ne pas diffuser", kind="boolean", editable=True, width=120,
               help="Réservé aux chefs d'établissement et coordonnateurs."),
    ),
))
