"""The fleet sheets: devices (500,000 rows), holders, restock requests; their life cycles as engine declarations."""

from __future__ import annotations

from typing import Any

from models.audit import AuditEntry
from models.fleet import (
    RESET_ROLES,
    TRANSITIONS,
    Device,
    DeviceKind,
    EndChoice,
    Grade,
    Holder,
    HolderKind,
    RestockRequest,
    RestockStatus,
    Shipping,
    Situation,
    Status,
    check_replacement,
    holder_change_refusal,
    keep_refusal,
    move_effects,
    need_message,
    status_when_return_cancelled,
)
from models.schools import Contact, Level, Track
from sheets.engine.actions import ActionContext, RowAction
from sheets.engine.caller import Caller
from sheets.engine.declaration import Column, Nav, Sheet, register
from sheets.engine.lifecycle import LifeCycle, Need, Transition
from sheets.engine.writes import Forbidden, WriteContext, decode, set_values

ROLE_NAMES = {"admin": "l'administration", "agent": "les agents de la Région", "unowhy": "Unowhy",
              "laposte": "La Poste", "maintenance": "la maintenance",
              "ecole:chef_etablissement": "le chef d'établissement",
              "ecole:coordonnateur_numerique": "le coordonnateur numérique",
              "ecole:groupe_la_poste": "les membres du groupe « La Poste » du lycée"}
# School access: R-FLEET-6, heads and coordinators see their school's fleet (the MDM view) and upload its lists.
SCHOOL_FLEET = frozenset({"ecole:chef_etablissement", "ecole:coordonnateur_numerique"})
SCHOOL_SIGNERS = frozenset({"ecole:groupe_la_poste"})  # R-FLEET-12 / R-SLOT-9: the authorised persons


def _evidence(value: str) -> str:
    if value and len(value) > 60:
        raise ValueError("Référence trop longue : 60 caractères au plus.")
    return value


def _code(value: Any) -> Any:
    return value.value if hasattr(value, "value") and not isinstance(value, str | bool | int) else value


# --- Devices ---------------------------------------------------------------------------------------

def _device_derive(row: dict[str, Any], today: Any) -> dict[str, Any]:
    return move_effects(row["status"], row.get("kind"), today)


async def _keep_check(ctx: WriteContext) -> None:
    holder = await ctx.after("holder")
    kinds = await Holder.filter(ident=holder).values_list("kind", flat=True) if holder else []
    refusal = keep_refusal(_code(kinds[0]) if kinds else None)
    if refusal:
        raise ValueError(refusal)


DEVICE_LIFECYCLE = LifeCycle(
    field="status",
    states=Status.choices(),
    initial=Status.STOCK.value,
    role_labels=ROLE_NAMES,
    transitions=tuple(
        Transition(name=t.action, label=t.label, sources=tuple(s.value for s in t.sources), target=t.target.value,
                   roles=t.roles, needs=tuple(Need(n, need_message(t.action, n)) for n in t.needs),
                   clears=t.clears, check=_keep_check if t.action == "keep" else None,
                   # a cancelled return puts the device back as it was: its delivery and hand-over dates are kept
                   derive=None if t.action.startswith("return_cancelled") else _device_derive,
                   rule=t.rule, help=t.help)
        for t in TRANSITIONS),
)


async def device_hook(ctx: WriteContext) -> None:
    """R-FLEET-3 / R-FLEET-5 on every device change: who may change its holder or school; a stock device given a
    holder is an assignment."""
    values = ctx.values
    holder_changes = "holder" in values
    school_changes = "school" in values
    if not (holder_changes or school_changes):
        return
    status = await ctx.current("status")
    follows = False
    if school_changes and not holder_changes:
        holder = await ctx.current("holder")
        if holder:
            schools = await Holder.filter(ident=holder).values_list("school__uai", flat=True)
            follows = bool(schools) and schools[0] == values["school"]
    role = None if ctx.caller.is_system else ctx.caller.role
    if not ctx.caller.is_system:
        refusal = holder_change_refusal(role, status, holder_changes, school_changes,
                                        await ctx.current("school") is not None, follows)
        if refusal:
            raise Forbidden(refusal) if "refusé pour" in refusal or "seuls" in refusal else ValueError(refusal)
    if holder_changes and values["holder"] and _code(status) == Status.STOCK and "status" not in values:
        values["status"] = Status.ASSIGNED.value  # a holder given to a stock device is an assignment


async def replace_device(ctx: ActionContext) -> str:
    """R-FLEET-10: a stock device of equivalent grade goes to the holder of a stolen, lost or broken one."""
    old = await Device.get(id=ctx.row_ids[0]).prefetch_related("holder", "school")
    if old.status not in (Status.STOLEN, Status.LOST, Status.AFTER_SALES):
        raise ValueError("Seul un appareil volé, perdu ou au S.A.V. se remplace (R-FLEET-10).")
    serial = str(ctx.values.get("replacement") or "").strip().upper()
    new = await Device.get_or_none(serial=serial)
    if new is None or new.status != Status.STOCK:
        raise ValueError(f"PC « {serial[:40]} » introuvable dans le stock régional.")
    if old.holder is None or old.school is None:
        raise ValueError("L'appareil remplacé n'a pas de porteur ou d'établissement.")
    check_replacement(old.grade.value if old.grade else None, new.grade.value if new.grade else None)
    await set_values(DEVICES, [new.id], {"status": Status.DISTRIBUTED.value, "holder": old.holder.ident,
                                         "school": old.school.uai}, ctx.caller)
    return f"{new.serial} remis à {old.holder.ident} en remplacement de {old.serial}."


# Who may see a device's holder (an INE or a NUMEN): the readers of the holders sheet, and a school's heads and
# coordinators for their own school (R-SEC-4, R-FLEET-6).
HOLDER_READERS = frozenset({"admin", "agent", "lecteur", "laposte", "unowhy"}) | SCHOOL_FLEET


DEVICES = register(Sheet(
    name="devices",
    text_index=True,  # « Recherche rapide » over 500,000 rows: the database's text index
    read_roles=frozenset({"admin", "agent", "lecteur", "laposte", "unowhy", "maintenance"}) | SCHOOL_FLEET,
    edit_roles=frozenset({"admin", "agent", "laposte", "unowhy"}),
    create_roles=frozenset({"admin", "unowhy", "laposte"}),
    label="Parc : appareils",
    model=Device,
    key="serial",
    default_sort=("serial",),
    school_path="school__uai",
    lifecycle=DEVICE_LIFECYCLE,
    change_hook=device_hook,
    hook_fields=frozenset({"holder", "school"}),  # a status change alone needs no hook: the bulk fast path
    actions=(RowAction("replace", "Remplacer par un PC du stock", RESET_ROLES, replace_device, rows="one",
                       fields=(Column("replacement", "N° de série du PC de remplacement", required=True),),
                       icon="published_with_changes", rule="R-FLEET-10",
                       help="Un PC du stock d'état équivalent ou meilleur est remis au porteur (R-FLEET-10)."),),
    page_path="/parc/appareils",
    nav=Nav("Parc", "devices", 20, "Appareils"),
    description="PC et écrans de la Région : chaque changement de statut suit le cycle de vie du livret. Les "
                "nouveaux appareils (fichier de livraison du fournisseur) entrent au stock régional.",
    columns=(
        Column("serial", "N° de série", width=150, required=True, on_create=True,
               aliases=("serie", "numero de serie", "sn")),
        Column("kind", "Type", kind="choice", width=150, choices=DeviceKind, on_create=True),
        Column("model", "Modèle", width=130, on_create=True),
        Column("supplier", "Fournisseur", width=110, on_create=True),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), editable=True, width=110,
               link="/parc/ecoles/{value}", aliases=("uai", "etablissement")),
        Column("holder", "Porteur", kind="reference", reference=("holders", "ident"), editable=True, width=130,
               aliases=("identifiant porteur", "ine", "numen"), read_roles=HOLDER_READERS,
               help="Identifiant du porteur (seuls Unowhy et La Poste le changent, R-FLEET-5)."),
        Column("status", "Statut", kind="choice", editable=True, width=170, choices=Status,
               help="Cycle de vie : seuls les passages permis à votre rôle sont proposés."),
        Column("grade", "État", kind="choice", editable=True, width=110, choices=Grade),
        Column("computer", "Ordinateur", kind="boolean", width=100, on_create=True),
        Column("mdm_enrolled", "Inscrit au MDM", kind="boolean", editable=True, width=110),
        Column("mdm_unenroll_by", "Désinscrire du MDM avant", kind="date", width=130),
        Column("loan_accepted_on", "Conditions de prêt acceptées le", kind="date", editable=True, width=140),
        Column("delivered_on", "Livré le", kind="date", width=110),
        Column("distributed_on", "Remis le", kind="date", width=110),
        Column("office_installed", "Office", kind="boolean", editable=True, width=90),
        Column("evidence_ref", "Justificatif", editable=True, validator=_evidence, width=150,
               help="Plainte (vol), main courante (perte) ou n° S.A.V. (casse)."),
        Column("wave", "Vague (écrans)", kind="integer", editable=True, width=100),
        Column("training_done", "Formation faite", kind="boolean", editable=True, width=110),
        Column("updated_at", "Modifié le", kind="datetime", width=150),
    ),
))


# --- Holders ---------------------------------------------------------------------------------------

ACTIVE_STATUSES = (Status.ASSIGNED, Status.DELIVERED, Status.DISTRIBUTED, Status.AFTER_SALES)


async def devices_follow(holder_id: int, uai: str | None, caller: Caller) -> int:
    """R-FLEET-3 / R-FLEET-7: a holder moving within IDF keeps the device, which follows to the new school."""
    ids = list(await Device.filter(holder_id=holder_id, status__in=ACTIVE_STATUSES).values_list("id", "school__uai"))
    moving = [rid for rid, school in ids if school != uai]
    if moving:
        await set_values(DEVICES, moving, {"school": uai}, caller.elevated())
    return len(moving)


async def holder_leaves(holder_id: int, situation: str, end_choice: str | None, caller: Caller) -> int:
    """Devices of a holder who leaves: to return (R-FLEET-7, R-FLEET-9), or kept / returned at the end (R-FLEET-8)."""
    if situation in (Situation.LEFT_IDF, Situation.RETIRED):
        target = Status.TO_RETURN
    elif situation == Situation.FINISHED and end_choice:
        target = Status.KEPT if end_choice == EndChoice.KEEP else Status.TO_RETURN
    else:
        return 0
    sources = (Status.DISTRIBUTED,) if target == Status.KEPT else (Status.ASSIGNED, Status.DELIVERED,
                                                                    Status.DISTRIBUTED)
    ids = list(await Device.filter(holder_id=holder_id, status__in=sources).values_list("id", flat=True))
    if ids:
        await set_values(DEVICES, ids, {"status": target.value}, caller.elevated())
    return len(ids)


# What the distribution planner reads of a holder (models.slots.school_classes).
PLANNED_FIELDS = frozenset({"kind", "school", "class_name", "situation"})


async def holder_created(ctx: WriteContext) -> None:
    """R-SLOT-6: a student added by hand or by import joins its class in its school's distribution plan."""
    if ctx.instance is not None and ctx.instance.kind == HolderKind.STUDENT and ctx.instance.class_name:
        from sheets.slots import replan_at_end

        replan_at_end(ctx.instance.school_id, ctx.caller)


async def holder_hook(ctx: WriteContext) -> None:
    """A holder changing school keeps the situation « in school »; the keep/return choice is for Terminale."""
    values, instance = ctx.values, ctx.instance
    assert instance is not None
    if "school" in values:
        values.setdefault("situation", Situation.IN_SCHOOL.value)
    if PLANNED_FIELDS & set(values):  # R-SLOT-6: the classes of the school it leaves change too
        from sheets.slots import replan_at_end

        replan_at_end(instance.school_id, ctx.caller)
    choice = _code(await ctx.after("end_choice"))
    if choice and "Tle" not in (_code(instance.level), _code(values.get("level", instance.level))):
        raise ValueError("Le choix garder / restituer concerne les élèves de Terminale en fin de scolarité "
                         "(R-FLEET-8).")


async def devices_stay(holder_id: int, caller: Caller) -> int:
    """R-FLEET-3 / R-FLEET-7: a holder back in a school of IDF (found in its list after another school's list had
    them leave) keeps the device: a return not yet collected is cancelled, the device back to its former state."""
    ids = list(await Device.filter(holder_id=holder_id, status=Status.TO_RETURN).values_list("id", flat=True))
    if not ids:
        return 0
    before: dict[int, str | None] = {}
    for entry in await AuditEntry.filter(sheet=DEVICES.name, row_id__in=ids, column="status").order_by("id").values(
            "row_id", "old_value", "new_value"):
        if decode(entry["new_value"]) == Status.TO_RETURN.value:
            before[entry["row_id"]] = decode(entry["old_value"])  # the last move to « à restituer » wins
    targets: dict[Status, list[int]] = {}
    for rid in ids:
        targets.setdefault(status_when_return_cancelled(before.get(rid)), []).append(rid)
    for target, rows in targets.items():
        await set_values(DEVICES, rows, {"status": target.value}, caller.elevated())
    return len(ids)


async def holder_effects(ctx: WriteContext) -> None:
    """After a holder's change: devices follow them (R-FLEET-3), or start their return (R-FLEET-7/8/9); the
    distribution plan of its school follows its class (R-SLOT-6)."""
    instance = ctx.instance
    assert instance is not None
    if PLANNED_FIELDS & set(ctx.values):
        from sheets.slots import replan_at_end

        replan_at_end(instance.school_id, ctx.caller)
    if _code(ctx.values.get("situation")) == Situation.IN_SCHOOL:  # back in an IDF school's list
        await devices_stay(instance.id, ctx.caller)
    if "school" in ctx.values:
        await devices_follow(instance.id, ctx.values["school"], ctx.caller)
    if "situation" in ctx.values or "end_choice" in ctx.values:
        await holder_leaves(instance.id, _code(await ctx.after("situation")), _code(await ctx.after("end_choice")),
                            ctx.caller)


HOLDERS = register(Sheet(
    name="holders",
    text_index=True,  # « Recherche rapide » over 500,000 rows: the database's text index
    personal_data=True,
    read_roles=frozenset({"admin", "agent", "lecteur", "laposte", "unowhy"}) | SCHOOL_FLEET,
    edit_roles=frozenset({"admin", "agent", "laposte", "unowhy"}) | SCHOOL_FLEET,
    create_roles=frozenset({"admin", "agent", "laposte", "unowhy"}) | SCHOOL_FLEET,
    label="Parc : porteurs",
    model=Holder,
    key="ident",
    default_sort=("last_name", "first_name"),
    school_path="school__uai",
    change_hook=holder_hook,
    after_change=holder_effects,
    after_create=holder_created,
    page_path="/parc/porteurs",
    nav=Nav("Parc", "badge", 30, "Porteurs"),
    description="Élèves, enseignants et personnels dotés (ou à doter) : seulement ce que le travail exige (R-SEC-4).",
    columns=(
        Column("ident", "Identifiant", required=True, on_create=True, width=130,
               aliases=("ine", "numen", "id", "identifiant national")),
        Column("kind", "Type", kind="choice", editable=True, width=110, choices=HolderKind),
        Column("last_name", "Nom", editable=True, required=True, width=160, aliases=("nom de famille",)),
        Column("first_name", "Prénom", editable=True, width=140, aliases=("prenom",)),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), editable=True, width=110,
               link="/parc/ecoles/{value}", aliases=("uai", "etablissement")),
        Column("class_name", "Classe", editable=True, width=100, aliases=("division",)),
        Column("level", "Niveau", kind="choice", editable=True, width=110, choices=Level),
        Column("track", "Voie", kind="choice", editable=True, width=130, choices=Track),
        Column("situation", "Situation", kind="choice", editable=True, width=190, choices=Situation),
        Column("end_choice", "Fin de scolarité : choix", kind="choice", editable=True, width=140,
               choices=EndChoice),
        Column("updated_at", "Modifié le", kind="datetime", width=150),
    ),
))


# --- Restock requests ------------------------------------------------------------------------------

async def _ship(ctx: WriteContext) -> None:
    """Send `quantity` stock laptops (best grade first) to the school, unassigned (R-FLEET-12)."""
    request = ctx.instance
    assert request is not None
    quantity = request.quantity
    ids = list(await Device.filter(status=Status.STOCK, kind=DeviceKind.STUDENT_LAPTOP, holder_id=None).order_by(
        "grade", "serial").limit(quantity).values_list("id", flat=True))
    if len(ids) < quantity:
        raise ValueError(f"Stock régional insuffisant : {len(ids)} PC élève disponible(s) pour {quantity} "
                         "demandé(s).")
    await set_values(DEVICES, ids, {"status": Status.DELIVERED.value, "school": ctx.uai}, ctx.caller.elevated())
    for rid in ids:  # the link to the request, audited like any other change
        await ctx.write("devices", rid, {"restock_id": request.id})


async def _all_assigned(ctx: WriteContext) -> None:
    assert ctx.instance is not None
    free = await Device.filter(restock_id=ctx.instance.id, holder_id=None).count()
    if free:
        raise ValueError(f"{free} PC de ce réassort n'ont pas encore de porteur : affectez-les d'abord "
                         "(Unowhy ou La Poste).")


def _received(row: dict[str, Any], today: Any) -> dict[str, Any]:
    return {"received_on": today}


RESTOCK_ROLES = frozenset({"admin", "agent", "unowhy"})
# R-FLEET-12 through school access: the head or the coordinator asks and validates the reception, an authorised
# person (« La Poste » group) signs the distribution certificates.
SCHOOL_RECEIVERS = SCHOOL_FLEET | SCHOOL_SIGNERS
RESTOCK_LIFECYCLE = LifeCycle(
    field="status",
    states=RestockStatus.choices(),
    initial=RestockStatus.REQUESTED.value,
    role_labels=ROLE_NAMES,
    transitions=(
        Transition("ship", "Expédier", (RestockStatus.REQUESTED.value,), RestockStatus.SHIPPED.value, RESTOCK_ROLES,
                   effect=_ship, rule="R-FLEET-12",
                   help="Envoie les PC du stock régional au lycée, sans porteur."),
        Transition("receive", "Réception validée par le lycée", (RestockStatus.SHIPPED.value,),
                   RestockStatus.RECEIVED.value, RESTOCK_ROLES | SCHOOL_RECEIVERS, derive=_received,
                   rule="R-FLEET-12"),
        Transition("sign", "Attestation signée", (RestockStatus.RECEIVED.value,), RestockStatus.SIGNED.value,
                   RESTOCK_ROLES | SCHOOL_SIGNERS,
                   needs=(Need("signed_by", "indiquez qui a signé l'attestation (personne habilitée du groupe "
                                            "« La Poste »)"),),
                   form=("signed_by",), rule="R-FLEET-12"),
        Transition("assign_all", "PC affectés", (RestockStatus.SIGNED.value,), RestockStatus.ASSIGNED.value,
                   RESTOCK_ROLES, check=_all_assigned, rule="R-FLEET-12"),
    ),
)


async def restock_hook(ctx: WriteContext) -> None:
    """Once shipped, a restock's quantity and school no longer change; a school's authorised person signs in their
    own name (R-FLEET-12)."""
    if ("quantity" in ctx.values or "school" in ctx.values) and \
            _code(await ctx.current("status")) != RestockStatus.REQUESTED:
        raise ValueError("Le réassort est expédié : la quantité et le lycée ne changent plus.")
    if ctx.caller.is_school and _code(ctx.values.get("status")) == RestockStatus.SIGNED:
        names = await Contact.filter(email=ctx.caller.actor, school__uai=ctx.uai).values_list("full_name", flat=True)
        ctx.values["signed_by"] = f"{names[0] if names else ''} <{ctx.caller.actor}> (lien e-mail)".strip()


RESTOCKS = register(Sheet(
    name="restocks",
    read_roles=frozenset({"admin", "agent", "lecteur", "unowhy"}) | SCHOOL_RECEIVERS,
    edit_roles=RESTOCK_ROLES,
    create_roles=RESTOCK_ROLES | SCHOOL_FLEET,
    label="Parc : réassorts",
    model=RestockRequest,
    key="id",
    default_sort=("-id",),
    school_path="school__uai",
    lifecycle=RESTOCK_LIFECYCLE,
    change_hook=restock_hook,
    page_path="/parc/reassorts",
    nav=Nav("Parc", "local_shipping", 40, "Réassorts"),
    description="Réassorts en cours d'année (R-FLEET-12) : plus de 5 PC par transporteur, 5 ou moins par Colissimo.",
    columns=(
        Column("id", "N°", kind="integer", width=80),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), editable=True, required=True,
               width=110, link="/parc/ecoles/{value}", aliases=("uai",)),
        Column("quantity", "Nombre de PC", kind="integer", editable=True, required=True, width=110),
        Column("reason", "Motif", editable=True, width=180),
        Column("shipping", "Envoi", kind="choice", width=120, choices=Shipping),
        Column("status", "Étape", kind="choice", width=200, choices=RestockStatus),
        Column("requested_on", "Demandé le", kind="date", editable=True, width=110),
        Column("received_on", "Reçu le", kind="date", width=110),
        Column("signed_by", "Attestation signée par", editable=True, width=200),
        Column("updated_at", "Modifié le", kind="datetime", width=150),
    ),
))


# --- Steering figures, kept by the data version of the sheets they read ------------------------------

async def regional_figures() -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]], float, bool]:
    """Device counts by school and status, and the holder flags by school (R-FLEET-2/4/8), kept by the data
    versions of devices, holders and schools: (counts, flags, computed at, current). A figure made stale by a
    write is served while it is recomputed in the background (the holder flags read every holder: seconds at
    500,000 devices)."""
    from models.fleet import regional_counts, regional_holder_flags
    from sheets.engine.dataversion import STEERING

    counts = await STEERING.get("fleet.regional_counts", ("devices", "schools"), regional_counts)
    flags, at, current = await STEERING.latest("fleet.holder_flags", ("devices", "holders", "schools"),
                                               regional_holder_flags)
    return counts, flags, at, current
