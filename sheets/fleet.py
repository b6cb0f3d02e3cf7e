"""The fleet sheets: devices (500,000 rows), holders, restock requests; the life cycle as their change hooks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.audit import AuditEntry, Source
from models.fleet import (
    Device,
    DeviceKind,
    DeviceState,
    EndChoice,
    Grade,
    Holder,
    HolderKind,
    RestockRequest,
    RestockStatus,
    Shipping,
    Situation,
    Status,
    TransitionRefused,
    next_restock_status,
    plan_change,
)
from models.schools import Level, School, Track
from sheets.engine.declaration import Column, Sheet, register
from sheets.engine.query import COUNTS
from sheets.engine.writes import Issue, RowChange, WriteRefused, WriteResult, _encode, apply_changes

PARIS = ZoneInfo("Europe/Paris")
CHUNK = 900  # under SQLite's bound-parameter limit


def today() -> dt.date:
    """Today in Paris."""
    return dt.datetime.now(PARIS).date()


def _evidence(value: str) -> str:
    if value and len(value) > 60:
        raise ValueError("Référence trop longue : 60 caractères au plus.")
    return value


# --- Devices ---------------------------------------------------------------------------------------

DEVICE_COLUMN_FIELDS = {"school": "school_id", "holder": "holder_id"}


async def _holder_info(ident: str | None) -> tuple[int | None, tuple[str, int | None] | None]:
    if not ident:
        return None, None
    row = await Holder.filter(ident=ident).values_list("id", "kind", "school_id")
    if not row:
        raise ValueError(f"Porteur « {ident} » inconnu : importez d'abord la base élèves ou enseignants du lycée.")
    hid, kind, school_id = row[0]
    return hid, (str(kind.value if hasattr(kind, "value") else kind), school_id)


async def device_state(device: Device) -> DeviceState:
    """The snapshot the life cycle reads, with the holder's kind and school."""
    holder_kind, holder_school = None, None
    if device.holder_id is not None:
        row = await Holder.filter(id=device.holder_id).values_list("kind", "school_id")
        if row:
            holder_kind, holder_school = str(row[0][0].value if hasattr(row[0][0], "value") else row[0][0]), row[0][1]
    return DeviceState(status=Status(device.status), kind=DeviceKind(device.kind), holder_id=device.holder_id,
                       school_id=device.school_id, grade=device.grade.value if device.grade else None,
                       evidence_ref=device.evidence_ref or "", holder_kind=holder_kind,
                       holder_school_id=holder_school)


async def device_hook(sheet: Sheet, instance: Any, values: dict[str, Any], actor: str,
                      role: str | None) -> dict[str, Any]:
    """The life cycle on every device change (grid, bulk, paste, import, actions): refuse or complete it."""
    plain: dict[str, Any] = {}
    new_holder = None
    for name, value in values.items():
        if name == "school":
            if value:
                ids = await School.filter(uai=str(value).upper()).values_list("id", flat=True)
                if not ids:
                    raise ValueError(f"Établissement « {value} » inconnu.")
                plain["school_id"] = ids[0]
            else:
                plain["school_id"] = None
        elif name == "holder":
            plain["holder_id"], new_holder = await _holder_info(value)
        else:
            plain[name] = value.value if hasattr(value, "value") and not isinstance(value, str | bool) else value
    out = plan_change(await device_state(instance), plain, role, today(), new_holder)
    result: dict[str, Any] = {}
    for name, value in out.items():
        if name == "school_id":
            result["school"] = None if value is None else (await School.get(id=value).only("uai")).uai
        elif name == "holder_id":
            result["holder"] = None if value is None else (await Holder.get(id=value).only("ident")).ident
        else:
            result[name] = value
    return result


_BULK_READ = ("id", "serial", "status", "kind", "holder_id", "school_id", "grade", "evidence_ref", "holder__kind",
              "holder__school_id", "holder__ident", "school__uai", "delivered_on", "distributed_on",
              "office_installed", "mdm_enrolled", "mdm_unenroll_by", "loan_accepted_on")


def _code(value: Any) -> Any:
    return value.value if hasattr(value, "value") and not isinstance(value, str | bool | int) else value


async def device_bulk_hook(sheet: Sheet, row_ids: list[int], field_name: str, value: Any, actor: str,
                           role: str | None, source: Any) -> WriteResult | None:
    """A state change of many devices in a few UPDATEs: same rules as the hook, all or nothing, with audit."""
    if field_name != "status":
        return None
    target = _code(value)
    day = today()
    result = WriteResult(batch=uuid.uuid4().hex)
    issues: list[Issue] = []
    groups: dict[tuple[tuple[str, Any], ...], list[int]] = {}
    audit: list[AuditEntry] = []
    columns = {c.field: c for c in sheet.columns}
    async with in_transaction():
        for start in range(0, len(row_ids), CHUNK):
            part = row_ids[start:start + CHUNK]
            for r in await Device.filter(id__in=part).values(*_BULK_READ):
                state = DeviceState(status=Status(r["status"]), kind=DeviceKind(r["kind"]), holder_id=r["holder_id"],
                                    school_id=r["school_id"], grade=_code(r["grade"]),
                                    evidence_ref=r["evidence_ref"] or "", holder_kind=_code(r["holder__kind"]),
                                    holder_school_id=r["holder__school_id"])
                if state.status == target:
                    continue
                try:
                    out = plan_change(state, {"status": target}, role, day)
                except TransitionRefused as exc:
                    if len(issues) < 500:
                        issues.append(Issue(str(exc), r["id"], r["serial"], "status", target))
                    else:
                        issues[-1] = Issue(f"{len(issues)}+ appareils refusés : voir les précédents.", r["id"])
                    continue
                key = tuple(sorted(out.items()))
                groups.setdefault(key, []).append(r["id"])
                old = {"status": r["status"], "holder": r["holder__ident"], "school": r["school__uai"], **r}
                for name, new in out.items():
                    col_name = {"holder_id": "holder", "school_id": "school"}.get(name, name)
                    before = old.get(col_name)
                    if _code(before) == new:
                        continue
                    column = columns.get(col_name)
                    audit.append(AuditEntry(actor=actor, sheet=sheet.name, row_id=r["id"], row_key=r["serial"],
                                            column=col_name, old_value=_encode(column, _code(before)),
                                            new_value=_encode(column, new), source=source, batch=result.batch))
                    result.changed_cells += 1
        if issues:
            raise WriteRefused(issues)
        for key, ids in groups.items():
            update = dict(key)
            update["version"] = F("version") + 1
            for start in range(0, len(ids), CHUNK):
                await Device.filter(id__in=ids[start:start + CHUNK]).update(**update)
            result.changed_rows += len(ids)
        await AuditEntry.bulk_create(audit, batch_size=2000)
    COUNTS.bump(sheet.name)
    return result


DEVICES = register(Sheet(
    name="devices",
    read_roles=frozenset({"admin", "agent", "lecteur", "laposte", "unowhy", "maintenance"}),
    edit_roles=frozenset({"admin", "agent", "laposte", "unowhy"}),
    label="Parc : appareils",
    model=Device,
    key="serial",
    default_sort=("serial",),
    change_hook=device_hook,
    bulk_hook=device_bulk_hook,
    page_path="/parc/appareils",
    description="PC et écrans de la Région : chaque changement de statut suit le cycle de vie du livret.",
    columns=(
        Column("serial", "N° de série", width=150, aliases=("serie", "numero de serie", "sn")),
        Column("kind", "Type", kind="choice", width=150, choices=DeviceKind),
        Column("model", "Modèle", width=130),
        Column("supplier", "Fournisseur", width=110),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), editable=True, width=110,
               link="/parc/ecoles/{value}", aliases=("uai", "etablissement")),
        Column("holder", "Porteur", kind="reference", reference=("holders", "ident"), editable=True, width=130,
               aliases=("identifiant porteur", "ine", "numen"),
               help="Identifiant du porteur (seuls Unowhy et La Poste le changent, R-FLEET-5)."),
        Column("status", "Statut", kind="choice", editable=True, width=170, choices=Status,
               help="Cycle de vie : un passage interdit est refusé avec la raison."),
        Column("grade", "État", kind="choice", editable=True, width=110, choices=Grade),
        Column("computer", "Ordinateur", kind="boolean", width=100),
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


async def devices_follow(holder_id: int, school_id: int | None, actor: str, source: Source, batch: str) -> int:
    """R-FLEET-3 / R-FLEET-7: a holder moving within IDF keeps the device, which follows to the new school."""
    rows = await Device.filter(holder_id=holder_id, status__in=ACTIVE_STATUSES).exclude(
        school_id=school_id).values_list("id", "serial", "school__uai")
    if not rows:
        return 0
    uai = (await School.get(id=school_id).only("uai")).uai if school_id else None
    await Device.filter(id__in=[r[0] for r in rows]).update(school_id=school_id, version=F("version") + 1)
    await AuditEntry.bulk_create([AuditEntry(actor=actor, sheet="devices", row_id=rid, row_key=serial, column="school",
                                             old_value=_encode(None, old), new_value=_encode(None, uai),
                                             source=source, batch=batch) for rid, serial, old in rows])
    COUNTS.bump("devices")
    return len(rows)


async def holder_leaves(holder_id: int, situation: str, end_choice: str | None, actor: str, role: str | None,
                        source: Source, batch: str) -> int:
    """Devices of a holder who leaves: to return (R-FLEET-7, R-FLEET-9), or kept / returned at the end (R-FLEET-8)."""
    if situation in (Situation.LEFT_IDF, Situation.RETIRED):
        target = Status.TO_RETURN
    elif situation == Situation.FINISHED and end_choice:
        target = Status.KEPT if end_choice == EndChoice.KEEP else Status.TO_RETURN
    else:
        return 0
    sources = (Status.DISTRIBUTED,) if target == Status.KEPT else (Status.ASSIGNED, Status.DELIVERED,
                                                                    Status.DISTRIBUTED)
    ids = await Device.filter(holder_id=holder_id, status__in=sources).values_list("id", flat=True)
    if not ids:
        return 0
    await apply_changes(DEVICES, [RowChange(i, {"status": target}) for i in ids], actor=actor, source=source,
                        batch=batch, role=role)
    return len(ids)


async def holder_hook(sheet: Sheet, instance: Any, values: dict[str, Any], actor: str,
                      role: str | None) -> dict[str, Any]:
    """A holder's change of school moves their devices; leaving or finishing school starts the returns."""
    batch = uuid.uuid4().hex
    if "school" in values:
        ids = await School.filter(uai=str(values["school"] or "").upper()).values_list("id", flat=True)
        if values["school"] and not ids:
            raise ValueError(f"Établissement « {values['school']} » inconnu.")
        values.setdefault("situation", Situation.IN_SCHOOL)
        await devices_follow(instance.id, ids[0] if ids else None, actor, Source.API, batch)
    choice = _code(values.get("end_choice", instance.end_choice))
    if choice and _code(instance.level) != "Tle" and _code(values.get("level", instance.level)) != "Tle":
        raise ValueError("Le choix garder / restituer concerne les élèves de Terminale en fin de scolarité "
                         "(R-FLEET-8).")
    situation = _code(values.get("situation", instance.situation))
    if "situation" in values or "end_choice" in values:
        await holder_leaves(instance.id, situation, choice, actor, role, Source.API, batch)
    return values


HOLDERS = register(Sheet(
    name="holders",
    personal_data=True,
    read_roles=frozenset({"admin", "agent", "lecteur", "laposte", "unowhy"}),
    edit_roles=frozenset({"admin", "agent", "laposte", "unowhy"}),
    label="Parc : porteurs",
    model=Holder,
    key="ident",
    default_sort=("last_name", "first_name"),
    change_hook=holder_hook,
    can_create=True,
    page_path="/parc/porteurs",
    description="Élèves, enseignants et personnels dotés (ou à doter) : seulement ce que le travail exige (R-SEC-4).",
    columns=(
        Column("ident", "Identifiant", required=True, width=130,
               aliases=("ine", "numen", "id", "identifiant national")),
        Column("kind", "Type", kind="choice", editable=True, width=110, choices=HolderKind),
        Column("last_name", "Nom", editable=True, required=True, width=160, aliases=("nom de famille",)),
        Column("first_name", "Prénom", editable=True, width=140, aliases=("prenom",)),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), editable=True, width=110,
               link="/parc/ecoles/{value}", aliases=("uai", "etablissement")),
        Column("class_name", "Classe", editable=True, width=100, aliases=("division",)),
        Column("level", "Niveau", kind="choice", editable=True, width=110, choices=Level),
        Column("track", "Voie", kind="choice", editable=True, width=130, choices=Track),
        Column("situation", "Situation", kind="choice", editable=True, width=190,
               choices=Situation),
        Column("end_choice", "Fin de scolarité : choix", kind="choice", editable=True, width=140,
               choices=EndChoice),
        Column("updated_at", "Modifié le", kind="datetime", width=150),
    ),
))


# --- Restock requests ------------------------------------------------------------------------------


async def ship_restock(request: RestockRequest, actor: str, role: str | None, batch: str) -> int:
    """Send `quantity` stock laptops (best grade first) to the school, unassigned (R-FLEET-12)."""
    ids = await Device.filter(status=Status.STOCK, kind=DeviceKind.STUDENT_LAPTOP, holder_id=None).order_by(
        "grade", "serial").limit(request.quantity).values_list("id", flat=True)
    if len(ids) < request.quantity:
        raise ValueError(f"Stock régional insuffisant : {len(ids)} PC élève disponible(s) pour {request.quantity} "
                         "demandé(s).")
    uai = (await School.get(id=request.school_id).only("uai")).uai
    await apply_changes(DEVICES, [RowChange(i, {"status": Status.DELIVERED, "school": uai}) for i in ids],
                        actor=actor, source=Source.API, batch=batch, role=role)
    await Device.filter(id__in=ids).update(restock_id=request.id)
    return len(ids)


async def restock_hook(sheet: Sheet, instance: Any, values: dict[str, Any], actor: str,
                       role: str | None) -> dict[str, Any]:
    """Restock steps in order; shipping sends devices; the end needs every device assigned (R-FLEET-12)."""
    if "status" not in values:
        if _code(instance.status) != RestockStatus.REQUESTED and ("quantity" in values or "school" in values):
            raise ValueError("Le réassort est expédié : la quantité et le lycée ne changent plus.")
        return values
    target = _code(values["status"])
    next_restock_status(_code(instance.status), target)
    batch = uuid.uuid4().hex
    if target == RestockStatus.SHIPPED:
        await ship_restock(instance, actor, role, batch)
    elif target == RestockStatus.RECEIVED:
        values.setdefault("received_on", today())
    elif target == RestockStatus.SIGNED:
        if not (values.get("signed_by") or instance.signed_by):
            raise ValueError("Indiquez qui a signé l'attestation (personne habilitée du groupe « La Poste »).")
    elif target == RestockStatus.ASSIGNED:
        free = await Device.filter(restock_id=instance.id, holder_id=None).count()
        if free:
            raise ValueError(f"{free} PC de ce réassort n'ont pas encore de porteur : affectez-les d'abord "
                             "(Unowhy ou La Poste).")
    return values


RESTOCKS = register(Sheet(
    name="restocks",
    read_roles=frozenset({"admin", "agent", "lecteur", "unowhy"}),
    edit_roles=frozenset({"admin", "agent", "unowhy"}),
    label="Parc : réassorts",
    model=RestockRequest,
    key="id",
    default_sort=("-id",),
    change_hook=restock_hook,
    can_create=True,
    page_path="/parc/reassorts",
    description="Réassorts en cours d'année (R-FLEET-12) : plus de 5 PC par transporteur, 5 ou moins par Colissimo.",
    columns=(
        Column("id", "N°", kind="integer", width=80),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), editable=True, required=True,
               width=110, link="/parc/ecoles/{value}", aliases=("uai",)),
        Column("quantity", "Nombre de PC", kind="integer", editable=True, required=True, width=110),
        Column("reason", "Motif", editable=True, width=180),
        Column("shipping", "Envoi", kind="choice", width=120, choices=Shipping),
        Column("status", "Étape", kind="choice", editable=True, width=200, choices=RestockStatus),
        Column("requested_on", "Demandé le", kind="date", editable=True, width=110),
        Column("received_on", "Reçu le", kind="date", width=110),
        Column("signed_by", "Attestation signée par", editable=True, width=200),
        Column("updated_at", "Modifié le", kind="datetime", width=150),
    ),
))
