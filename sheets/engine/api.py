"""The engine's JSON endpoints: blocks of rows for the grid, cell edits, bulk edits, paste, undo, history."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from models.audit import Source
from sheets.engine.declaration import Sheet, all_sheets, get_sheet
from sheets.engine.query import BlockRequest, QueryError, base_query, fetch_block, to_row, value_paths
from sheets.engine.writes import (
    Issue,
    RowChange,
    WriteRefused,
    apply_changes,
    bulk_set,
    parse_changes,
    row_history,
    undo_last,
)

MAX_BULK_ROWS = 200_000
STEP_UP_ROWS = 100  # above this, bulk edits and imports ask a fresh TOTP code: only from the app, not the API
MAX_PASTE_CELLS = 20_000


@dataclass(frozen=True)
class Caller:
    """Who calls the engine: an actor name for the audit and a role for the rights."""

    actor: str
    role: str | None = None


CallerDependency = Callable[[Request], Awaitable[Caller]]


def readable_sheet(name: str, caller: Caller) -> Sheet:
    """The sheet of a URL, or 404 / 403 in French."""
    try:
        sheet = get_sheet(name)
    except KeyError as exc:
        raise HTTPException(status_code=404, detail=str(exc.args[0])) from None
    if not sheet.may_read(caller.role):
        raise HTTPException(status_code=403, detail=f"Vous n'avez pas accès à « {sheet.label} ».")
    return sheet


def refused(exc: WriteRefused) -> JSONResponse:
    """A refused write as a 409 (conflict) or 422 answer listing every reason."""
    return JSONResponse(status_code=409 if exc.conflict else 422,
                        content={"detail": str(exc), "issues": [i.as_dict() for i in exc.issues]})


async def _json_body(request: Request) -> dict[str, Any]:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise HTTPException(status_code=415, detail="Corps JSON attendu (Content-Type: application/json).")
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(status_code=400, detail="Corps JSON illisible.") from None
    if not isinstance(body, dict):
        raise HTTPException(status_code=400, detail="Un objet JSON est attendu.")
    return body


async def fetch_row(sheet: Sheet, row_id: int) -> dict[str, Any] | None:
    """One row as the grid shows it."""
    records = await sheet.model.filter(id=row_id).values(*value_paths(sheet))
    return to_row(sheet, records[0]) if records else None


async def edit_cell(sheet: Sheet, row_id: int, field: str, value: Any, version: int | None, caller: Caller,
                    source: Source = Source.GRID) -> dict[str, Any]:
    """Validate and save one cell; return the saved row. Raises WriteRefused."""
    changes, issues = await parse_changes(sheet, [RowChange(row_id, {field: value}, version)])
    if issues:
        raise WriteRefused(issues)
    await apply_changes(sheet, changes, actor=caller.actor, source=source, role=caller.role)
    row = await fetch_row(sheet, row_id)
    assert row is not None
    return row


def parse_block(text: str) -> list[list[str]]:
    """A block copied from Excel or LibreOffice (tab-separated, quoted cells allowed) as a matrix."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    return [row for row in csv.reader(io.StringIO(text), delimiter="\t")] if text else []


async def paste_block(sheet: Sheet, text: str, row_ids: list[int], fields: list[str], versions: dict[int, int],
                      caller: Caller) -> int:
    """Apply a pasted block from the focused cell: all cells in one transaction, or none with every bad cell."""
    matrix = parse_block(text)
    if not matrix:
        raise WriteRefused([Issue("Le presse-papiers est vide.")])
    if sum(len(r) for r in matrix) > MAX_PASTE_CELLS:
        raise WriteRefused([Issue(f"Bloc trop grand : {MAX_PASTE_CELLS} cellules au plus par collage ; "
                                  "utilisez l'import Excel.")])
    if len(matrix) > len(row_ids):
        raise WriteRefused([Issue(f"Le bloc fait {len(matrix)} lignes mais il n'en reste que {len(row_ids)} "
                                  "à partir de la cellule choisie.")])
    width = max(len(r) for r in matrix)
    if width > len(fields):
        raise WriteRefused([Issue(f"Le bloc fait {width} colonnes mais il n'en reste que {len(fields)} "
                                  "à partir de la cellule choisie.")])
    changes = [RowChange(row_ids[i], {fields[j]: cell for j, cell in enumerate(line)}, versions.get(row_ids[i]),
                         line=i + 1) for i, line in enumerate(matrix)]
    parsed, issues = await parse_changes(sheet, changes)
    if issues:
        raise WriteRefused(issues)
    result = await apply_changes(sheet, parsed, actor=caller.actor, source=Source.PASTE, role=caller.role)
    return result.changed_cells


async def rows_of_filter(sheet: Sheet, filter_model: dict[str, Any], quick: str) -> list[int]:
    """Ids of every row of a filter (bulk edit on the whole filtered view)."""
    return list(await base_query(sheet, filter_model, quick).values_list("id", flat=True))


def sheet_meta(sheet: Sheet, caller: Caller) -> dict[str, Any]:
    """A sheet's declaration as JSON (columns, key, rights of the caller)."""
    return {
        "name": sheet.name, "label": sheet.label, "key": sheet.key, "description": sheet.description,
        "editable": sheet.may_edit(caller.role),
        "columns": [{"field": c.field, "label": c.label, "kind": c.kind, "editable": c.editable,
                     "required": c.required, "choices": [list(x) for x in c.choices]} for c in sheet.columns],
    }


def build_router(current_caller: CallerDependency) -> APIRouter:
    """The /api/sheets routes; `current_caller` (from the web layer) says who calls, or answers 401."""
    router = APIRouter(prefix="/api/sheets", tags=["Feuilles"])

    @router.get("", summary="Feuilles disponibles")
    async def list_sheets(caller: Caller = Depends(current_caller)) -> list[dict[str, Any]]:
        return [sheet_meta(s, caller) for s in all_sheets() if s.may_read(caller.role)]

    @router.get("/{name}", summary="Déclaration d'une feuille")
    async def describe(name: str, caller: Caller = Depends(current_caller)) -> dict[str, Any]:
        return sheet_meta(readable_sheet(name, caller), caller)

    @router.post("/{name}/rows", summary="Bloc de lignes (modèle infini d'AG Grid)")
    async def rows(name: str, request: Request, caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller)
        try:
            block = BlockRequest.from_json(await _json_body(request))
            return await fetch_block(sheet, block)
        except QueryError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None

    @router.post("/{name}/cells", summary="Modifier une cellule")
    async def cell(name: str, request: Request, caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller)
        body = await _json_body(request)
        try:
            row_id, field = int(body["row_id"]), str(body["field"])
        except (KeyError, TypeError, ValueError):
            raise HTTPException(status_code=400, detail="row_id (entier) et field sont obligatoires.") from None
        version = body.get("version")
        try:
            return {"row": await edit_cell(sheet, row_id, field, body.get("value"),
                                           int(version) if version is not None else None, caller, Source.API)}
        except WriteRefused as exc:
            return refused(exc)

    @router.post("/{name}/bulk", summary="Modifier une colonne sur plusieurs lignes")
    async def bulk(name: str, request: Request, caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller)
        body = await _json_body(request)
        field = str(body.get("field", ""))
        if "row_ids" in body:
            ids = [int(i) for i in body["row_ids"]]
        else:
            try:
                ids = await rows_of_filter(sheet, body.get("filterModel") or {}, str(body.get("quick") or ""))
            except QueryError as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from None
        if len(ids) > STEP_UP_ROWS:
            raise HTTPException(status_code=403, detail=(
                f"{len(ids)} lignes : au-delà de {STEP_UP_ROWS}, une modification en masse se fait depuis "
                "l'application, qui demande un code de double authentification."))
        if len(ids) > MAX_BULK_ROWS:
            raise HTTPException(status_code=422, detail=f"{len(ids)} lignes : {MAX_BULK_ROWS} au plus par opération.")
        expected = body.get("expected_count")
        if expected is not None and int(expected) != len(ids):
            raise HTTPException(status_code=409, detail=f"Le filtre couvre maintenant {len(ids)} lignes et non "
                                                        f"{expected} : vérifiez puis confirmez à nouveau.")
        try:
            result = await bulk_set(sheet, ids, field, body.get("value"), actor=caller.actor, role=caller.role)
        except WriteRefused as exc:
            return refused(exc)
        return {"rows": len(ids), "changed": result.changed_rows, "batch": result.batch}

    @router.post("/{name}/paste", summary="Coller un bloc copié d'Excel")
    async def paste(name: str, request: Request, caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller)
        body = await _json_body(request)
        try:
            changed = await paste_block(sheet, str(body.get("text", "")), [int(i) for i in body.get("row_ids", [])],
                                        [str(f) for f in body.get("fields", [])],
                                        {int(k): int(v) for k, v in (body.get("versions") or {}).items()}, caller)
        except WriteRefused as exc:
            return refused(exc)
        return {"changed": changed}

    @router.post("/undo", summary="Annuler ma dernière modification")
    async def undo(caller: Caller = Depends(current_caller)) -> Any:
        try:
            done = await undo_last(caller.actor, caller.role)
        except WriteRefused as exc:
            return refused(exc)
        if done is None:
            return {"undone": None}
        return {"undone": done[0], "changed": done[1].changed_cells}

    @router.get("/{name}/rows/{row_id}/history", summary="Historique d'une ligne")
    async def history(name: str, row_id: int, caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller)
        return [{**h, "at": h["at"].isoformat()} for h in await row_history(sheet, row_id)]

    @router.get("/{name}/export.xlsx", summary="Exporter la feuille en Excel (filtres col=valeur)")
    async def export(name: str, request: Request, quick: str = "", sort: str = "",
                     caller: Caller = Depends(current_caller)) -> Any:
        import tempfile

        from fastapi.responses import FileResponse
        from starlette.background import BackgroundTask

        from sheets.engine.exporter import export_sheet
        from sheets.engine.query import cli_filters

        sheet = readable_sheet(name, caller)
        if sheet.personal_data:
            raise HTTPException(status_code=403, detail=f"« {sheet.label} » contient des données personnelles : "
                                                        "exportez-la depuis l'application, qui demande un code de "
                                                        "double authentification.")
        try:
            filters = cli_filters(sheet, request.query_params.getlist("filter"))
            sort_model = [{"colId": part.split(":")[0], "sort": (part.split(":", 1)[1] if ":" in part else "asc")}
                          for part in sort.split(",") if part]
            handle = tempfile.NamedTemporaryFile(prefix=f"rentree-{name}-", suffix=".xlsx", delete=False)
            handle.close()
            await export_sheet(sheet, handle.name, filter_model=filters, quick=quick, sort_model=sort_model,
                               actor=caller.actor)
        except QueryError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        import os

        return FileResponse(handle.name, filename=f"{name}.xlsx", background=BackgroundTask(os.unlink, handle.name),
                            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    return router
