"""The fleet: laptops and screens, their holders, the life cycle of a device (R-FLEET-1 … R-FLEET-15, R-SLOT-7).

The life cycle is a transition table plus pure functions (`plan_change`): the sheet's change hook, the bulk
path, the imports and the action buttons all call them, so a forbidden change is refused with the same French
reason whatever the path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.schools import Level, Track
from models.vocab import Labeled

# --- Vocabulary ------------------------------------------------------------------------------------


class DeviceKind(Labeled):
    """What a device is (R-FLEET-1, R-FLEET-14)."""

    STUDENT_LAPTOP = "pc_eleve", "PC élève"
    TEACHER_LAPTOP = "pc_enseignant", "PC enseignant"
    STAFF_LAPTOP = "pc_personnel", "PC personnel"
    SCREEN = "eni", "Écran numérique interactif"
    OPS = "ops", "Écran avec OPS"


LAPTOPS = frozenset({DeviceKind.STUDENT_LAPTOP, DeviceKind.TEACHER_LAPTOP, DeviceKind.STAFF_LAPTOP})
COMPUTERS = LAPTOPS | {DeviceKind.OPS}  # R-FLEET-14: a screen with an OPS has an embedded computer


class Status(Labeled):
    """Where a device is in its life."""

    STOCK = "stock", "Stock régional"
    ASSIGNED = "affecte", "Affecté"
    DELIVERED = "livre", "Livré à l'établissement"
    DISTRIBUTED = "remis", "Remis"
    KEPT = "conserve", "Conservé (fin de scolarité)"
    TO_RETURN = "a_restituer", "À restituer"
    RETURNED = "restitue", "Restitué"
    RECONDITIONED = "reinitialise", "Réinitialisé et noté"
    AFTER_SALES = "sav", "Au S.A.V."
    STOLEN = "vole", "Volé"
    LOST = "perdu", "Perdu"


class Grade(Labeled):
    """Condition grade (R-FLEET-10)."""

    AS_NEW = "comme_neuf", "Comme neuf"
    FAIR = "correct", "Correct"
    WORN = "degrade", "Dégradé"


GRADE_RANK: dict[str, int] = {"comme_neuf": 3, "correct": 2, "degrade": 1}


class HolderKind(Labeled):
    """Who holds a device."""

    STUDENT = "eleve", "Élève"
    TEACHER = "enseignant", "Enseignant"
    STAFF = "personnel", "Personnel"


class Situation(Labeled):
    """Where a holder stands (R-FLEET-3, R-FLEET-7, R-FLEET-8, R-FLEET-9)."""

    IN_SCHOOL = "scolarise", "Dans l'établissement"
    MOVED_IDF = "mute_idf", "Changé d'établissement (IDF)"
    LEFT_IDF = "parti_hors_idf", "Parti hors IDF"
    FINISHED = "fin_scolarite", "Fin de scolarité"
    RETIRED = "retraite", "Retraité"


class EndChoice(Labeled):
    """Decision of a student finishing school (R-FLEET-8)."""

    KEEP = "garder", "Garder"
    RETURN = "restituer", "Restituer"


# --- Roles (strings of models.accounts.Role) ---------------------------------------------------------

RESET_ROLES: frozenset[str] = frozenset({"unowhy", "laposte"})  # R-FLEET-5
OPERATOR_ROLES: frozenset[str] = frozenset({"admin", "agent", "unowhy", "laposte", "maintenance"})

OFFICE_SINCE = dt.date(2021, 9, 1)  # R-FLEET-13


def mdm_unenroll_deadline(day: dt.date) -> dt.date:
    """End of September of the school year that ends around `day` (R-FLEET-8: keep → unenrol before)."""
    return dt.date(day.year if day.month <= 9 else day.year + 1, 9, 30)


# --- The transition table (the life cycle of a device, as data) -----------------------------------


@dataclass(frozen=True)
class Transition:
    """One allowed move of the life cycle: from which states, to which, who, what it needs."""

    action: str
    label: str
    sources: tuple[Status, ...]
    target: Status
    roles: frozenset[str]
    needs: tuple[str, ...] = ()  # fields that must be set after the change: holder, school, evidence_ref, grade
    rule: str = ""
    clears: tuple[str, ...] = ()  # fields emptied by the move
    help: str = ""


_IN_SERVICE = (Status.ASSIGNED, Status.DELIVERED, Status.DISTRIBUTED, Status.TO_RETURN)

TRANSITIONS: tuple[Transition, ...] = (
    Transition("assign", "Affecter à une personne", (Status.STOCK,), Status.ASSIGNED, RESET_ROLES, ("holder",),
               "R-FLEET-5", help="Seuls Unowhy et La Poste affectent un appareil à une personne."),
    Transition("ship", "Expédier en réassort", (Status.STOCK,), Status.DELIVERED, OPERATOR_ROLES, ("school",),
               "R-FLEET-12", help="PC du stock envoyés à un lycée pour de nouveaux élèves, affectés ensuite."),
    Transition("deliver", "Livrer à l'établissement", (Status.ASSIGNED,), Status.DELIVERED, OPERATOR_ROLES,
               ("school",), "R-FLEET-1"),
    Transition("distribute", "Remettre au porteur", (Status.DELIVERED,), Status.DISTRIBUTED, OPERATOR_ROLES,
               ("holder", "school"), "R-SLOT-7"),
    Transition("extra_stock", "Remettre depuis le stock des agents", (Status.STOCK,), Status.DISTRIBUTED,
               RESET_ROLES, ("holder", "school"), "R-SLOT-7",
               help="Élève présent sans PC : un PC du stock supplémentaire des agents lui est remis."),
    Transition("keep", "Fin de scolarité : garde le PC", (Status.DISTRIBUTED,), Status.KEPT, OPERATOR_ROLES,
               ("holder",), "R-FLEET-8",
               help="Le PC doit être désinscrit du MDM avant la fin septembre ; l'élève en devient administrateur."),
    Transition("to_return", "À restituer", (Status.ASSIGNED, Status.DELIVERED, Status.DISTRIBUTED),
               Status.TO_RETURN, OPERATOR_ROLES, (), "R-FLEET-7",
               help="Fin de scolarité avec restitution, départ hors IDF, départ en retraite."),
    Transition("collect", "Restitué", (Status.TO_RETURN,), Status.RETURNED, OPERATOR_ROLES, (), "R-FLEET-9"),
    Transition("take_back", "Repris (porteur absent de la base)", (Status.DELIVERED, Status.DISTRIBUTED),
               Status.RETURNED, OPERATOR_ROLES, (), "R-SLOT-7"),
    Transition("reset", "Réinitialiser et noter", (Status.RETURNED,), Status.RECONDITIONED, RESET_ROLES,
               ("grade",), "R-FLEET-5", clears=("holder",),
               help="Réinitialisation (RGPD) : seuls Unowhy et La Poste."),
    Transition("restock", "Retour au stock régional", (Status.RECONDITIONED,), Status.STOCK, RESET_ROLES,
               (), "R-FLEET-5", clears=("holder", "school")),
    Transition("theft", "Vol ou détournement", _IN_SERVICE, Status.STOLEN, OPERATOR_ROLES, ("evidence_ref",),
               "R-FLEET-11", help="Référence du dépôt de plainte obligatoire."),
    Transition("loss", "Perte", _IN_SERVICE, Status.LOST, OPERATOR_ROLES, ("evidence_ref",), "R-FLEET-11",
               help="Référence de la déclaration de perte (main courante) obligatoire."),
    Transition("breakage", "Casse : envoi au S.A.V.", (Status.DELIVERED, Status.DISTRIBUTED), Status.AFTER_SALES,
               OPERATOR_ROLES, ("evidence_ref",), "R-FLEET-11", help="Numéro de dossier S.A.V. obligatoire."),
    Transition("repaired", "Réparé, rendu au porteur", (Status.AFTER_SALES,), Status.DISTRIBUTED, OPERATOR_ROLES,
               ("holder",), "R-FLEET-11"),
    # R-FLEET-3 / R-FLEET-7: a holder absent from one school's list and found in another IDF school's keeps the
    # device: the return started by the first list is cancelled, the device goes back to the state it had.
    Transition("return_cancelled", "Restitution annulée : reste en IDF (remis)", (Status.TO_RETURN,),
               Status.DISTRIBUTED, OPERATOR_ROLES, ("holder",), "R-FLEET-3",
               help="Le porteur est inscrit dans un autre lycée d'Île-de-France : il garde son PC."),
    Transition("return_cancelled_delivered", "Restitution annulée : reste en IDF (livré)", (Status.TO_RETURN,),
               Status.DELIVERED, OPERATOR_ROLES, ("holder",), "R-FLEET-3"),
    Transition("return_cancelled_assigned", "Restitution annulée : reste en IDF (affecté)", (Status.TO_RETURN,),
               Status.ASSIGNED, OPERATOR_ROLES, ("holder",), "R-FLEET-3"),
)

NEED_MESSAGES: dict[str, str] = {
    "holder": "un porteur est obligatoire",
    "school": "un établissement (UAI) est obligatoire",
    "grade": "l'état (comme neuf, correct, dégradé) est obligatoire",
}
EVIDENCE_MESSAGES: dict[str, str] = {
    "theft": "la référence du dépôt de plainte est obligatoire pour un vol (R-FLEET-11)",
    "loss": "la référence de la déclaration de perte (main courante) est obligatoire (R-FLEET-11)",
    "breakage": "le numéro de dossier S.A.V. est obligatoire pour une casse (R-FLEET-11)",
}


def need_message(action: str, need: str) -> str:
    """Why a move cannot be made without a field (French)."""
    return EVIDENCE_MESSAGES[action] if need == "evidence_ref" else NEED_MESSAGES[need]


def move_effects(target: Status | str, kind: DeviceKind | str | None, today: dt.date) -> dict[str, Any]:
    """What a move sets on the device besides its status (pure): dates, Office, MDM, loan acceptance."""
    target = Status(target)
    out: dict[str, Any] = {}
    if target == Status.DELIVERED:
        out["delivered_on"] = today
    if target == Status.DISTRIBUTED:
        out["distributed_on"] = today
        if kind is not None and DeviceKind(kind) in LAPTOPS and today >= OFFICE_SINCE:
            out["office_installed"] = True  # R-FLEET-13
        out["mdm_enrolled"] = True
    if target == Status.KEPT:
        out["mdm_unenroll_by"] = mdm_unenroll_deadline(today)  # R-FLEET-8, a deadline for the reminders
    if target == Status.RECONDITIONED:
        out["mdm_enrolled"] = False
        out["loan_accepted_on"] = None  # the next holder accepts the loan again (R-FLEET-2)
    return out


def holder_change_refusal(role: str | None, status: Status | str, holder_changes: bool, school_changes: bool,
                          had_school: bool, follows_holder: bool) -> str | None:
    """Why a change of holder or school is refused (French), or None (R-FLEET-3, R-FLEET-5)."""
    status = Status(status)
    if holder_changes and role not in RESET_ROLES:
        return (f"Changement de porteur refusé pour le rôle « {role or 'aucun'} » : seuls Unowhy et La Poste peuvent "
                "réinitialiser un appareil et l'affecter à une autre personne (R-FLEET-5). Adressez la demande au "
                "tchat Unowhy.")
    if school_changes and had_school and role not in RESET_ROLES and not follows_holder:
        return ("Changement d'établissement refusé : l'appareil suit son porteur (R-FLEET-3) ; seuls Unowhy et "
                "La Poste peuvent le déplacer autrement.")
    if holder_changes and status not in (Status.STOCK, Status.ASSIGNED, Status.DELIVERED, Status.DISTRIBUTED):
        return f"Un appareil « {status.label} » ne change pas de porteur."
    return None


def status_when_return_cancelled(before: Status | str | None) -> Status:
    """R-FLEET-3 / R-FLEET-7 (pure): the state a device « à restituer » goes back to when its holder turns out to
    stay in IDF: the state it had before the return started (handed over when unknown)."""
    try:
        previous = Status(before) if before else Status.DISTRIBUTED
    except ValueError:
        previous = Status.DISTRIBUTED
    return previous if previous in (Status.ASSIGNED, Status.DELIVERED, Status.DISTRIBUTED) else Status.DISTRIBUTED


# R-FLEET-8: Terminale students whose keep / return decision is awaited: still at school, or finished (the list of
# the next year no longer has them) while they hold the device.
UNDECIDED_SITUATIONS: tuple[Situation, ...] = (Situation.IN_SCHOOL, Situation.FINISHED)


def keep_refusal(holder_kind: HolderKind | str | None) -> str | None:
    """R-FLEET-8 / R-FLEET-7: only a student keeps the laptop at the end of school."""
    if holder_kind not in (None, HolderKind.STUDENT, HolderKind.STUDENT.value):
        return ("Seul un élève en fin de scolarité peut garder son PC (R-FLEET-8) ; un enseignant qui part hors IDF "
                "ou à la retraite le restitue (R-FLEET-7).")
    return None


def check_replacement(old_grade: str | None, new_grade: str | None) -> None:
    """R-FLEET-10: the replacement must be of equivalent condition (same grade or better); ValueError otherwise."""
    if not old_grade or not new_grade:
        raise ValueError("Remplacement impossible : l'état des deux appareils doit être renseigné.")
    if GRADE_RANK[new_grade] < GRADE_RANK[old_grade]:
        raise ValueError(
            f"Remplacement refusé : l'appareil de remplacement est « {Grade.label_of(new_grade)} », moins bon que "
            f"l'appareil remplacé (« {Grade.label_of(old_grade)} ») ; il doit être d'état équivalent (R-FLEET-10).")


# --- R-SLOT-7: the three special cases at distribution -------------------------------------------


class SlotCase(Labeled):
    """What happens to one student at a distribution slot (R-SLOT-7)."""

    HAND_OVER = "remettre", "Remettre le PC"
    KEEP_AT_SCHOOL = "garder_etablissement", "Absent : le lycée le remettra plus tard"
    FROM_EXTRA_STOCK = "stock_agents", "Présent sans PC : PC du stock des agents"
    TAKE_BACK = "reprendre", "Plus dans la base : PC repris"
    NOTHING = "rien", "Rien à faire"


def slot_case(listed: bool, present: bool, has_device: bool) -> SlotCase:
    """R-SLOT-7: absent → stays at school, present without device → agents' stock, not listed → taken back."""
    if not listed:
        return SlotCase.TAKE_BACK if has_device else SlotCase.NOTHING
    if not present:
        return SlotCase.KEEP_AT_SCHOOL if has_device else SlotCase.NOTHING
    return SlotCase.HAND_OVER if has_device else SlotCase.FROM_EXTRA_STOCK


# --- R-FLEET-12: restock ---------------------------------------------------------------------------


class Shipping(Labeled):
    """How a restock travels."""

    CARRIER = "transporteur", "Transporteur"
    PARCEL = "colissimo", "Colissimo"


CARRIER_ABOVE = 5


def shipping_mode(quantity: int) -> Shipping:
    """R-FLEET-12: more than 5 by carrier, otherwise parcel post; exactly 5 goes by Colissimo (« + de 5 »)."""
    if quantity < 1:
        raise ValueError("Un réassort porte sur au moins 1 PC.")
    return Shipping.CARRIER if quantity > CARRIER_ABOVE else Shipping.PARCEL


class RestockStatus(Labeled):
    """Steps of a restock request."""

    REQUESTED = "demande", "Demandé"
    SHIPPED = "expedie", "Expédié"
    RECEIVED = "recu", "Réception validée par le lycée"
    SIGNED = "attestation_signee", "Attestation signée"
    ASSIGNED = "affecte", "PC affectés"


RESTOCK_ORDER = list(RestockStatus)


def next_restock_status(current: str, target: str) -> None:
    """Refuse (French) a restock step out of order: requested → shipped → received → signed → assigned."""
    i, j = RESTOCK_ORDER.index(RestockStatus(current)), RESTOCK_ORDER.index(RestockStatus(target))
    if j != i + 1:
        raise ValueError(f"Étape « {RestockStatus.label_of(target)} » impossible depuis "
                         f"« {RestockStatus.label_of(current)} » : "
                         f"étape suivante attendue « {RestockStatus.label_of(RESTOCK_ORDER[min(i + 1, 4)].value)} ».")


# --- R-FLEET-14: interactive screens by waves of 10 ------------------------------------------------

WAVE_SIZE = 10


def plan_screen_waves(projectors: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Waves of 10 screens per school, oldest projectors first: (projector id, obsolete since year) →
    [(projector id, wave number from 1)] (R-FLEET-14)."""
    ordered = sorted(projectors, key=lambda p: (p[1], p[0]))
    return [(pid, i // WAVE_SIZE + 1) for i, (pid, _year) in enumerate(ordered)]


# --- Models ----------------------------------------------------------------------------------------


class Holder(Model):
    """A person holding (or due to hold) a device, only what the work needs (R-SEC-4)."""

    id = fields.IntField(primary_key=True)
    ident = fields.CharField(max_length=20, unique=True)  # stable identifier of the school's database
    kind = fields.CharEnumField(HolderKind, max_length=12, default=HolderKind.STUDENT)
    last_name = fields.CharField(max_length=80)
    first_name = fields.CharField(max_length=80, default="")
    school: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.School", related_name="holders", null=True, on_delete=fields.SET_NULL)
    class_name = fields.CharField(max_length=20, default="")
    level = fields.CharEnumField(Level, max_length=8, null=True)
    track = fields.CharEnumField(Track, max_length=16, null=True)
    situation = fields.CharEnumField(Situation, max_length=16, default=Situation.IN_SCHOOL)
    end_choice = fields.CharEnumField(EndChoice, max_length=10, null=True)
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "holder"
        indexes = (("school_id", "kind", "last_name"), ("school_id", "level", "end_choice"), ("situation", "school_id"),
                   ("last_name", "first_name"))  # the header's search by name (an index range)

    def __str__(self) -> str:
        return f"{self.last_name} {self.first_name}".strip()


class Device(Model):
    """A laptop or a screen of the Région's fleet (R-FLEET-1)."""

    id = fields.IntField(primary_key=True)
    serial = fields.CharField(max_length=32, unique=True)
    kind = fields.CharEnumField(DeviceKind, max_length=16, default=DeviceKind.STUDENT_LAPTOP)
    model = fields.CharField(max_length=60, default="")
    supplier = fields.CharField(max_length=60, default="Unowhy")
    school: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.School", related_name="devices", null=True, on_delete=fields.SET_NULL)
    holder: fields.ForeignKeyNullableRelation[Holder] = fields.ForeignKeyField(
        "models.Holder", related_name="devices", null=True, on_delete=fields.SET_NULL)
    status = fields.CharEnumField(Status, max_length=16, default=Status.STOCK)
    grade = fields.CharEnumField(Grade, max_length=12, null=True)
    computer = fields.BooleanField(default=True)  # R-FLEET-14: laptops and OPS screens are computers
    mdm_enrolled = fields.BooleanField(default=False)
    mdm_unenroll_by = fields.DateField(null=True)  # R-FLEET-8: kept laptops leave the MDM before this day
    loan_accepted_on = fields.DateField(null=True)  # R-FLEET-2
    delivered_on = fields.DateField(null=True)
    distributed_on = fields.DateField(null=True)
    office_installed = fields.BooleanField(default=False)  # R-FLEET-13
    evidence_ref = fields.CharField(max_length=60, default="")  # complaint, declaration or after-sales number
    wave = fields.IntField(null=True)  # R-FLEET-14: installation wave of a screen
    training_done = fields.BooleanField(default=False)  # R-FLEET-14
    restock_id = fields.IntField(null=True)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "device"
        # The grid's hot paths: school + status sorted by serial, status sorted by serial, a holder's devices.
        # R-FLEET-2: handed over without the loan accepted, per school, from the index alone.
        indexes = (("school_id", "status", "serial"), ("status", "serial"), ("holder_id", "status"),
                   ("status", "loan_accepted_on", "school_id"))


class RestockRequest(Model):
    """A restock during the year for new students (R-FLEET-12)."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.School", related_name="restocks", on_delete=fields.CASCADE)
    quantity = fields.IntField()
    reason = fields.CharField(max_length=120, default="Nouveaux élèves")
    shipping = fields.CharEnumField(Shipping, max_length=12, default=Shipping.PARCEL)
    status = fields.CharEnumField(RestockStatus, max_length=20, default=RestockStatus.REQUESTED)
    requested_on = fields.DateField(null=True)
    received_on = fields.DateField(null=True)
    signed_by = fields.CharField(max_length=160, default="")
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "restock_request"

    async def save(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        """Derive the shipping mode from the quantity (R-FLEET-12)."""
        self.shipping = shipping_mode(self.quantity)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "quantity" in update_fields and "shipping" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "shipping"]  # type: ignore[misc]
        await super().save(*args, **kwargs)  # type: ignore[arg-type]


# --- Views of the fleet (per school and regional) --------------------------------------------------

# Devices a holder is using or will use: a holder without one of these has no device.
HELD = (Status.ASSIGNED, Status.DELIVERED, Status.DISTRIBUTED, Status.AFTER_SALES)
# R-FLEET-4: devices in a school without a holder, to be collected by Unowhy.
AT_SCHOOL = (Status.DELIVERED, Status.RETURNED, Status.TO_RETURN)


def _in(values: Iterable[StrEnum]) -> str:
    return "(" + ", ".join(f"'{v.value}'" for v in values) + ")"  # enum constants only, never user input


async def _rows(sql: str, params: list[Any] | None = None, *, aside: bool = False) -> list[dict[str, Any]]:
    """Rows of a read-only query. `aside`: a long steering query on SQLite runs on its own read connection in a
    worker thread (WAL: readers wait for no one), so it never holds the app's one connection for seconds."""
    from tortoise import connections

    conn = connections.get("default")
    if params and conn.capabilities.dialect == "postgres":
        for i in range(len(params)):
            sql = sql.replace("?", f"${i + 1}", 1)
    filename = getattr(conn, "filename", None)
    if aside and conn.capabilities.dialect == "sqlite" and filename and filename != ":memory:":
        import asyncio
        import sqlite3

        def read() -> list[dict[str, Any]]:
            with sqlite3.connect(f"file:{filename}?mode=ro", uri=True, timeout=10) as db:
                db.row_factory = sqlite3.Row
                return [dict(r) for r in db.execute(sql, params or [])]

        return await asyncio.to_thread(read)
    return await conn.execute_query_dict(sql, params or [])


async def regional_counts() -> dict[int, dict[str, int]]:
    """Device counts per school and status in one grouped query: {school id: {status: n}}."""
    out: dict[int, dict[str, int]] = {}
    for r in await _rows("SELECT school_id, status, COUNT(*) AS n FROM device WHERE school_id IS NOT NULL "
                         "GROUP BY school_id, status"):
        out.setdefault(r["school_id"], {})[r["status"]] = int(r["n"])
    return out


async def regional_holder_flags() -> dict[int, dict[str, int]]:
    """Per school: holders without a device, Tle students without a keep/return decision, devices to collect,
    devices handed over without the loan conditions accepted (R-FLEET-2)."""
    out: dict[int, dict[str, int]] = {}
    # Holders without a device = holders in school − those holding one (two index-only passes; a NOT EXISTS per
    # holder took seconds at 500,000 devices).
    equipped = {r["school_id"]: int(r["n"]) for r in await _rows(  # the long one: aside
        "SELECT h.school_id AS school_id, COUNT(*) AS n FROM (SELECT DISTINCT holder_id FROM device WHERE status IN "
        + _in(HELD) + " AND holder_id IS NOT NULL) d JOIN holder h ON h.id = d.holder_id "
        "WHERE h.situation = 'scolarise' GROUP BY h.school_id", aside=True)}
    for r in await _rows("SELECT school_id, COUNT(*) AS n FROM holder WHERE situation = 'scolarise' "
                         "GROUP BY school_id"):
        without = int(r["n"]) - equipped.get(r["school_id"], 0)
        if without:
            out.setdefault(r["school_id"], {})["without_device"] = without
    for r in await _rows("SELECT school_id, COUNT(*) AS n FROM holder WHERE situation IN "
                         + _in(UNDECIDED_SITUATIONS) + " AND kind = 'eleve' AND level = 'Tle' AND end_choice IS NULL "
                         "GROUP BY school_id"):  # R-FLEET-8
        out.setdefault(r["school_id"], {})["tle_undecided"] = int(r["n"])
    for r in await _rows("SELECT school_id, COUNT(*) AS n FROM device WHERE school_id IS NOT NULL AND holder_id IS "
                         "NULL AND status IN " + _in(AT_SCHOOL) + " GROUP BY school_id"):
        out.setdefault(r["school_id"], {})["to_collect"] = int(r["n"])
    for r in await _rows("SELECT school_id, COUNT(*) AS n FROM device WHERE school_id IS NOT NULL AND status = "
                         "'remis' AND loan_accepted_on IS NULL GROUP BY school_id"):
        out.setdefault(r["school_id"], {})["loan_not_accepted"] = int(r["n"])  # R-FLEET-2
    return out


@dataclass
class SchoolFleet:
    """The fleet of one school, for its page (R-FLEET-4, R-FLEET-6, R-FLEET-8, R-SCH-7)."""

    by_status: dict[str, int]
    by_grade: dict[str, int]
    by_kind: dict[str, int]
    holders_without_device: list[Holder]
    holders_without_device_count: int
    to_collect: list[Device]
    to_collect_count: int
    tle_undecided: list[Holder]
    tle_undecided_count: int
    kept_to_unenroll: int
    screens: list[Device]
    loan_not_accepted: int = 0  # R-FLEET-2: handed over, loan conditions not accepted yet


async def school_fleet(school_id: int, limit: int = 50) -> SchoolFleet:
    """Counts and lists of one school's fleet."""
    from tortoise.functions import Count

    devices = Device.filter(school_id=school_id)
    by_status = {_v(r["status"]): r["n"] for r in await devices.group_by("status").annotate(n=Count("id"))
                 .values("status", "n")}
    by_grade = {_v(r["grade"]) or "": r["n"] for r in await devices.group_by("grade").annotate(n=Count("id"))
                .values("grade", "n")}
    by_kind = {_v(r["kind"]): r["n"] for r in await devices.group_by("kind").annotate(n=Count("id"))
               .values("kind", "n")}
    flagged = await _rows("SELECT h.id AS id FROM holder h WHERE h.situation = 'scolarise' AND h.school_id = ? "
                          "AND NOT EXISTS (SELECT 1 FROM device d WHERE d.holder_id = h.id AND d.status IN "
                          + _in(HELD) + ")", [school_id])
    without_ids = [r["id"] for r in flagged]
    without = await Holder.filter(id__in=without_ids[:limit]).order_by("class_name", "last_name")
    collect_q = Device.filter(school_id=school_id, holder_id=None, status__in=AT_SCHOOL)
    tle_q = Holder.filter(school_id=school_id, situation__in=UNDECIDED_SITUATIONS, kind=HolderKind.STUDENT,
                          level=Level.TERMINALE, end_choice=None)  # R-FLEET-8
    return SchoolFleet(
        by_status=by_status, by_grade=by_grade, by_kind=by_kind,
        holders_without_device=list(without), holders_without_device_count=len(without_ids),
        to_collect=list(await collect_q.order_by("serial").limit(limit)), to_collect_count=await collect_q.count(),
        tle_undecided=list(await tle_q.order_by("class_name", "last_name").limit(limit)),
        tle_undecided_count=await tle_q.count(),
        kept_to_unenroll=await Device.filter(school_id=school_id, status=Status.KEPT, mdm_enrolled=True).count(),
        screens=list(await Device.filter(school_id=school_id, kind__in=[DeviceKind.SCREEN, DeviceKind.OPS])
                     .order_by("wave", "serial").limit(100)),
        loan_not_accepted=await Device.filter(school_id=school_id, status=Status.DISTRIBUTED,
                                              loan_accepted_on=None).count(),
    )


def _v(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


async def school_devices(school_id: int, limit: int = 3000) -> list[dict[str, Any]]:
    """R-FLEET-6, the MDM view: one school's devices with their holder (name, class), by status then serial."""
    rows = await Device.filter(school_id=school_id).order_by("status", "serial").limit(limit).values(
        "id", "serial", "kind", "status", "grade", "mdm_enrolled", "holder__ident", "holder__last_name",
        "holder__first_name", "holder__class_name", "holder__kind")
    return [{"id": r["id"], "serial": r["serial"], "kind": DeviceKind.label_of(_v(r["kind"])),
             "status": _v(r["status"]), "status_label": Status.label_of(_v(r["status"])),
             "grade": Grade.label_of(_v(r["grade"]), "") if r["grade"] else "",
             "mdm": "Oui" if r["mdm_enrolled"] else "Non",
             "holder": f"{r['holder__last_name'] or ''} {r['holder__first_name'] or ''}".strip(),
             "ident": r["holder__ident"] or "", "class_name": r["holder__class_name"] or ""} for r in rows]


async def school_restocks(school_id: int, limit: int = 20) -> list[RestockRequest]:
    """A school's latest restock requests (R-FLEET-12)."""
    return list(await RestockRequest.filter(school_id=school_id).order_by("-id").limit(limit))


async def devices_to_send_back(school_id: int, limit: int = 200) -> list[Device]:
    """The school's devices to send back: « à restituer », or without a holder at the school (R-FLEET-4, R-FLEET-9)."""
    from tortoise.expressions import Q

    return list(await Device.filter(Q(status=Status.TO_RETURN) | Q(holder_id=None, status__in=AT_SCHOOL),
                                    school_id=school_id).order_by("status", "serial").limit(limit)
                .prefetch_related("holder"))


async def distribution_list(school_id: int) -> list[tuple[str, str, str, str, str]]:
    """La Poste's distribution list of a school by class: (class, last name, first name, holder id, serial)."""
    rows = await Device.filter(school_id=school_id, status__in=(Status.DELIVERED, Status.ASSIGNED),
                               holder_id__not_isnull=True).order_by(
        "holder__class_name", "holder__last_name", "holder__first_name").values_list(
        "holder__class_name", "holder__last_name", "holder__first_name", "holder__ident", "serial")
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def unowhy_collect_list(school_id: int | None = None) -> list[tuple[str, str, str, str, str]]:
    """Unowhy's list: devices to collect (no holder in a school, R-FLEET-4) or to return: (UAI, serial, kind,
    status, holder id)."""
    from tortoise.expressions import Q

    q = Device.filter(Q(status__in=(Status.TO_RETURN, Status.RETURNED))
                      | Q(holder_id=None, status=Status.DELIVERED, school_id__not_isnull=True))
    if school_id is not None:
        q = q.filter(school_id=school_id)
    rows = await q.order_by("school__uai", "serial").values_list("school__uai", "serial", "kind", "status",
                                                                   "holder__ident")
    return [(u or "", s, DeviceKind.label_of(_v(k)), Status.label_of(_v(st)), h or "") for u, s, k, st, h in rows]


# --- R-FLEET-8: reminders of the keep / return decisions --------------------------------------------------


async def undecided_pending(today: dt.date, horizon: dt.date) -> list[Any]:
    """R-FLEET-8: every school with students who finished school holding their laptop without a keep / return
    decision, due before the MDM unenrolment deadline (end of September)."""
    from models.reminders import PendingItem
    from models.schools import ContactRole, School

    due = mdm_unenroll_deadline(today)
    if not today <= due <= horizon:
        return []
    rows = await _rows(
        "SELECT h.school_id AS school_id, COUNT(*) AS n FROM holder h WHERE h.situation = 'fin_scolarite' "
        "AND h.kind = 'eleve' AND h.end_choice IS NULL AND h.school_id IS NOT NULL AND EXISTS (SELECT 1 FROM device d "
        "WHERE d.holder_id = h.id AND d.status IN " + _in(HELD) + ") GROUP BY h.school_id")
    counts = {r["school_id"]: int(r["n"]) for r in rows}
    schools = await School.filter(id__in=list(counts)).order_by("uai") if counts else []
    return [PendingItem(
        school=s, due=due, rule_id="R-FLEET-8",
        title=f"Fin de scolarité : {counts[s.id]} élève(s) sans choix garder / restituer leur PC",
        action="Indiquez pour chaque élève de Terminale sorti s'il garde son PC (désinscription du MDM avant la fin "
               "septembre) ou le restitue (demande par le tchat Unowhy).",
        where="Rentrée › Mon établissement › Parc (lien « Accéder à votre espace »)",
        cc_roles=(ContactRole.CHEF, ContactRole.COORDONNATEUR), key=f"tle:{due.isoformat()}")
        for s in schools]


def _register_reminders() -> None:
    from models.reminders import ReminderRule, register

    register(ReminderRule(code="fleet.tle_decision", label="Élèves sortis sans choix garder / restituer (R-FLEET-8)",
                          list_pending=undecided_pending, days_before=(14, 7, 2, 0)))


_register_reminders()
