"""Delivery and distribution slots as sheets (R-SLOT-1 … 9): La Poste's delivery days, one slot per school and
campaign year with its life cycle (à réserver → réservé → livré → distribué → clos, annulé), and the distribution
plan (sessions) the planner recomputes whenever the dates, the rooms or the class order change."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import settings as settings_module
from models.schools import Contact, ContactRole, School
from models.slots import (
    BOOKING_RULE,
    DELIVERY_RULE,
    DeliveryDay,
    Session,
    Slot,
    SlotStatus,
    boxes_due,
    class_order_due,
    code_of,
    default_distribution,
    distribution_refusal,
    laptops_of,
    proposed_plan,
    rooms_for,
    school_classes,
    window,
)
from sheets.engine.actions import ActionContext, RowAction
from sheets.engine.caller import ECOLE, REGION_EDITORS, Caller
from sheets.engine.declaration import Column, Nav, Sheet, register
from sheets.engine.lifecycle import LifeCycle, Need, Transition
from sheets.engine.writes import Forbidden, WriteContext, create_rows, delete_rows, once_per_batch, set_values

log = logging.getLogger("rentree.slots")

REGION = REGION_EDITORS
LAPOSTE = frozenset({"laposte"})
OPS = REGION | LAPOSTE  # who records the delivery and the distribution
SCHOOL_LP = frozenset({"ecole:groupe_la_poste"})  # R-SLOT-1 / R-SLOT-9: the school's « La Poste » group
SCHOOL_STAFF = frozenset({"ecole:chef_etablissement", "ecole:coordonnateur_numerique", "ecole:groupe_la_poste"})
READERS = frozenset({"admin", "agent", "lecteur", "laposte", "ecole"})
ROLE_NAMES = {"admin": "l'administration", "agent": "les agents de la Région", "laposte": "La Poste",
              "ecole:groupe_la_poste": "les membres du groupe « La Poste » de l'établissement",
              "ecole:chef_etablissement": "le chef d'établissement",
              "ecole:coordonnateur_numerique": "le coordonnateur numérique"}
OPEN_STATES = (SlotStatus.TO_BOOK.value, SlotStatus.BOOKED.value)


def now() -> dt.datetime:
    """The app's clock (tests move it)."""
    return settings_module.now()


def fr(day: dt.date) -> str:
    """A date as the interface writes it."""
    return f"{day:%d/%m/%Y}"


# --- Delivery days ----------------------------------------------------------------------------------------

def _capacity(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= 1000:
        raise ValueError("La capacité est un nombre de livraisons entre 0 et 1000.")
    return value


async def day_hook(ctx: WriteContext) -> None:
    """A delivery day: a working day, and its capacity never below what is already booked."""
    day = await ctx.after("day")
    if day is not None and day.weekday() >= 5:
        raise ValueError(f"Le {fr(day)} tombe un week-end : La Poste livre du lundi au vendredi.")
    if "capacity" in ctx.values and ctx.instance is not None:
        booked = await Slot.filter(delivery_on=ctx.instance.day).exclude(status=SlotStatus.CANCELLED).count()
        if ctx.values["capacity"] is not None and ctx.values["capacity"] < booked:
            raise ValueError(f"Le {fr(ctx.instance.day)} a déjà {booked} livraison(s) réservée(s) : la capacité ne "
                             "peut pas descendre en dessous.")


async def day_delete_hook(row_ids: list[int], caller: Caller) -> None:
    """A delivery day with bookings stays (its schools would lose their day): cancel or move them first."""
    days = await DeliveryDay.filter(id__in=row_ids).values_list("day", flat=True)
    taken = await Slot.filter(delivery_on__in=list(days)).exclude(status=SlotStatus.CANCELLED).values_list(
        "delivery_on", flat=True)
    if taken:
        listed = ", ".join(fr(d) for d in sorted(set(taken))[:5])
        raise ValueError(f"Des établissements sont livrés ces jours-là ({listed}) : déplacez ou annulez d'abord "
                         "leurs créneaux.")


DELIVERY_DAYS = register(Sheet(
    name="delivery_days",
    label="Créneaux : jours de livraison",
    model=DeliveryDay,
    read_roles=READERS,
    edit_roles=OPS,
    create_roles=OPS,
    delete_roles=REGION,
    key="day",
    default_sort=("day",),
    create_hook=day_hook,
    change_hook=day_hook,
    delete_hook=day_delete_hook,
    hook_fields=frozenset({"day", "capacity"}),
    nav=Nav("Créneaux", "local_shipping", 20, "Jours de livraison"),
    description="Les jours où La Poste livre et combien d'établissements elle livre ce jour-là (R-SLOT-3) ; "
                "« Réservés » se calcule à chaque réservation.",
    columns=(
        Column("day", "Jour", kind="date", required=True, on_create=True, width=120),
        Column("capacity", "Capacité (livraisons)", kind="integer", editable=True, validator=_capacity, width=140),
        Column("booked", "Réservés", kind="integer", editable=True, edit_roles=frozenset(), width=100,
               help="Calculé : créneaux réservés ce jour (hors annulés)."),
        Column("note", "Note", editable=True, width=240),
    ),
))


async def free_days(year: int, after: dt.date | None = None, limit: int = 5) -> list[DeliveryDay]:
    """The next delivery days of a campaign's delivery window that still have room."""
    span = await window(DELIVERY_RULE, year)
    query = DeliveryDay.all()
    if span is not None:
        query = query.filter(day__gte=span[0], day__lte=span[1])
    if after is not None:
        query = query.filter(day__gt=after)
    days = [d for d in await query.order_by("day") if d.booked < d.capacity]
    return days[:limit]


async def capacity_refusal(day: dt.date, year: int, exclude: int | None) -> str:
    """R-SLOT-1 / R-SLOT-3: why a day cannot be booked ('' when it can), with the next free days."""
    span = await window(DELIVERY_RULE, year)
    if span is None:
        return (f"La fenêtre de livraison {year} n'est pas dans le calendrier de la campagne : l'équipe de la Région "
                "doit la saisir avant toute réservation.")
    if not span[0] <= day <= span[1]:
        return f"Les livraisons {year} ont lieu du {fr(span[0])} au {fr(span[1])} (R-SLOT-3) : le {fr(day)} est hors " \
               "de cette fenêtre."
    delivery_day = await DeliveryDay.get_or_none(day=day)
    query = Slot.filter(delivery_on=day).exclude(status=SlotStatus.CANCELLED)
    if exclude is not None:
        query = query.exclude(id=exclude)
    taken = await query.count()
    if delivery_day is not None and taken < delivery_day.capacity:
        return ""
    free = await free_days(year, None)
    others = ", ".join(fr(d.day) for d in free) or "aucun, contactez l'équipe de la Région"
    if delivery_day is None:
        return f"La Poste ne livre pas le {fr(day)}. Jours encore libres : {others}."
    return (f"Le {fr(day)} est complet ({taken} livraison(s) sur {delivery_day.capacity}). "
            f"Jours encore libres : {others}.")


async def recount(days: set[dt.date], caller: Caller) -> None:
    """The `booked` figure of delivery days, recounted through the engine (system rights, same transaction)."""
    from sheets.engine.writes import RowChange, apply_changes

    changes = []
    for delivery_day in await DeliveryDay.filter(day__in=[d for d in days if d is not None]):
        n = await Slot.filter(delivery_on=delivery_day.day).exclude(status=SlotStatus.CANCELLED).count()
        if n != delivery_day.booked:
            changes.append(RowChange(delivery_day.id, {"booked": n}))
    if changes:
        await apply_changes(DELIVERY_DAYS, changes, caller.elevated())


# --- Slots: contacts named on a slot ---------------------------------------------------------------------

async def contact_of(caller: Caller, school_id: int) -> Contact | None:
    """The contact a school caller is, in that school."""
    return await Contact.filter(school_id=school_id, email=caller.actor.strip().lower()).first()


async def la_poste_member(contact_id: Any, school: School, what: str) -> Contact:
    """R-SLOT-1 / R-SLOT-9: the named contact is a member of the school's « La Poste » group."""
    contact = await Contact.get_or_none(id=int(contact_id)).prefetch_related("roles") if str(
        contact_id).isdigit() else None
    if contact is None or contact.school_id != school.id:
        raise ValueError(f"Le contact n° {contact_id} n'est pas une personne du lycée {school.uai}.")
    if ContactRole.LA_POSTE.value not in {code_of(r.role) for r in contact.roles}:
        raise Forbidden(f"{contact.full_name} n'est pas membre du groupe « La Poste » du lycée {school.uai} : seuls "
                        f"ses membres {what}.")
    return contact


async def school_agent(contact_id: Any, school: School) -> Contact:
    """R-SLOT-3: the delivery note is signed by a named person of the school."""
    contact = await Contact.get_or_none(id=int(contact_id)) if str(contact_id).isdigit() else None
    if contact is None or contact.school_id != school.id:
        raise ValueError(f"Le contact n° {contact_id} n'est pas une personne du lycée {school.uai} : le bon de "
                         "livraison est signé par un agent de l'établissement (R-SLOT-3).")
    return contact


# --- Slots: the planner's effect (R-SLOT-6) ---------------------------------------------------------------

async def replan(slot: Slot, caller: Caller) -> int:
    """R-SLOT-6: the slot's sessions recomputed from its school's classes, its order, its date and rooms (through
    the engine, in the caller's transaction). Returns the number of classes planned."""
    old = await Session.filter(slot_id=slot.id).values_list("id", flat=True)
    if old:
        await delete_rows(SESSIONS, list(old), caller.elevated())
    if slot.distribution_on is None or code_of(slot.status) in (SlotStatus.TO_BOOK.value, SlotStatus.CANCELLED.value):
        return 0
    plan = await proposed_plan(slot)
    if not plan:
        return 0
    uai = (await School.filter(id=slot.school_id).values_list("uai", flat=True))[0]
    rows = [{"school": uai, "slot": slot.id, "day": s.day, "starts_at": s.starts_at, "room": s.room,
             "class_name": s.class_name, "students": s.students, "position": s.position} for s in plan]
    await create_rows(SESSIONS, rows, caller.elevated(), parsed=True)
    return len(plan)


async def replan_open_slots(school_id: int, caller: Caller) -> int:
    """R-SLOT-6: the plans of a school's booked or delivered slots recomputed (its classes changed: a list applied)."""
    total = 0
    for slot in await Slot.filter(school_id=school_id, status__in=(SlotStatus.BOOKED, SlotStatus.DELIVERED)):
        total += await replan(slot, caller)
    return total


def replan_at_end(school_id: int | None, caller: Caller) -> None:
    """R-SLOT-6: the school's classes are changing (a holder edited, created, a list applied): its open plans are
    recomputed once, when the whole write is done (10,000 holders of one school: one plan)."""
    if school_id is not None:
        once_per_batch(("slots.replan", school_id), lambda: replan_open_slots(school_id, caller))


# --- Slots: hooks ------------------------------------------------------------------------------------------

_DAYS_BEFORE = "_slot_days_before"
PLAN_FIELDS = frozenset({"delivery_on", "distribution_on", "class_order", "rooms", "status"})


async def slot_create_hook(ctx: WriteContext) -> None:
    """A new slot: its school's laptops for the delivery and its rooms (R-SLOT-5), to be booked."""
    school = await School.get_or_none(uai=ctx.uai or "")
    if school is None:
        raise ValueError(f"« {ctx.uai or ''} » : aucun lycée n'a cet UAI.")
    v = ctx.values
    if v.get("year") is None:
        raise ValueError("« Année » est obligatoire (année de la campagne, ex. 2024).")
    if await Slot.filter(school_id=school.id, year=v["year"]).exists():
        raise ValueError(f"Le lycée {school.uai} a déjà un créneau pour la campagne {v['year']}.")
    laptops = v.get("laptops")
    if laptops is None:
        laptops = (await laptops_of([school.id])).get(school.id, 0)
    v["laptops"] = laptops
    v["rooms"] = rooms_for(laptops)


async def slot_hook(ctx: WriteContext) -> None:
    """Every change of a slot: the day's capacity and the window (R-SLOT-1, R-SLOT-3), the distribution 2–3 working
    days after (R-SLOT-6), the class order's deadline (R-SLOT-4), the school's side of the checklist (R-SLOT-5)."""
    slot, v, caller = ctx.instance, ctx.values, ctx.caller
    assert isinstance(slot, Slot)
    ctx.__dict__[_DAYS_BEFORE] = {slot.delivery_on}
    status = code_of(v.get("status", slot.status))
    if code_of(slot.status) in (SlotStatus.CLOSED.value, SlotStatus.CANCELLED.value) and "status" not in v:
        raise ValueError(f"Ce créneau est « {SlotStatus.label_of(code_of(slot.status))} » : il ne change plus.")
    if "laptops" in v:
        v["rooms"] = rooms_for(v["laptops"] or 0)
    if "delivery_on" in v:
        if code_of(slot.status) not in OPEN_STATES and not caller.is_system:
            raise ValueError(f"La livraison est « {SlotStatus.label_of(code_of(slot.status))} » : son jour ne change "
                             "plus.")
        day = v["delivery_on"]
        if day is not None and status == SlotStatus.TO_BOOK.value and not caller.is_system:
            raise ValueError("Pour choisir le jour de livraison, utilisez « Réserver » (R-SLOT-1).")
        if day is not None:
            refusal = "" if caller.is_system else await capacity_refusal(day, slot.year, slot.id)
            if refusal:
                raise ValueError(refusal)
            if "distribution_on" not in v or v["distribution_on"] is None:
                v["distribution_on"] = default_distribution(day)
        elif status != SlotStatus.TO_BOOK.value:
            raise ValueError("Un créneau réservé a un jour de livraison.")
    if "distribution_on" in v and not caller.is_system:
        refusal = distribution_refusal(await ctx.after("delivery_on"), v["distribution_on"])
        if refusal:
            raise ValueError(refusal)
        if v["distribution_on"] is not None:
            v["boxes_collect_by"] = v.get("boxes_collect_by") or boxes_due(v["distribution_on"])
    if "class_order" in v:
        if code_of(slot.status) not in (SlotStatus.BOOKED.value, SlotStatus.DELIVERED.value):
            raise ValueError("L'ordre de passage se donne pour un créneau réservé, avant la distribution (R-SLOT-4).")
        distribution = await ctx.after("distribution_on")
        if distribution is not None and ctx.today > class_order_due(distribution) and not caller.is_system:
            raise ValueError(f"L'ordre de passage des classes se donne au plus tard le "
                             f"{fr(class_order_due(distribution))}, 3 jours avant la distribution du "
                             f"{fr(distribution)} (R-SLOT-4) : appelez l'équipe de la Région pour le changer.")
        classes = (await school_classes([slot.school_id])).get(slot.school_id, {})
        names = [c.strip() for c in str(v["class_order"] or "").replace(";", ",").replace("\n", ",").split(",")
                 if c.strip()]
        unknown = [c for c in names if c not in classes]
        if unknown:
            raise ValueError(f"Classe(s) inconnue(s) du lycée : {', '.join(unknown[:10])}. Classes : "
                             f"{', '.join(sorted(classes)) or 'aucune'}.")
        v["class_order"] = ", ".join(dict.fromkeys(names))
        v["class_order_at"] = now()
    if "delivery_note_signed_by" in v and v["delivery_note_signed_by"] not in (None, ""):
        school = await School.get(id=slot.school_id)
        await school_agent(v["delivery_note_signed_by"], school)
    if "boxes_collected_on" in v and v["boxes_collected_on"] is not None:
        distribution = await ctx.after("distribution_on")
        if distribution is not None and v["boxes_collected_on"] < distribution:
            raise ValueError(f"Les cartons se collectent après la distribution du {fr(distribution)} (R-SLOT-8).")


async def book_check(ctx: WriteContext) -> None:
    """R-SLOT-1: within the booking window (calendar data), by a member of the school's « La Poste » group (the
    person signed in by school access, or named by an agent booking on their behalf)."""
    slot, v, caller = ctx.instance, ctx.values, ctx.caller
    assert isinstance(slot, Slot)
    school = await School.get(id=slot.school_id)
    if not caller.is_system:
        span = await window(BOOKING_RULE, slot.year)
        if span is None:
            raise ValueError(f"La période de réservation {slot.year} n'est pas dans le calendrier de la campagne : "
                             "l'équipe de la Région doit la saisir.")
        if not span[0] <= ctx.today <= span[1]:
            raise ValueError(f"La réservation des créneaux {slot.year} est ouverte du {fr(span[0])} au "
                             f"{fr(span[1])} (R-SLOT-1) : contactez l'équipe de la Région.")
    if caller.role == ECOLE:
        contact = await contact_of(caller, school.id)
        if contact is None:
            raise Forbidden("Vous n'êtes pas un contact de ce lycée.")
        await la_poste_member(contact.id, school, "réservent le créneau (R-SLOT-1)")
        v["booked_by"] = str(contact.id)
    else:
        if v.get("booked_by") in (None, ""):
            raise ValueError("« Réserver » impossible : nommez le membre du groupe « La Poste » de l'établissement "
                             "pour qui vous réservez (R-SLOT-1).")
        await la_poste_member(v["booked_by"], school, "réservent le créneau (R-SLOT-1)")
    v["booked_at"] = now()


async def deliver_check(ctx: WriteContext) -> None:
    """R-SLOT-5: the readiness checklist is complete before « livré », R-SLOT-3: within the delivery window."""
    row = await ctx.row_after()
    missing = [label for name, label in CHECKLIST if not row.get(name)]
    if missing:
        raise ValueError("« Livré » impossible : la liste de préparation n'est pas complète (R-SLOT-5) : "
                         + ", ".join(missing) + ".")


async def close_check(ctx: WriteContext) -> None:
    """R-SLOT-9: a slot closes once its certificate is signed, or an intervention note stands in for it."""
    row = await ctx.row_after()
    if not row.get("certificate_signed_by") and not str(row.get("intervention_note") or "").strip():
        raise ValueError("« Clore » impossible : l'attestation de distribution n'est pas signée par un membre du "
                         "groupe « La Poste », et aucune note d'intervention ne la remplace (R-SLOT-9).")


async def slot_effects(ctx: WriteContext) -> None:
    """After a slot's change: the delivery days' counts, and the plan when its dates, rooms or order changed."""
    slot = ctx.instance
    assert isinstance(slot, Slot)
    v = ctx.values
    if "delivery_on" in v or "status" in v:
        await recount({*ctx.__dict__.get(_DAYS_BEFORE, set()), slot.delivery_on}, ctx.caller)
    planning = PLAN_FIELDS & set(v)
    if planning and (planning != {"status"} or code_of(v["status"]) in (SlotStatus.BOOKED.value,
                                                                          SlotStatus.CANCELLED.value,
                                                                          SlotStatus.TO_BOOK.value)):
        if code_of(slot.status) in (*OPEN_STATES, SlotStatus.DELIVERED.value, SlotStatus.CANCELLED.value):
            await replan(slot, ctx.caller)


CHECKLIST = (("accounts_ready", "comptes Monlycee.net des élèves distribués et activés"),
             ("rooms_ready", "salle(s) prête(s)"),
             ("start_person", "personne de l'établissement au début"),
             ("end_person", "personne de l'établissement à la fin"))


# --- Slots: row actions ---------------------------------------------------------------------------------------

async def sign_certificate(ctx: ActionContext) -> str:
    """R-SLOT-9: the distribution certificate signed by a member of the school's « La Poste » group."""
    slot = await Slot.get(id=ctx.row_ids[0]).prefetch_related("school")
    if code_of(slot.status) != SlotStatus.DISTRIBUTED.value:
        raise ValueError(f"L'attestation se signe une fois la distribution faite (créneau « "
                         f"{SlotStatus.label_of(code_of(slot.status))} »).")
    if ctx.caller.role == ECOLE:
        contact = await contact_of(ctx.caller, slot.school_id)
        if contact is None:
            raise Forbidden("Vous n'êtes pas un contact de ce lycée.")
        contact_id: Any = contact.id
    else:
        contact_id = ctx.values.get("signer")
        if contact_id in (None, ""):
            raise ValueError("Nommez le membre du groupe « La Poste » qui signe l'attestation (R-SLOT-9).")
    contact = await la_poste_member(contact_id, slot.school, "signent l'attestation de distribution (R-SLOT-9)")
    await ctx.caller.elevated().check()
    from sheets.engine.writes import RowChange, apply_changes

    await apply_changes(SLOTS, [RowChange(slot.id, {"certificate_signed_by": str(contact.id),
                                                    "certificate_signed_at": now()})],
                        ctx.caller.elevated(), parsed=False)
    return f"Attestation de distribution signée par {contact.full_name}."


async def intervention(ctx: ActionContext) -> str:
    """R-SLOT-9: no « La Poste » member there: a school agent signs an intervention note, and the authorised persons
    get a mail with their access link to sign the certificate."""
    from emails.access import mail_access_link
    from models.outbox import enqueue

    slot = await Slot.get(id=ctx.row_ids[0]).prefetch_related("school")
    if code_of(slot.status) != SlotStatus.DISTRIBUTED.value:
        raise ValueError("La note d'intervention se signe le jour de la distribution (créneau « Distribué »).")
    agent = await school_agent(ctx.values.get("agent"), slot.school)
    text = str(ctx.values.get("note") or "").strip()
    if not text:
        raise ValueError("« Note » est obligatoire : ce qui a été remis et pourquoi aucun membre du groupe « La "
                         "Poste » n'a signé.")
    from sheets.engine.writes import RowChange, apply_changes

    note = f"Signée par {agent.full_name} le {now():%d/%m/%Y} : {text}"[:2000]
    await apply_changes(SLOTS, [RowChange(slot.id, {"intervention_note": note})], ctx.caller.elevated(), parsed=False)
    members = await Contact.filter(school_id=slot.school_id, roles__role=ContactRole.LA_POSTE).distinct()
    sent = 0
    for member in members:
        if await mail_access_link(member.email, reason=f"R-SLOT-9 attestation {slot.school.uai} {slot.year}"):
            sent += 1
    text_ce = (f"Bonjour,\n\nLa distribution des PC du {slot.school.name} ({slot.school.uai}) a eu lieu sans "
               f"membre du groupe « La Poste » pour signer l'attestation. {agent.full_name} a signé une note "
               "d'intervention. Les membres du groupe « La Poste » de l'établissement reçoivent chacun un lien "
               "d'accès personnel pour signer l'attestation dans Rentrée (Mon établissement › Livraison et "
               "distribution).\n\nL'équipe de la Région Île-de-France\n")
    await enqueue(f"slot-intervention:{slot.id}", [slot.school.generic_email],
                  f"Attestation de distribution à signer – {slot.school.name} ({slot.school.uai})", text_ce, "",
                  kind="slot_certificate", school_uai=slot.school.uai)
    return f"Note d'intervention enregistrée ; {sent} personne(s) autorisée(s) prévenue(s) par courriel."


async def recompute_plan(ctx: ActionContext) -> str:
    """R-SLOT-6: the plan recomputed from the school's classes as they are now."""
    total = 0
    for slot in await Slot.filter(id__in=ctx.row_ids):
        total += await replan(slot, ctx.caller)
    return f"Plan recalculé : {total} classe(s)."


async def open_campaign(ctx: ActionContext) -> str:
    """R-SLOT-1: one slot « à réserver » for every numérique school without one for the year."""
    from models.schools import Mode

    year = ctx.values.get("campaign")
    if not year:
        raise ValueError("« Campagne » est obligatoire (ex. 2024).")
    schools = await School.filter(mode=Mode.NUMERIQUE).order_by("uai").values_list("id", "uai")
    have = set(await Slot.filter(year=year).values_list("school_id", flat=True))
    todo = [(sid, uai) for sid, uai in schools if sid not in have]
    laptops = await laptops_of([sid for sid, _ in todo])
    rows = [{"school": uai, "year": year, "laptops": laptops.get(sid, 0)} for sid, uai in todo]
    if rows:
        await create_rows(SLOTS, rows, ctx.caller, parsed=True)
    return f"Campagne {year} : {len(rows)} créneau(x) à réserver créé(s)."


SLOT_LIFECYCLE = LifeCycle(
    field="status",
    states=SlotStatus.choices(),
    initial=SlotStatus.TO_BOOK.value,
    role_labels=ROLE_NAMES,
    transitions=(
        Transition("book", "Réserver", (SlotStatus.TO_BOOK.value,), SlotStatus.BOOKED.value, REGION | SCHOOL_LP,
                   needs=(Need("delivery_on", "choisissez le jour de livraison"),),
                   form=("delivery_on", "booked_by"), check=book_check, rule="R-SLOT-1",
                   refusal="« Réserver » est réservé aux membres du groupe « La Poste » de l'établissement et aux "
                           "agents de la Région (R-SLOT-1).",
                   help="Un membre du groupe « La Poste » de l'établissement, ou un agent qui le nomme."),
        Transition("deliver", "Livré", (SlotStatus.BOOKED.value,), SlotStatus.DELIVERED.value, OPS,
                   needs=(Need("delivery_note_signed_by", "nommez l'agent de l'établissement qui a signé le bon de "
                                                          "livraison (R-SLOT-3)"),),
                   form=("delivery_note_signed_by",), check=deliver_check, rule="R-SLOT-3",
                   help="Bon de livraison signé et tamponné par un agent de l'établissement ; liste de préparation "
                        "complète (R-SLOT-5)."),
        Transition("distribute", "Distribué", (SlotStatus.DELIVERED.value,), SlotStatus.DISTRIBUTED.value, OPS,
                   needs=(Need("distribution_on", "indiquez le jour de la distribution"),),
                   derive=lambda row, today: ({"boxes_collect_by": boxes_due(row["distribution_on"])}
                                              if row.get("distribution_on") and not row.get("boxes_collect_by")
                                              else {}),
                   rule="R-SLOT-6"),
        Transition("close", "Clore", (SlotStatus.DISTRIBUTED.value,), SlotStatus.CLOSED.value, OPS,
                   check=close_check, rule="R-SLOT-9"),
        Transition("cancel", "Annuler", OPEN_STATES, SlotStatus.CANCELLED.value, REGION),
        Transition("reopen", "Rouvrir (à réserver)", (SlotStatus.CANCELLED.value, SlotStatus.BOOKED.value),
                   SlotStatus.TO_BOOK.value, REGION, clears=("delivery_on", "distribution_on", "booked_by",
                                                             "booked_at")),
    ),
)

SLOTS = register(Sheet(
    name="slots",
    label="Créneaux de livraison et de distribution",
    model=Slot,
    read_roles=READERS,
    edit_roles=OPS | SCHOOL_STAFF,
    create_roles=REGION,
    key="id",
    default_sort=("delivery_on", "id"),
    school_path="school__uai",
    lifecycle=SLOT_LIFECYCLE,
    create_hook=slot_create_hook,
    change_hook=slot_hook,
    after_change=slot_effects,
    actions=(
        RowAction("sign_certificate", "Signer l'attestation de distribution", OPS | SCHOOL_LP, sign_certificate,
                  rows="one", fields=(Column("signer", "Signataire (n° de contact, groupe « La Poste »)",
                                             kind="integer"),),
                  icon="draw", rule="R-SLOT-9",
                  help="Signée par un membre du groupe « La Poste » dès la fin de la distribution."),
        RowAction("intervention", "Note d'intervention (aucun signataire présent)", OPS, intervention, rows="one",
                  fields=(Column("agent", "Agent de l'établissement (n° de contact)", kind="integer", required=True),
                          Column("note", "Note", required=True, max_length=1500)),
                  icon="assignment_late", rule="R-SLOT-9",
                  help="Un agent de l'établissement signe la note ; les personnes autorisées reçoivent leur lien."),
        RowAction("replan", "Recalculer le plan de distribution", REGION, recompute_plan, icon="event_repeat",
                  rule="R-SLOT-6"),
        RowAction("open_campaign", "Ouvrir la campagne (créneaux à réserver)", REGION, open_campaign, rows="none",
                  fields=(Column("campaign", "Campagne (année)", kind="integer", required=True),),
                  icon="playlist_add", rule="R-SLOT-1"),
    ),
    nav=Nav("Créneaux", "event", 10, "Créneaux"),
    description="Un créneau par lycée numérique et par campagne : réservation par le groupe « La Poste » "
                "(R-SLOT-1), livraison (R-SLOT-3), préparation (R-SLOT-5), distribution (R-SLOT-6), cartons "
                "(R-SLOT-8) et attestations (R-SLOT-9).",
    columns=(
        Column("id", "N°", kind="integer", width=70, link="/creneaux/creneau?id={value}"),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), required=True, on_create=True,
               width=110, aliases=("uai", "etablissement")),
        Column("school_name", "Établissement", path="school__name", width=200),
        Column("academie", "Académie", path="school__academie", width=110),
        Column("year", "Année", kind="integer", required=True, on_create=True, width=80),
        Column("laptops", "PC", kind="integer", on_create=True, width=80,
               help="PC affectés aux élèves du lycée pour cette livraison."),
        Column("status", "État", kind="choice", choices=SlotStatus, editable=True, width=120,
               help="Cycle de vie : seuls les passages permis à votre rôle sont proposés."),
        Column("delivery_on", "Livraison le", kind="date", editable=True, edit_roles=REGION | SCHOOL_LP, width=120),
        Column("booked_by", "Réservé par (n° de contact)", kind="reference", reference=("contacts", "id"),
               editable=True, edit_roles=REGION, width=120),
        Column("booker_name", "Réservé par", path="booked_by__full_name", width=160),
        Column("booked_at", "Réservé le", kind="datetime", width=140),
        Column("rooms", "Salles", kind="integer", width=70, help="2 salles en parallèle au-delà de 250 PC (R-SLOT-5)."),
        Column("distribution_on", "Distribution le", kind="date", editable=True, edit_roles=OPS, width=120,
               help="2 ou 3 jours ouvrés après la livraison (R-SLOT-6)."),
        Column("class_order", "Ordre de passage des classes", editable=True, edit_roles=REGION | SCHOOL_STAFF,
               width=240, max_length=4000,
               help="Classes séparées par des virgules, au plus tard 3 jours avant (R-SLOT-4)."),
        Column("class_order_at", "Ordre donné le", kind="datetime", width=140),
        Column("accounts_ready", "Comptes Monlycee.net activés", kind="boolean", editable=True,
               edit_roles=REGION | SCHOOL_STAFF, width=110),
        Column("rooms_ready", "Salle(s) prête(s)", kind="boolean", editable=True, edit_roles=REGION | SCHOOL_STAFF,
               width=100),
        Column("start_person", "Personne au début", editable=True, edit_roles=REGION | SCHOOL_STAFF, width=160),
        Column("end_person", "Personne à la fin", editable=True, edit_roles=REGION | SCHOOL_STAFF, width=160),
        Column("delivery_note_signed_by", "Bon de livraison signé par (n° de contact)", kind="reference",
               reference=("contacts", "id"), editable=True, edit_roles=OPS, width=130),
        Column("boxes_collect_by", "Cartons à collecter avant le", kind="date", editable=True,
               edit_roles=REGION | SCHOOL_STAFF, width=120,
               help="5 jours après la distribution, sauf demande de l'établissement (R-SLOT-8)."),
        Column("boxes_collected_on", "Cartons collectés le", kind="date", editable=True, edit_roles=OPS, width=120),
        Column("certificate_signed_by", "Attestation signée par (n° de contact)", kind="reference",
               reference=("contacts", "id"), editable=True, edit_roles=frozenset(), width=130),
        Column("certificate_signed_at", "Attestation signée le", kind="datetime", editable=True,
               edit_roles=frozenset(), width=140),
        Column("intervention_note", "Note d'intervention", editable=True, edit_roles=frozenset(), width=240,
               max_length=2000),
        Column("updated_at", "Modifié le", kind="datetime", width=140),
    ),
))


# --- Sessions (the distribution plan, R-SLOT-6) -------------------------------------------------------------

async def session_create_hook(ctx: WriteContext) -> None:
    """The plan is computed, not typed: only the planner adds sessions."""
    if not ctx.caller.is_system:
        raise ValueError("Le plan de distribution se calcule : changez l'ordre de passage des classes du créneau "
                         "(R-SLOT-4) ou recalculez le plan.")


async def roll_call(ctx: ActionContext) -> str:
    """R-SLOT-7: the class called by name: each present student with a laptop gets it (handed over), an absent one's
    stays with the school to hand over later, a present one without a laptop gets one from the agents' extra stock
    (assigned to them), and a laptop held by someone no longer in the base is taken back. Every case is a move of
    the device's life cycle made by the caller through the engine (the fleet's own rights apply)."""
    from models.fleet import Device, DeviceKind, Holder, HolderKind, Situation, SlotCase, Status, slot_case
    from sheets.fleet import DEVICES

    session = await Session.get(id=ctx.row_ids[0]).prefetch_related("school", "slot")
    if code_of(session.slot.status) != SlotStatus.DELIVERED.value:
        raise ValueError(f"L'appel se fait le jour de la distribution, une fois les PC livrés (créneau « "
                         f"{SlotStatus.label_of(code_of(session.slot.status))} »).")
    if session.roll_call_done:
        raise ValueError(f"L'appel de la classe {session.class_name} est déjà fait.")
    uai = session.school.uai
    students = await Holder.filter(school_id=session.school_id, class_name=session.class_name,
                                   kind=HolderKind.STUDENT, situation=Situation.IN_SCHOOL).order_by("last_name")
    by_ident = {h.ident: h for h in students}
    absent = {a.strip().upper() for a in str(ctx.values.get("absent") or "").replace(";", ",").split(",") if a.strip()}
    unknown = sorted(a for a in absent if a not in {i.upper() for i in by_ident})
    if unknown:
        raise ValueError(f"{', '.join(unknown[:10])} : pas élève(s) de la classe {session.class_name} dans la base.")
    held = {d.holder_id: d for d in await Device.filter(holder_id__in=[h.id for h in students],
                                                         kind=DeviceKind.STUDENT_LAPTOP, status=Status.DELIVERED)}
    counts = {case: 0 for case in SlotCase}
    for student in students:
        case = slot_case(listed=True, present=student.ident.upper() not in absent, has_device=student.id in held)
        counts[case] += 1
        if case == SlotCase.HAND_OVER:
            await set_values(DEVICES, [held[student.id].id], {"status": Status.DISTRIBUTED.value}, ctx.caller)
        elif case == SlotCase.FROM_EXTRA_STOCK:
            spare = await Device.filter(status=Status.STOCK, kind=DeviceKind.STUDENT_LAPTOP).order_by("id").first()
            if spare is None:
                raise ValueError(f"Plus de PC dans le stock des agents pour {student.first_name} "
                                 f"{student.last_name} ({student.ident}) : notez-le et prévenez la Région.")
            await set_values(DEVICES, [spare.id], {"status": Status.DISTRIBUTED.value, "holder": student.ident,
                                                   "school": uai}, ctx.caller)
    serials = [x.strip().upper() for x in str(ctx.values.get("taken_back") or "").replace(";", ",").split(",")
               if x.strip()]
    for serial in serials:
        device = await Device.get_or_none(serial=serial).prefetch_related("holder")
        if device is None or device.holder is None:
            raise ValueError(f"PC « {serial[:40]} » introuvable ou sans porteur.")
        listed = device.holder.school_id == session.school_id and code_of(device.holder.situation) == \
            Situation.IN_SCHOOL.value
        case = slot_case(listed=listed, present=True, has_device=True)
        if case != SlotCase.TAKE_BACK:
            raise ValueError(f"Le porteur du PC {serial} est dans la base du lycée : il ne se reprend pas.")
        counts[case] += 1
        await set_values(DEVICES, [device.id], {"status": Status.RETURNED.value}, ctx.caller)
    from sheets.engine.writes import RowChange, apply_changes

    await apply_changes(SESSIONS, [RowChange(session.id, {"roll_call_done": True})], ctx.caller.elevated())
    return (f"Appel de la classe {session.class_name} : {counts[SlotCase.HAND_OVER]} PC remis, "
            f"{counts[SlotCase.KEEP_AT_SCHOOL]} absent(s) (le lycée remettra le PC), "
            f"{counts[SlotCase.FROM_EXTRA_STOCK]} PC du stock des agents, {counts[SlotCase.TAKE_BACK]} PC repris.")


SESSIONS = register(Sheet(
    name="sessions",
    label="Créneaux : plan de distribution",
    model=Session,
    read_roles=READERS,
    edit_roles=frozenset(),
    create_roles=REGION,
    delete_roles=REGION,
    key="id",
    versioned=True,
    default_sort=("day", "starts_at", "room"),
    school_path="school__uai",
    create_hook=session_create_hook,
    actions=(RowAction("roll_call", "Appel de la classe", LAPOSTE, roll_call, rows="one",
                       fields=(Column("absent", "Absents (identifiants, séparés par des virgules)", max_length=2000),
                               Column("taken_back", "PC repris (n° de série, porteurs sortis de la base)",
                                      max_length=2000)),
                       icon="how_to_reg", rule="R-SLOT-7",
                       help="Présents : PC remis ; absents : le lycée remettra le PC ; présents sans PC : un PC du "
                            "stock des agents ; porteurs sortis de la base : PC repris."),),
    nav=Nav("Créneaux", "view_timeline", 30, "Plan de distribution"),
    description="Le passage de chaque classe : jour, heure (9 h ou 14 h, 30 minutes par classe), salle (R-SLOT-6).",
    columns=(
        Column("id", "N°", kind="integer", width=70),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), on_create=True, width=110),
        Column("slot", "Créneau", kind="reference", reference=("slots", "id"), on_create=True, width=80),
        Column("day", "Jour", kind="date", on_create=True, width=110),
        Column("starts_at", "Début", on_create=True, width=80),
        Column("room", "Salle", kind="integer", on_create=True, width=70),
        Column("class_name", "Classe", on_create=True, width=100),
        Column("students", "Élèves", kind="integer", on_create=True, width=80),
        Column("position", "Ordre", kind="integer", on_create=True, width=70),
        Column("roll_call_done", "Appel fait", kind="boolean", editable=True, edit_roles=frozenset(), width=90),
    ),
))
