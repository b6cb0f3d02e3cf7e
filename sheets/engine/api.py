"""The engine's JSON endpoints: blocks of rows, cell edits, bulk, paste, creation, deletion, row actions, undo,
history and export. Every body is a typed model with bounds; every refusal is a French 4xx, never a 500."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from starlette.background import BackgroundTask

from models.audit import Source
from sheets.engine.actions import run_action
from sheets.engine.caller import Caller
from sheets.engine.declaration import Sheet, all_sheets, get_sheet
from sheets.engine.query import MAX_BLOCK, BlockRequest, QueryError, base_query, fetch_block, to_row, value_paths
from sheets.engine.writes import (
    Issue,
    RowChange,
    WriteRefused,
    apply_changes,
    bulk_set,
    create_rows,
    delete_rows,
    row_history,
    undo_last,
)

MAX_BULK_ROWS = 200_000
STEP_UP_ROWS = 100  # above this, bulk edits and imports ask a fresh TOTP code: only from the app, not the API
MAX_PASTE_CELLS = 20_000
MAX_CREATE_ROWS = 1_000
MAX_ID = 2**53  # every id, offset and version stays a safe integer in JavaScript and in a BIGINT
MAX_TEXT = 32_767  # Excel's own limit for a cell
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

CallerDependency = Callable[[Request], Awaitable[Caller]]
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
CellValue = StrictBool | StrictInt | StrictFloat | Annotated[StrictStr, Field(max_length=MAX_TEXT)] | None
FieldName = Annotated[str, Field(min_length=1, max_length=60)]
SheetName = Annotated[str, Path(max_length=40, pattern="^[a-z_]+$")]
ActionName = Annotated[str, Path(max_length=40, pattern="^[a-z_]+$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SortItem(_Body):
    """One sort term of AG Grid."""

    colId: FieldName
    sort: Annotated[str, Field(pattern="^(asc|desc)$")] = "asc"


class BlockBody(BaseModel):
    """AG Grid's infinite-model request, plus the quick search."""

    model_config = ConfigDict(extra="ignore")
    startRow: Annotated[int, Field(ge=0, le=MAX_ID)] = 0
    endRow: Annotated[int, Field(ge=1, le=MAX_ID)] = 100
    sortModel: Annotated[list[SortItem], Field(max_length=10)] = []
    filterModel: Annotated[dict[FieldName, dict[str, Any]], Field(max_length=60)] = {}
    quick: Annotated[str, Field(max_length=200)] = ""


class CellBody(_Body):
    """One cell edit: the row, its version as the client saw it, the column and the new value."""

    row_id: RowId
    field: FieldName
    value: CellValue = None
    version: Annotated[int, Field(ge=0, le=MAX_ID)]


class BulkBody(_Body):
    """One column set to one value on chosen rows, or on every row of a filter."""

    field: FieldName
    value: CellValue = None
    row_ids: Annotated[list[RowId], Field(max_length=MAX_BULK_ROWS)] | None = None
    filterModel: Annotated[dict[FieldName, dict[str, Any]], Field(max_length=60)] | None = None
    quick: Annotated[str, Field(max_length=200)] = ""
    expected_count: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None


class PasteBody(_Body):
    """A block copied from Excel, from the focused cell."""

    text: Annotated[str, Field(max_length=2_000_000)]
    row_ids: Annotated[list[RowId], Field(max_length=5000)]
    fields: Annotated[list[FieldName], Field(max_length=200)]
    versions: Annotated[dict[RowId, Annotated[int, Field(ge=0, le=MAX_ID)]], Field(max_length=5000)] = {}


class CreateBody(_Body):
    """New rows, by field."""

    rows: Annotated[list[Annotated[dict[FieldName, CellValue], Field(max_length=100)]],
                    Field(min_length=1, max_length=MAX_CREATE_ROWS)]


class RowsBody(_Body):
    """Rows chosen by id."""

    row_ids: Annotated[list[RowId], Field(min_length=1, max_length=10_000)]


class ActionBody(_Body):
    """A row action: the rows (none for an action on the sheet) and the values of its form."""

    row_ids: Annotated[list[RowId], Field(max_length=10_000)] = []
    values: Annotated[dict[FieldName, CellValue], Field(max_length=60)] = {}


def readable_sheet(name: str, caller: Caller, *, whole: bool = False) -> Sheet:
    """The sheet of a URL as the caller reads it (without the columns it may not see; `whole` for a write, which
    refuses a hidden column itself), or 404 / 403 in French."""
    try:
        sheet = get_sheet(name)
    except KeyError as exc:
        raise HTTPException(status_code=404, detail=str(exc.args[0])) from None
    if not sheet.may_read(caller):
        raise HTTPException(status_code=403,
                            detail=f"Accès refusé : votre rôle ne donne pas accès à « {sheet.label} ».")
    return sheet if whole else sheet.seen_by(caller)


def refused(exc: WriteRefused) -> JSONResponse:
    """A refused write as 409 (conflict), 403 (forbidden), 404 (missing rows) or 422, listing every reason."""
    detail = str(exc)
    if exc.status == 403 and not detail.startswith("Accès refusé"):
        detail = "Accès refusé : " + detail
    return JSONResponse(status_code=exc.status, content={"detail": detail,
                                                         "issues": [i.as_dict() for i in exc.issues[:1000]]})


async def fetch_row(sheet: Sheet, row_id: int, caller: Caller | None = None) -> dict[str, Any] | None:
    """One row as the grid shows it (None when absent or outside the caller's scope; hidden columns left out)."""
    if caller is not None:
        sheet = sheet.seen_by(caller)
    records = await base_query(sheet, {}, "", caller).filter(id=row_id).values(*value_paths(sheet))
    return to_row(sheet, records[0]) if records else None


async def edit_cell(sheet: Sheet, row_id: int, field: str, value: Any, version: int | None,
                    caller: Caller) -> dict[str, Any]:
    """Validate and save one cell; return the saved row. Raises WriteRefused."""
    await apply_changes(sheet, [RowChange(row_id, {field: value}, version)], caller, parsed=False)
    row = await fetch_row(sheet, row_id, caller)
    if row is None:
        raise WriteRefused([Issue("Cette ligne n'existe pas (ou plus).", row_id, kind="missing")])
    return row


def parse_block(text: str) -> list[list[str]]:
    """A block copied from Excel or LibreOffice (tab-separated, quoted cells allowed) as a matrix."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    return list(csv.reader(io.StringIO(text), delimiter="\t")) if text else []


async def paste_block(sheet: Sheet, text: str, row_ids: list[int], fields: list[str], versions: dict[int, int],
                      caller: Caller) -> int:
    """Apply a pasted block from the focused cell: all cells in one transaction, or none with every bad cell."""
    try:
        matrix = parse_block(text)
    except csv.Error:
        raise WriteRefused([Issue("Bloc collé illisible (guillemets non fermés ?).")]) from None
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
    result = await apply_changes(sheet, changes, caller.using(Source.PASTE), parsed=False)
    return result.changed_cells


async def rows_of_filter(sheet: Sheet, filter_model: dict[str, Any], quick: str, caller: Caller,
                         limit: int = MAX_BULK_ROWS + 1) -> list[int]:
    """Ids of the rows of a filter within the caller's scope (bulk edit on the whole filtered view)."""
    return list(await base_query(sheet, filter_model, quick, caller).limit(limit).values_list("id", flat=True))


def sheet_meta(sheet: Sheet, caller: Caller) -> dict[str, Any]:
    """A sheet's declaration as JSON, with what this caller may do (edit, create, delete, moves, actions)."""
    lc = sheet.lifecycle
    return {
        "name": sheet.name, "label": sheet.label, "key": sheet.key, "description": sheet.description,
        "editable": sheet.may_edit(caller), "can_create": sheet.may_create(caller),
        "can_delete": sheet.may_delete(caller),
        "columns": [{"field": c.field, "label": c.label, "kind": c.kind,
                     "editable": sheet.may_edit_column(caller, c), "required": c.required,
                     "on_create": c.creatable, "choices": [list(x) for x in c.choices]} for c in sheet.columns],
        "lifecycle": None if lc is None else {"field": lc.field, "moves": lc.allowed_map(caller)},
        "actions": [{"name": a.name, "label": a.label, "rows": a.rows,
                     "form": [c.field for c in a.form_columns(sheet)]}
                    for a in sheet.all_actions() if a.offered_to(caller)],
    }


def _bad_request(exc: QueryError) -> HTTPException:
    return HTTPException(status_code=400, detail=str(exc))


def build_router(current_caller: CallerDependency, dependencies: Sequence[Any] = ()) -> APIRouter:
    """The /api/sheets routes; `current_caller` (from the web layer) says who calls, or answers 401;
    `dependencies` (the web layer's role guard) declare which roles reach the engine at all: each sheet then
    decides what a caller may read and write."""
    router = APIRouter(prefix="/api/sheets", tags=["Feuilles"], dependencies=list(dependencies))

    @router.get("", summary="Feuilles disponibles")
    async def list_sheets(caller: Caller = Depends(current_caller)) -> list[dict[str, Any]]:
        return [sheet_meta(s, caller) for s in all_sheets() if s.may_read(caller)]

    @router.get("/{name}", summary="Déclaration d'une feuille")
    async def describe(name: SheetName, caller: Caller = Depends(current_caller)) -> dict[str, Any]:
        return sheet_meta(readable_sheet(name, caller), caller)

    @router.post("/{name}/rows", summary="Bloc de lignes (modèle infini d'AG Grid)")
    async def rows(name: SheetName, body: BlockBody, caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller)
        if body.endRow <= body.startRow:
            raise HTTPException(status_code=400, detail="endRow doit être supérieur à startRow.")
        block = BlockRequest(body.startRow, min(body.endRow, body.startRow + MAX_BLOCK),
                             [s.model_dump() for s in body.sortModel], body.filterModel, body.quick)
        try:
            return await fetch_block(sheet, block, caller)
        except QueryError as exc:
            raise _bad_request(exc) from None

    @router.post("/{name}/cells", summary="Modifier une cellule (version obligatoire)")
    async def cell(name: SheetName, body: CellBody, caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller, whole=True)
        try:
            return {"row": await edit_cell(sheet, body.row_id, body.field, body.value, body.version,
                                           caller.using(Source.API))}
        except WriteRefused as exc:
            return refused(exc)

    @router.post("/{name}/bulk", summary="Modifier une colonne sur plusieurs lignes")
    async def bulk(name: SheetName, body: BulkBody, caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller, whole=True)
        if body.row_ids is not None:
            ids = list(body.row_ids)
        else:
            try:
                ids = await rows_of_filter(sheet.seen_by(caller), body.filterModel or {}, body.quick, caller)
            except QueryError as exc:
                raise _bad_request(exc) from None
        if len(ids) > MAX_BULK_ROWS:
            raise HTTPException(status_code=422, detail=f"Plus de {MAX_BULK_ROWS} lignes : réduisez le filtre.")
        if len(ids) > STEP_UP_ROWS:
            raise HTTPException(status_code=403, detail=(
                f"Accès refusé : {len(ids)} lignes ; au-delà de {STEP_UP_ROWS}, une modification en masse se fait "
                "depuis l'application, qui demande un code de double authentification."))
        if body.expected_count is not None and body.expected_count != len(ids):
            raise HTTPException(status_code=409, detail=f"Le filtre couvre maintenant {len(ids)} lignes et non "
                                                        f"{body.expected_count} : vérifiez puis confirmez à nouveau.")
        try:
            result = await bulk_set(sheet, ids, body.field, body.value, caller.using(Source.API))
        except WriteRefused as exc:
            return refused(exc)
        return {"rows": len(ids), "changed": result.changed_rows, "batch": result.batch}

    @router.post("/{name}/paste", summary="Coller un bloc copié d'Excel")
    async def paste(name: SheetName, body: PasteBody, caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller, whole=True)
        try:
            changed = await paste_block(sheet, body.text, list(body.row_ids), list(body.fields),
                                        dict(body.versions), caller)
        except WriteRefused as exc:
            return refused(exc)
        return {"changed": changed}

    @router.post("/{name}/create", summary="Créer des lignes (toutes ou aucune)")
    async def create(name: SheetName, body: CreateBody, caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller, whole=True)
        try:
            result = await create_rows(sheet, [dict(r) for r in body.rows], caller.using(Source.API))
        except WriteRefused as exc:
            return refused(exc)
        return {"created": [{"id": i, "key": k} for i, k in result.created], "batch": result.batch}

    @router.post("/{name}/delete", summary="Supprimer des lignes (toutes ou aucune)")
    async def delete(name: SheetName, body: RowsBody, caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller, whole=True)
        try:
            result = await delete_rows(sheet, list(body.row_ids), caller.using(Source.API))
        except WriteRefused as exc:
            return refused(exc)
        return {"deleted": result.changed_rows, "batch": result.batch}

    @router.post("/{name}/actions/{action}", summary="Action sur des lignes (ou transition du cycle de vie)")
    async def action(name: SheetName, action: ActionName,
                     body: ActionBody, caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller, whole=True)
        try:
            result = await run_action(sheet, action, list(body.row_ids), dict(body.values),
                                      caller.using(Source.API))
        except WriteRefused as exc:
            return refused(exc)
        return {"message": result.message, "rows": result.changed_rows, "batch": result.batch}

    @router.post("/undo", summary="Annuler ma dernière modification")
    async def undo(caller: Caller = Depends(current_caller)) -> Any:
        try:
            done = await undo_last(caller)
        except WriteRefused as exc:
            return refused(exc)
        if done is None:
            return {"undone": None}
        return {"undone": done[0], "changed": done[1].changed_cells}

    @router.get("/{name}/rows/{row_id}/history", summary="Historique d'une ligne")
    async def history(name: SheetName, row_id: Annotated[int, Path(ge=1, le=MAX_ID)],
                      caller: Caller = Depends(current_caller)) -> Any:
        sheet = readable_sheet(name, caller)
        return [{**h, "at": h["at"].isoformat()} for h in await row_history(sheet, row_id, caller)]

    @router.get("/{name}/export.xlsx", summary="Exporter la feuille en Excel (filtres col=valeur)")
    async def export(name: SheetName, quick: Annotated[str, Query(max_length=200)] = "",
                     sort: Annotated[str, Query(max_length=400)] = "",
                     filter: Annotated[list[Annotated[str, Field(max_length=200)]], Query(
                         max_length=20, description="colonne=valeur (égal ; un choix par code ou libellé)")] = [],  # noqa: B006
                     caller: Caller = Depends(current_caller)) -> Any:
        from sheets.engine.exporter import export_filename, export_sheet
        from sheets.engine.query import cli_filters

        sheet = readable_sheet(name, caller)
        if sheet.personal_data:
            raise HTTPException(status_code=403, detail=f"Accès refusé : « {sheet.label} » contient des données "
                                                        "personnelles ; exportez-la depuis l'application, qui demande "
                                                        "un code de double authentification.")
        filters_raw = list(filter)
        handle = tempfile.NamedTemporaryFile(prefix=f"rentree-{name}-", suffix=".xlsx", delete=False)
        handle.close()
        try:
            filters = cli_filters(sheet, filters_raw)
            sort_model = [{"colId": part.split(":")[0], "sort": (part.split(":", 1)[1] if ":" in part else "asc")}
                          for part in sort.split(",") if part]
            await export_sheet(sheet, handle.name, filter_model=filters, quick=quick, sort_model=sort_model,
                               caller=caller)
        except QueryError as exc:
            os.unlink(handle.name)
            raise _bad_request(exc) from None
        return FileResponse(handle.name, filename=export_filename(sheet),
                            background=BackgroundTask(os.unlink, handle.name), media_type=XLSX_TYPE)

    return router
