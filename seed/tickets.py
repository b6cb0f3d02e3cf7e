"""Demo maintenance: the contractors and categories of the 2024 contract (data), a year of tickets in every state
with their timelines, and the preventive visits. From a fixed random seed; idempotent.

Dates are relative to the app's clock: the year of tickets ends now, so open tickets are « à risque » or late for
real. The timelines are simulated with the same deadline functions as the app (models/tickets.py).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

import settings as settings_module
from models.schools import Contact, ContactRole, School, SupportDesk
from models.tickets import (
    Channel,
    Clock,
    Contractor,
    Criticality,
    EventKind,
    Handling,
    SlaState,
    Ticket,
    TicketCategory,
    TicketEvent,
    TicketStatus,
    Visit,
    VisitKind,
    VisitStatus,
    code_of,
    open_key,
    paused_minutes,
    pauses_of,
    sla_clock,
    sla_state_at,
    terms_of,
)
from models.workdays import add_working_minutes, is_working_day, working_minutes_between

Progress = Callable[[str], Any]
ORDER = 40
DEFAULT_TICKETS = 3000

CONTRACTORS: list[dict[str, Any]] = [
    {"code": "SPIE", "name": "SPIE ICS", "scope": "Postes de travail, réseau y compris Wi-Fi, visites préventives, "
                                              "études terrain",
     "desk_email": "plateau-lycees@spie-ics.example.fr", "desk_phone": "01 70 00 10 10"},
    {"code": "ATOS", "name": "Atos", "scope": "Serveurs, onduleurs, passerelles de sécurité (Stormshield)",
     "desk_email": "plateau-lycees@atos.example.fr", "desk_phone": "01 70 00 20 20"},
]

# The livret's 2024 contract (R-TICKET-2, R-TICKET-6, R-TICKET-7, R-TICKET-8): edit the rows, not this list, when
# the contract changes.
CATEGORIES: list[dict[str, Any]] = [
    {"code": "poste_travail", "label": "Poste de travail (PC fixe, imprimante)", "contractor": "SPIE",
     "profile": "technicien", "onsite_min_days": 3, "onsite_max_days": 5},
    {"code": "reseau", "label": "Réseau (commutateurs, câblage)", "contractor": "SPIE", "profile": "technicien",
     "onsite_min_days": 1, "onsite_max_days": 3, "excluded_links": "Liens très haut débit (opérateur)"},
    {"code": "wifi", "label": "Wi-Fi (bornes, contrôleur)", "contractor": "SPIE", "profile": "ingenieur",
     "onsite_min_days": 1, "onsite_max_days": 3},
    {"code": "etude_terrain", "label": "Étude terrain (câblage, couverture Wi-Fi)", "contractor": "SPIE",
     "profile": "ingenieur", "onsite_min_days": 3, "onsite_max_days": 5},
    {"code": "serveur", "label": "Serveur", "contractor": "ATOS", "profile": "ingenieur", "onsite_min_days": 1,
     "onsite_max_days": 3},
    {"code": "onduleur", "label": "Onduleur", "contractor": "ATOS", "profile": "technicien", "onsite_min_days": 1,
     "onsite_max_days": 3},
    {"code": "passerelle", "label": "Passerelle de sécurité (Stormshield)", "contractor": "ATOS",
     "profile": "expert", "onsite_min_days": 1, "onsite_max_days": 3},
    {"code": "monlycee", "label": "Monlycee.net (ENT, comptes)", "handled": False,
     "redirect_to": "Support Monlycee.net"},
    {"code": "manuels", "label": "Manuels et ressources numériques", "handled": False,
     "redirect_to": "Manuels scolaires (Région)"},
    {"code": "pc_individuel", "label": "PC individuel (élève, enseignant)", "handled": False,
     "redirect_to": "Assistance Unowhy (direction)"},
    {"code": "ecrans", "label": "Écrans numériques interactifs", "handled": False,
     "redirect_to": "S.A.V. écrans numériques interactifs"},
]

SUMMARIES: dict[str, list[str]] = {
    "poste_travail": ["PC de la salle 204 ne démarre plus", "Imprimante du CDI hors service",
                      "Postes de la salle informatique sans session", "Écran noir sur le poste de la vie scolaire"],
    "reseau": ["Plus d'accès réseau au bâtiment B", "Commutateur du 2e étage en panne",
               "Prise réseau de la salle des professeurs inactive", "Lenteurs réseau généralisées"],
    "wifi": ["Wi-Fi indisponible au CDI", "Borne Wi-Fi du couloir C clignote", "Couverture Wi-Fi faible en salle 112",
             "Les PC élèves ne se connectent plus au Wi-Fi"],
    "etude_terrain": ["Étude de couverture Wi-Fi du nouveau bâtiment", "Câblage de la future salle informatique"],
    "serveur": ["Serveur de fichiers inaccessible", "Serveur pédagogique saturé", "Sauvegardes du serveur en échec"],
    "onduleur": ["Onduleur de la baie en alarme", "Onduleur bipe en continu"],
    "passerelle": ["Passerelle Stormshield bloque la navigation", "Filtrage web trop strict sur les postes élèves"],
}
NOTES = {
    TicketStatus.TAKEN.value: ["Diagnostic à distance en cours.", "Technicien affecté.", ""],
    TicketStatus.WAITING.value: ["Merci de nous indiquer un créneau d'accès à la baie.",
                                 "Pouvez-vous redémarrer le matériel et nous dire s'il revient ?",
                                 "Besoin du numéro de la salle et d'un contact sur place."],
    TicketStatus.INTERVENTION.value: ["Intervention sur site planifiée.", "Pièce commandée, intervention en cours."],
    TicketStatus.RESOLVED.value: ["Matériel remplacé.", "Configuration corrigée.", "Redémarrage et mise à jour."],
    TicketStatus.CLOSED.value: ["Clos après confirmation de l'établissement.", ""],
}


async def seed_reference() -> dict[str, int]:
    """Contractors and categories of the contract (and the support desks they send to): created when missing."""
    from seed.demo import SUPPORT_DESKS

    created = {"contractors": 0, "ticket_categories": 0}
    async with in_transaction():
        for desk in SUPPORT_DESKS:
            await SupportDesk.get_or_create(name=desk["name"], defaults=desk)
        for c in CONTRACTORS:
            _, was = await Contractor.get_or_create(code=c["code"], defaults=c)
            created["contractors"] += int(was)
        contractors = {c.code: c for c in await Contractor.all()}
        desks = {d.name: d for d in await SupportDesk.all()}
        for cat in CATEGORIES:
            values = {k: v for k, v in cat.items() if k not in ("contractor", "redirect_to")}
            values["contractor"] = contractors.get(cat.get("contractor", ""))
            values["redirect_to"] = desks.get(cat.get("redirect_to", ""))
            _, was = await TicketCategory.get_or_create(code=cat["code"], defaults=values)
            created["ticket_categories"] += int(was)
    return created


def _working_moment(rng: random.Random, start: dt.datetime, end: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A moment of a working day between 8:05 and 17:55 (the free line's hours), between two dates."""
    span = max(1, (end - start).days)
    for _ in range(50):
        day = (start + dt.timedelta(days=rng.randrange(span))).astimezone(tz).date()
        if is_working_day(day):
            minutes = rng.randrange(5, 595)
            moment = dt.datetime.combine(day, dt.time(8), tzinfo=tz) + dt.timedelta(minutes=minutes)
            if start <= moment <= end:
                return moment
    return start


def _final_state(rng: random.Random, age_days: float) -> str:
    roll = rng.random()
    table = ((0.9, "clos"), (0.98, "resolu"), (0.99, "en_intervention"), (0.995, "attente_etablissement"),
             (1.0, "pris_en_charge")) if age_days > 30 else (
        (0.45, "clos"), (0.65, "resolu"), (0.77, "en_intervention"), (0.89, "attente_etablissement"),
        (1.0, "pris_en_charge")) if age_days > 5 else (
        (0.1, "clos"), (0.25, "resolu"), (0.42, "en_intervention"), (0.58, "attente_etablissement"),
        (0.8, "pris_en_charge"), (1.0, "nouveau"))
    if age_days < 0.5 and rng.random() < 0.5:
        return "nouveau"
    return next(state for limit, state in table if roll < limit)


def simulate(rng: random.Random, *, opened: dt.datetime, now: dt.datetime, final: str, csn: bool,
             category: TicketCategory, contractor: Contractor, criticality: str, tz: dt.tzinfo,
             redirect: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A ticket's fields and timeline, walked step by step with the app's deadline rules, stopped at now."""
    terms = terms_of(contractor, category)
    events: list[dict[str, Any]] = [{"at": opened, "kind": EventKind.CREATED, "from_status": None,
                                     "to_status": TicketStatus.NEW, "text": ""}]
    fields: dict[str, Any] = {"status": TicketStatus.NEW.value, "handling": None, "taken_at": None,
                              "resolved_at": None, "late_opening": False, "note": ""}
    clock = sla_clock("nouveau", opened_at=opened, taken_at=None, handling=None, criticality=criticality, terms=terms,
                      tz=tz)
    breached = False

    def step(at: dt.datetime, target: str, kind: EventKind = EventKind.STEP, text: str = "") -> bool:
        if at > now:
            return False
        events.append({"at": at, "kind": kind, "from_status": fields["status"], "to_status": target, "text": text})
        fields["status"] = target
        fields["note"] = text
        return True

    if redirect:
        step(add_working_minutes(opened, rng.randrange(5, 60), tz=tz), "redirige", text="Relève d'un autre support.")
        return {**fields, "due_at": clock.due_at, "risk_at": None, "paused_hours": Decimal("0"),
                "sla_state": SlaState.OK.value}, events
    late = rng.random() < 0.08
    taken = add_working_minutes(opened, rng.randrange(130, 400) if late else rng.randrange(10, 110), tz=tz)
    order = ["pris_en_charge", "attente_etablissement", "en_intervention", "resolu", "clos"]
    target_rank = -1 if final == "nouveau" else order.index(final)
    if target_rank >= 0 and step(taken, "pris_en_charge", text=rng.choice(NOTES["pris_en_charge"])):
        fields["taken_at"] = taken
        fields["late_opening"] = bool(clock.due_at and taken > clock.due_at)
        remote_ok = csn and rng.random() < 0.6
        fields["handling"] = Handling.REMOTE.value if remote_ok else Handling.ONSITE.value
        moment = taken
        resolution = sla_clock("pris_en_charge", opened_at=opened, taken_at=taken, handling=fields["handling"],
                               criticality=criticality, terms=terms, tz=tz)
        budget = working_minutes_between(taken, resolution.due_at, tz=tz) if resolution.due_at else 600.0
        waits = final == "attente_etablissement" or (target_rank > 1 and rng.random() < 0.25)
        if waits:
            moment = add_working_minutes(moment, budget * rng.uniform(0.05, 0.2), tz=tz)
            if step(moment, "attente_etablissement", text=rng.choice(NOTES["attente_etablissement"])) and \
                    final != "attente_etablissement":
                moment = add_working_minutes(moment, rng.randrange(60, 900), tz=tz)
                step(moment, "pris_en_charge", text="Réponse reçue de l'établissement.")
        if target_rank >= 2 and fields["status"] == "pris_en_charge":
            moment = add_working_minutes(moment, budget * rng.uniform(0.05, 0.3), tz=tz)
            step(moment, "en_intervention", text=rng.choice(NOTES["en_intervention"]))
        if target_rank >= 3 and fields["status"] in ("pris_en_charge", "en_intervention"):
            share = rng.uniform(1.05, 1.8) if rng.random() < 0.1 else rng.uniform(0.35, 0.6)
            moment = add_working_minutes(moment, budget * share, tz=tz)
            if step(moment, "resolu", text=rng.choice(NOTES["resolu"])):
                fields["resolved_at"] = moment
        if target_rank >= 4 and fields["status"] == "resolu":
            step(moment + dt.timedelta(days=rng.randrange(1, 4), hours=rng.randrange(0, 5)), "clos",
                 text=rng.choice(NOTES["clos"]))
    status = fields["status"]
    paused = 0.0
    if status != "nouveau":
        paused = paused_minutes(pauses_of(events), fields["taken_at"], now if status == "attente_etablissement"
                                else events[-1]["at"], tz)
        clock = sla_clock("pris_en_charge", opened_at=opened, taken_at=fields["taken_at"],
                          handling=fields["handling"], criticality=criticality, terms=terms, paused=paused, tz=tz)
    if status in ("resolu", "clos"):
        breached = clock.due_at is not None and fields["resolved_at"] > clock.due_at
        state = SlaState.BREACHED if breached else SlaState.OK
        clock = Clock(clock.due_at, None, paused)
    elif status == "attente_etablissement":
        state = SlaState.OK
        clock = Clock(clock.due_at, None, paused)
    else:
        state = sla_state_at(now, clock)
        if state == SlaState.BREACHED and status == "nouveau":
            fields["late_opening"] = True
    return {**fields, "due_at": clock.due_at, "risk_at": clock.risk_at,
            "paused_hours": Decimal(str(round(paused / 60, 2))), "sla_state": state.value}, events


async def seed_tickets(count: int = DEFAULT_TICKETS, seed: int = 2024, progress: Progress | None = None) -> int:
    """A year of tickets up to now (none when some exist), with their timelines; the number created."""
    say = progress or (lambda _m: None)
    if await Ticket.exists():
        return 0
    schools = {s.id: s for s in await School.all()}
    if not schools:
        return 0
    tz = settings_module.tz()
    now = settings_module.now()
    rng = random.Random(seed + 14)
    categories = await TicketCategory.all().prefetch_related("contractor", "redirect_to")
    handled = [c for c in categories if c.redirect_to is None and c.contractor is not None]
    redirected = [c for c in categories if c.redirect_to is not None]
    reporters: dict[int, list[int]] = {}
    for cid, school_id in await Contact.filter(roles__role__in=[ContactRole.CHEF, ContactRole.COORDONNATEUR]
                                               ).distinct().values_list("id", "school_id"):
        reporters.setdefault(school_id, []).append(cid)
    school_ids = sorted(schools)
    start = now - dt.timedelta(days=365)
    plans = sorted((_working_moment(rng, start, now - dt.timedelta(minutes=20), tz), i) for i in range(count))
    tickets: list[Ticket] = []
    timelines: list[list[dict[str, Any]]] = []
    used_keys: set[str] = set()
    numbers: dict[int, int] = {}
    weights = [5, 4, 5, 1, 2, 1, 2]
    for opened, _ in plans:
        school = schools[rng.choice(school_ids)]
        redirect = bool(redirected) and rng.random() < 0.04
        category = rng.choice(redirected) if redirect else rng.choices(handled, weights[:len(handled)])[0]
        roll = rng.random()
        channel = Channel.PHONE if roll < 0.6 else Channel.EMAIL if roll < 0.85 else Channel.SCHOOL
        if channel != Channel.PHONE and rng.random() < 0.3:  # a mail or a school report outside the line's hours
            opened = opened.replace(hour=rng.choice((7, 19, 20)))
            if opened > now:
                opened = now - dt.timedelta(hours=1)
        age = (now - opened).total_seconds() / 86400
        final = _final_state(rng, age)
        key = open_key(school.id, category.id)
        if final not in ("resolu", "clos") and key in used_keys:
            final = "clos"
        criticality = rng.choices(["critique", "haute", "normale", "basse"], [1, 3, 6, 2])[0]
        contractor = category.contractor or handled[0].contractor
        fields, events = simulate(rng, opened=opened, now=now, final=final, csn=school.csn_deployed,
                                  category=category, contractor=contractor, criticality=criticality, tz=tz,
                                  redirect=redirect)
        if code_of(fields["status"]) in ("nouveau", "pris_en_charge", "attente_etablissement", "en_intervention"):
            if key in used_keys:
                continue
            used_keys.add(key)
            fields["open_key"] = key
        else:
            fields["open_key"] = None
        year = opened.astimezone(tz).year
        numbers[year] = numbers.get(year, 0) + 1
        summary = rng.choice(SUMMARIES.get(category.code, [f"Question : {category.label}"]))
        tickets.append(Ticket(
            number=f"T{year}-{numbers[year]:05d}", school_id=school.id, category_id=category.id, summary=summary,
            criticality=Criticality(criticality), channel=channel, opened_at=opened,
            reported_by_id=rng.choice(reporters[school.id]) if reporters.get(school.id) else None,
            contractor_id=None if redirect else contractor.id,
            profile=None if redirect else category.profile,
            redirected_to_id=category.redirect_to.id if redirect and category.redirect_to else None,
            **{k: v for k, v in fields.items() if k not in ("status", "handling", "sla_state")},
            status=TicketStatus(fields["status"]), sla_state=SlaState(fields["sla_state"]),
            handling=Handling(fields["handling"]) if fields["handling"] else None))
        timelines.append(events)
    async with in_transaction():
        await Ticket.bulk_create(tickets, batch_size=500)
        ids = dict(await Ticket.filter(number__in=[t.number for t in tickets]).values_list("number", "id"))
        rows: list[TicketEvent] = []
        for ticket, events in zip(tickets, timelines, strict=True):
            for e in events:
                rows.append(TicketEvent(ticket_id=ids[ticket.number], school_id=ticket.school_id, at=e["at"],
                                        author="agent@demo.rentree.fr" if e["kind"] == EventKind.CREATED else
                                        "plateau@demo.rentree.fr", kind=e["kind"],
                                        from_status=e["from_status"], to_status=e["to_status"],
                                        text=e["text"] or (ticket.summary if e["kind"] == EventKind.CREATED else "")))
        await TicketEvent.bulk_create(rows, batch_size=1000)
    say(f"Maintenance : {len(tickets)} tickets et {len(rows)} étapes sur un an.")
    return len(tickets)


async def seed_visits(seed: int = 2024) -> int:
    """Preventive visits of the year for a third of the schools (at most 2 days a month, R-TICKET-9)."""
    if await Visit.exists():
        return 0
    spie = await Contractor.get_or_none(code="SPIE")
    school_ids = list(await School.all().order_by("id").values_list("id", flat=True))
    if spie is None or not school_ids:
        return 0
    rng = random.Random(seed + 9)
    today = settings_module.today()
    visits: list[Visit] = []
    for school_id in school_ids[::3]:
        for back in range(-9, 3):
            month = (today.month - 1 + back) % 12 + 1
            year = today.year + (today.month - 1 + back) // 12
            days = [dt.date(year, month, d) for d in range(1, 29) if is_working_day(dt.date(year, month, d))]
            for day in sorted(rng.sample(days, rng.choice((1, 1, 2)))):
                kind = rng.choices(list(VisitKind), [6, 2, 1, 1])[0]
                status = (VisitStatus.DONE if rng.random() < 0.95 else VisitStatus.CANCELLED) if day < today \
                    else VisitStatus.PLANNED
                visits.append(Visit(school_id=school_id, contractor_id=spie.id, day=day, kind=kind, status=status))
    await Visit.bulk_create(visits, batch_size=1000)
    return len(visits)


async def seed_area(progress: Progress | None = None) -> dict[str, int]:
    """Maintenance demo data (discovered by seed.seed_everything)."""
    created = await seed_reference()
    created["tickets"] = await seed_tickets(progress=progress)
    created["visits"] = await seed_visits()
    return created
