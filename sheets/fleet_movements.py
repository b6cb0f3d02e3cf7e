"""Movements from the schools' databases: a student list (SIECLE-like) or a teacher list (STS-like) per school.

File layout (first sheet, one header row, column order free, headers matched ignoring case and accents):
`Identifiant` (INE of a student, NUMEN of a teacher: required, stable), `Nom` (required), `Prénom`, and for
students `Classe`, `Niveau` (2de, 1re, Tle… or its label) and `Voie` (générale, technologique,
professionnelle). Compared with the holders of the school: new holders, holders coming from another school
(their device follows, R-FLEET-3 / R-FLEET-7), holders whose class changed, and holders absent from the file,
who left (device to return, R-FLEET-7 / R-FLEET-9; a Terminale student finishes school, R-FLEET-8).
Analysed first (preview), applied on confirmation in one transaction through the sheets, with audit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from models.fleet import Holder, HolderKind, Situation
from models.schools import Level, School, Track
from sheets.engine.caller import SYSTEM, Caller
from sheets.engine.importer import ImportFileError, read_xlsx, row_chunks
from sheets.engine.values import fold
from sheets.engine.writes import RowChange, apply_changes, create_rows, refuse, unit_of_work
from sheets.engine.xlsx import XlsxColumn, write_xlsx
from sheets.fleet import HOLDERS

HEADERS: dict[str, str] = {"identifiant": "ident", "ine": "ident", "numen": "ident", "nom": "last_name",
                           "prenom": "first_name", "classe": "class_name", "division": "class_name",
                           "niveau": "level", "voie": "track"}
SAMPLE_COLUMNS = [XlsxColumn("Identifiant", width=16), XlsxColumn("Nom", width=20), XlsxColumn("Prénom", width=16),
                  XlsxColumn("Classe", width=10), XlsxColumn("Niveau", width=10), XlsxColumn("Voie", width=16)]


@dataclass
class Movement:
    """One holder's movement found in the file."""

    ident: str
    name: str
    detail: str
    values: dict[str, Any] = field(default_factory=dict)
    holder_id: int | None = None
    line: int | None = None


@dataclass
class MovementReport:
    """What a school's list changes; nothing is written before `apply_movements`."""

    uai: str
    kind: HolderKind
    new: list[Movement] = field(default_factory=list)
    moved: list[Movement] = field(default_factory=list)
    updated: list[Movement] = field(default_factory=list)
    left: list[Movement] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def ok(self) -> bool:
        """No refused line."""
        return not self.issues

    def summary(self) -> str:
        """One French line."""
        verb = "appliqué" if self.applied else "à appliquer"
        return (f"{HolderKind.label_of(self.kind.value)}s de {self.uai} ({verb}) : {len(self.new)} nouveau(x), "
                f"{len(self.moved)} arrivé(s) d'un autre lycée, {len(self.updated)} changement(s) de classe, "
                f"{len(self.left)} parti(s)" + (f", {len(self.issues)} ligne(s) refusée(s)" if self.issues else "."))


def _level(raw: str) -> str | None:
    if not raw:
        return None
    for code, label in Level.choices():
        if fold(raw) in (fold(code), fold(label)) or (fold(raw) in ("2nde", "seconde") and code == "2de"):
            return code
    raise ValueError(f"niveau « {raw} » inconnu (attendu {', '.join(Level.labels())})")


def _track(raw: str) -> str | None:
    if not raw:
        return None
    for code, label in Track.choices():
        if fold(raw) in (fold(code), fold(label)) or fold(label).startswith(fold(raw)):
            return code
    raise ValueError(f"voie « {raw} » inconnue (générale, technologique ou professionnelle)")


async def analyse_movements(path: str | Path, school: School, kind: HolderKind,
                            caller: Caller | None = None) -> MovementReport:
    """Read a school's list and compare it with its holders (ImportFileError for a refused file). A caller scoped to
    its schools (school access) is not told which other school a holder comes from (R-SEC-4)."""
    report = MovementReport(school.uai, kind)
    source = await read_xlsx(path)
    try:
        mapping = {i: HEADERS[fold(h).replace(" ", "")] for i, h in enumerate(source.headers)
                   if fold(h).replace(" ", "") in HEADERS}
        if "ident" not in mapping.values() or "last_name" not in mapping.values():
            raise ImportFileError("Colonnes « Identifiant » et « Nom » obligatoires (voir le fichier d'exemple).")
        rows: dict[str, tuple[int, dict[str, Any]]] = {}
        async for chunk in row_chunks(source):  # read in a worker thread, never on the event loop
            for n, raw in chunk:
                values = {f: str(raw[i]).strip() if i < len(raw) and raw[i] is not None else ""
                          for i, f in mapping.items()}
                values = {k: (v[:-2] if v.endswith(".0") else v) for k, v in values.items()}
                if not any(values.values()):
                    continue
                ident = values["ident"].upper()
                if not ident or not values.get("last_name"):
                    report.issues.append(f"ligne {n} : identifiant et nom obligatoires.")
                    continue
                try:
                    values["level"] = _level(values.get("level", ""))
                    values["track"] = _track(values.get("track", ""))
                except ValueError as exc:
                    report.issues.append(f"ligne {n} : {exc}.")
                    continue
                if ident in rows:
                    report.issues.append(f"ligne {n} : identifiant {ident} déjà présent ligne {rows[ident][0]}.")
                    continue
                values["ident"] = ident
                rows[ident] = (n, values)
    finally:
        source.close()
    known: dict[str, dict[str, Any]] = {}
    idents = list(rows)
    for start in range(0, len(idents), 900):
        for h in await Holder.filter(ident__in=idents[start:start + 900]).values(
                "id", "ident", "school_id", "school__uai", "class_name", "level", "track", "situation"):
            known[h["ident"]] = h
    for ident, (line, values) in rows.items():
        name = f"{values.get('last_name', '')} {values.get('first_name', '')}".strip()
        wanted = {k: values.get(k) for k in ("class_name", "level", "track") if k in values}
        h = known.get(ident)
        if h is None:
            report.new.append(Movement(ident, name, values.get("class_name", "") or "", values, line=line))
        elif h["school_id"] != school.id:
            origin = h["school__uai"] if caller is None or caller.in_scope(h["school__uai"]) else None
            report.moved.append(Movement(ident, name, f"vient de {origin}" if origin else
                                         "vient d'un autre lycée d'Île-de-France" if h["school__uai"] else
                                         "vient de hors IDF",
                                         {"school": school.uai, "situation": Situation.IN_SCHOOL.value, **wanted},
                                         h["id"], line))
        else:
            diff = {k: v for k, v in wanted.items() if (getattr(h[k], "value", h[k]) or None) != (v or None)}
            if getattr(h["situation"], "value", h["situation"]) != Situation.IN_SCHOOL:
                diff["situation"] = Situation.IN_SCHOOL.value
            if diff:
                report.updated.append(Movement(ident, name, ", ".join(f"{k} → {v}" for k, v in diff.items()), diff,
                                               h["id"], line))
    for h in await Holder.filter(school_id=school.id, kind=kind, situation=Situation.IN_SCHOOL).values(
            "id", "ident", "last_name", "first_name", "level"):
        if h["ident"] in rows:
            continue
        finished = kind == HolderKind.STUDENT and getattr(h["level"], "value", h["level"]) == "Tle"
        situation = Situation.FINISHED if finished else Situation.LEFT_IDF
        report.left.append(Movement(h["ident"], f"{h['last_name']} {h['first_name']}".strip(),
                                    "fin de scolarité" if finished else "absent de la base : PC à restituer",
                                    {"situation": situation.value}, h["id"]))
    return report


async def apply_movements(report: MovementReport, caller: Caller) -> MovementReport:
    """Write the movements through the engine, in one transaction with audit (refused whole when the file had
    refused lines, or when the caller may not create and edit holders of that school).

    A holder of another school found in the list moves to this one with their device (R-FLEET-3, R-FLEET-7): the
    list of the school is the authority on who is there, so that move is made with the system's rights over every
    school (a school's person cannot otherwise touch another school's rows), audited under the caller's name.
    The upload is recorded (list_uploads: R-SLOT-2 is then done)."""
    if report.issues:
        raise ValueError("Corrigez d'abord les lignes refusées : rien n'a été appliqué.")
    await caller.check()
    if not caller.in_scope(report.uai):
        raise refuse(f"L'établissement {report.uai} est hors de votre périmètre.", "forbidden")
    if not (HOLDERS.may_create(caller, report.uai) and HOLDERS.may_edit(caller, report.uai)):
        raise refuse("Votre rôle ne permet pas d'importer les listes de cet établissement.", "forbidden")
    kind = report.kind.value
    transfer = replace(caller, role=SYSTEM, scope=None)
    async with unit_of_work():
        if report.new:
            await create_rows(HOLDERS, [{"ident": m.ident, "kind": kind, "last_name": m.values.get("last_name", ""),
                                         "first_name": m.values.get("first_name", ""), "school": report.uai,
                                         "class_name": m.values.get("class_name", ""), "level": m.values.get("level"),
                                         "track": m.values.get("track")} for m in report.new],
                              caller, lines=[m.line or 0 for m in report.new])
        moved = [RowChange(m.holder_id, m.values, line=m.line) for m in report.moved if m.holder_id]
        if moved:
            await apply_changes(HOLDERS, moved, transfer, parsed=False)
        changes = [RowChange(m.holder_id, m.values, line=m.line) for m in (*report.updated, *report.left)
                   if m.holder_id]
        if changes:
            await apply_changes(HOLDERS, changes, caller, parsed=False)
        from sheets.access import LIST_UPLOADS

        await create_rows(LIST_UPLOADS, [{"school": report.uai, "kind": kind, "uploaded_by": caller.actor,
                                          "new": len(report.new), "moved": len(report.moved),
                                          "updated": len(report.updated), "left": len(report.left)}],
                          caller.elevated())
    report.applied = True
    return report


async def write_sample(school: School, kind: HolderKind, target: str | Path) -> int:
    """A filled example of the file from the demo data: the school's holders, one new and one removed."""
    holders = await Holder.filter(school_id=school.id, kind=kind, situation=Situation.IN_SCHOOL).order_by(
        "class_name", "last_name").values_list("ident", "last_name", "first_name", "class_name", "level", "track")
    rows = [[i, n, p, c, Level.label_of(getattr(lv, "value", lv) or "", ""),
             Track.label_of(getattr(t, "value", t) or "", "")] for i, n, p, c, lv, t in holders][1:]
    stamp = dt.date.today().strftime("%y%m%d")
    rows.append([f"{'INE' if kind == HolderKind.STUDENT else 'NUM'}N{stamp}{school.id:04d}", "Nouveau", "Élève",
                 "2nde A", "2de", "Générale"])
    return write_xlsx(target, SAMPLE_COLUMNS, rows, sheet_title="Base élèves" if kind == HolderKind.STUDENT
                      else "Base enseignants")
