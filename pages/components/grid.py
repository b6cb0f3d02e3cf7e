"""The one grid component: any declared sheet as an AG Grid (infinite row model) with edit, bulk, paste, undo."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import app, ui

from models.audit import Source
from pages.fmt import fr_date, fr_number
from sheets.engine.actions import RowAction, run_action
from sheets.engine.api import STEP_UP_ROWS, edit_cell, fetch_row, paste_block, rows_of_filter
from sheets.engine.caller import Caller, SessionEnded
from sheets.engine.declaration import Column, Sheet
from sheets.engine.query import QueryError, base_query
from sheets.engine.writes import WriteRefused, bulk_set, create_rows, delete_rows, row_history, undo_last

BLOCK = 100

_FILTERS = {"text": "agTextColumnFilter", "integer": "agNumberColumnFilter", "decimal": "agNumberColumnFilter",
            "euro": "agNumberColumnFilter", "date": "agDateColumnFilter", "datetime": "agDateColumnFilter",
            "boolean": "agTextColumnFilter", "choice": "agTextColumnFilter", "reference": "agTextColumnFilter"}
_TEXT_OPTIONS = ["contains", "equals", "startsWith", "notContains", "notEqual", "blank", "notBlank"]
_NUMBER_OPTIONS = ["equals", "notEqual", "lessThan", "greaterThan", "inRange", "blank", "notBlank"]
_DATE_OPTIONS = ["equals", "lessThan", "greaterThan", "inRange", "blank", "notBlank"]

# AG Grid's own words, in French (filters, menus, overlays).
LOCALE_FR = {
    "contains": "Contient", "notContains": "Ne contient pas", "equals": "Égal à", "notEqual": "Différent de",
    "startsWith": "Commence par", "endsWith": "Finit par", "blank": "Vide", "notBlank": "Non vide",
    "lessThan": "Avant / inférieur à", "greaterThan": "Après / supérieur à", "inRange": "Entre",
    "lessThanOrEqual": "Inférieur ou égal à", "greaterThanOrEqual": "Supérieur ou égal à",
    "andCondition": "ET", "orCondition": "OU", "filterOoo": "Filtrer…", "inRangeStart": "De", "inRangeEnd": "À",
    "loadingOoo": "Chargement…", "noRowsToShow": "Aucune ligne", "applyFilter": "Appliquer",
    "resetFilter": "Réinitialiser", "clearFilter": "Effacer", "cancelFilter": "Annuler",
    "dateFormatOoo": "jj/mm/aaaa", "page": "Page", "of": "sur", "to": "à",
}


def column_def(sheet: Sheet, column: Column, caller: Caller) -> dict[str, Any]:
    """AG Grid column definition of a declared column, with what this caller may do in it."""
    editable = sheet.may_edit_column(caller, column)
    d: dict[str, Any] = {
        "field": column.field, "headerName": column.label, "colId": column.field,
        "sortable": True, "resizable": True, "filter": _FILTERS[column.kind],
        "editable": editable,
        "filterParams": {"filterOptions": _TEXT_OPTIONS, "maxNumConditions": 1, "buttons": ["reset"]},
    }
    if column.width:
        d["width"] = column.width
    if column.field == sheet.key:
        d["pinned"] = "left"  # the row's key stays in sight when scrolling sideways
    if column.help:
        d["headerTooltip"] = column.help
    if column.colors:  # a cell painted by its value (e.g. SLA states); other values back to no colour
        colors = json.dumps(dict(column.colors))
        d[":cellStyle"] = f"p => ({{backgroundColor: ({colors})[p.value] || 'transparent'}})"
    if column.link:
        prefix, _, suffix = column.link.partition("{value}")
        d[":cellRenderer"] = (  # an element, never HTML from the data
            "p => { if (p.value == null || p.value === '') return ''; const a = document.createElement('a'); "
            f"a.href = {json.dumps(prefix)} + encodeURIComponent(p.value) + {json.dumps(suffix)}; "
            "a.textContent = p.value; a.className = 'text-primary font-mono'; return a; }")
    if column.kind in ("integer", "decimal", "euro"):
        d["filterParams"] = {"filterOptions": _NUMBER_OPTIONS, "maxNumConditions": 1, "buttons": ["reset"]}
        d["cellEditor"] = "agNumberCellEditor"
        d["type"] = "rightAligned"
        if column.kind == "euro":
            d[":valueFormatter"] = ("p => p.value == null ? '' : new Intl.NumberFormat('fr-FR', "
                                    "{style: 'currency', currency: 'EUR'}).format(p.value)")
        elif column.plain:  # an id, a year: 2024, not 2 024
            d[":valueFormatter"] = "p => p.value == null ? '' : String(p.value)"
        else:
            d[":valueFormatter"] = "p => p.value == null ? '' : new Intl.NumberFormat('fr-FR').format(p.value)"
    elif column.kind == "date":
        d["filterParams"] = {"filterOptions": _DATE_OPTIONS, "maxNumConditions": 1, "buttons": ["reset"]}
        d["cellEditor"] = "agDateStringCellEditor"
        d[":valueFormatter"] = "p => p.value ? p.value.split('-').reverse().join('/') : ''"
    elif column.kind == "datetime":
        d["filterParams"] = {"filterOptions": _DATE_OPTIONS, "maxNumConditions": 1, "buttons": ["reset"]}
        d[":valueFormatter"] = ("p => p.value ? new Date(p.value).toLocaleString('fr-FR', {dateStyle: 'short', "
                                "timeStyle: 'short', timeZone: 'Europe/Paris'}) : ''")
    elif column.kind == "boolean":
        d["filterParams"] = {"filterOptions": ["equals"], "maxNumConditions": 1, "buttons": ["reset"]}
        d["cellEditor"] = "agSelectCellEditor"
        d["cellEditorParams"] = {"values": [True, False]}
        d[":valueFormatter"] = "p => p.value == null ? '' : (p.value ? 'Oui' : 'Non')"
    elif column.kind == "choice":
        labels = json.dumps(dict(column.choices), ensure_ascii=False)
        d["filterParams"] = {"filterOptions": ["equals", "notEqual", "contains"], "maxNumConditions": 1,
                             "buttons": ["reset"]}
        d["cellEditor"] = "agSelectCellEditor"
        d["cellEditorParams"] = {"values": [code for code, _ in column.choices]}
        d[":valueFormatter"] = f"p => (({labels})[p.value] ?? p.value ?? '')"
        lc = sheet.lifecycle
        if lc is not None and lc.field == column.field and editable:
            # The life cycle's column offers, on each row, only the moves this caller may make from its state.
            moves = json.dumps(lc.allowed_map(caller))
            d[":editable"] = f"p => p.data && (({moves})[p.data.{column.field}] || []).length > 0"
            d[":cellEditorParams"] = (f"p => ({{values: [p.value, ...((({moves})[p.value]) || [])], "
                                      "allowTyping: false}})")
            d.pop("cellEditorParams", None)
            d.pop("editable", None)
    return d


def _datasource_js(sheet: Sheet, grid_id: str) -> str:
    """The infinite model's datasource: POST the block request to the sheet's endpoint."""
    return f"""{{
      getRows: (p) => {{
        const quick = (window.rentreeQuick || {{}})['{grid_id}'] || '';
        fetch('/api/sheets/{sheet.name}/rows', {{
          method: 'POST', credentials: 'same-origin', headers: {{'Content-Type': 'application/json'}},
          body: JSON.stringify({{startRow: p.startRow, endRow: p.endRow, sortModel: p.sortModel,
                                 filterModel: p.filterModel, quick: quick}})
        }}).then(r => r.ok ? r.json() : r.json().then(e => Promise.reject(e.detail || r.statusText)))
          .then(d => {{ p.successCallback(d.rows, d.lastRow);
                        emitEvent('{grid_id}-count', {{count: d.lastRow, filters: p.filterModel, quick: quick}}); }})
          .catch(err => {{ p.failCallback(); emitEvent('{grid_id}-error', {{message: String(err)}}); }});
      }}
    }}"""


def _quick_js(grid_id: str, element_id: int) -> str:
    """A JS function of the quick-search text: when it changed, keep it for the datasource, go back to the top (only
    block 0 is asked, not the block of the old scroll position) and ask the rows again."""
    return f"""(v) => {{
      const all = (window.rentreeQuick = window.rentreeQuick || {{}});
      const text = v || '';
      if (all['{grid_id}'] === text) return;
      all['{grid_id}'] = text;
      const grid = getElement({element_id});
      if (grid && grid.api) {{ grid.api.ensureIndexVisible(0, 'top'); grid.api.purgeInfiniteCache(); }}
    }}"""


def _paste_js(sheet: Sheet, grid_id: str, element_id: int) -> str:
    """Listen to paste on the grid: send the block, the focused cell's row ids and columns to the server."""
    return f"""
    (() => {{
      const el = getElement({element_id});
      if (!el || !el.$el || el.$el.dataset.pasteReady) return;
      el.$el.dataset.pasteReady = '1';
      el.$el.addEventListener('paste', (e) => {{
        const api = el.api; const cell = api.getFocusedCell();
        if (!cell || api.getEditingCells().length) return;
        e.preventDefault();
        const text = (e.clipboardData || window.clipboardData).getData('text/plain');
        const cols = api.getAllDisplayedColumns().map(c => c.getColId());
        const fields = cols.slice(cols.indexOf(cell.column.getColId()));
        const rowIds = [], versions = {{}};
        for (let i = cell.rowIndex; i < api.getDisplayedRowCount(); i++) {{
          const node = api.getDisplayedRowAtIndex(i);
          if (!node || !node.data) break;
          rowIds.push(node.data.id); versions[node.data.id] = node.data.version;
          if (rowIds.length >= 5000) break;
        }}
        emitEvent('{grid_id}-paste', {{text: text, row_ids: rowIds, fields: fields, versions: versions}});
      }});
    }})();
    """


async def step_up(grid: SheetGrid, action: str) -> bool:
    """Ask the logged-in user for a fresh TOTP code before a large or sensitive action (issue 4). A school's person
    (e-mail link, scoped to its schools) has no TOTP: nothing it reaches is an admin action (issue 11)."""
    from pages.auth import confirm_step_up, current_user

    if grid.caller.is_school:
        return True
    user = await current_user()
    return user is not None and await confirm_step_up(user, action)


def _session_ended(exc: SessionEnded) -> None:
    from pages.auth import leave_ended_session  # a school's person goes back to /acces, the staff to /login

    leave_ended_session(exc)


def acts(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A grid handler that acts: when the session ended meanwhile, nothing is done and the page goes to login."""
    import functools

    @functools.wraps(method)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except SessionEnded as exc:
            _session_ended(exc)
            return None

    return guarded


class SheetGrid:
    """A sheet as an editable grid with its toolbar: counts, filters, bulk edit, paste, undo, history."""

    def __init__(self, sheet: Sheet, caller: Caller, height: str | None = None,
                 initial_filter: dict[str, Any] | None = None) -> None:
        self.sheet, self.caller = sheet, caller
        self.editable = sheet.may_edit(caller)
        self.actions: list[RowAction] = [a for a in sheet.all_actions() if a.offered_to(caller)]
        self.count = 0
        self.filters: dict[str, Any] = {}
        self.quick = ""
        self.state_key = f"grid:{sheet.name}"
        with ui.row().classes("w-full items-center gap-2 flex-wrap"):
            self.search = ui.input(placeholder="Recherche rapide…").props(
                "outlined dense clearable debounce=60").classes("w-72")
            self.search.on_value_change(self._on_quick)
            self.count_label = ui.label("…").classes("text-grey-8")
            self.filter_label = ui.label("").classes("text-sm text-primary")
            self.clear_button = ui.button("Effacer les filtres", icon="filter_alt_off",
                                          on_click=self.clear_filters).props("flat dense no-caps")
            self.clear_button.set_visibility(False)
            ui.space()
            self.view_select = ui.select({}, label="Vue", clearable=True, on_change=self._on_view).props(
                "outlined dense options-dense").classes("w-36")
            ui.button(icon="bookmark_add", on_click=self.save_view_dialog).props(
                "flat dense round aria-label='Enregistrer la vue'").tooltip(
                "Enregistrer la vue (colonnes, tri, filtres)")
            if sheet.may_create(caller):
                ui.button("Nouvelle ligne", icon="add", on_click=self.open_create).props(
                    "flat dense no-caps").mark("new-row")
            if self.actions:
                with ui.button("Actions", icon="bolt", on_click=lambda: self._fill_actions()).props(
                        "flat dense no-caps").mark("actions"):
                    self.actions_menu = ui.menu()
                    self._fill_actions_with(self.actions)
            if self.editable:
                ui.button("Modifier en masse", icon="edit_note", on_click=self.open_bulk).props(
                    "flat dense no-caps").mark("bulk")
                ui.button(icon="undo", on_click=self.undo).props(
                    "flat dense round aria-label='Annuler ma dernière modification'").tooltip(
                    "Annuler ma dernière modification").mark("undo")
            if sheet.may_delete(caller):
                ui.button("Supprimer", icon="delete", on_click=self.delete_selected).props(
                    "flat dense no-caps color=negative").mark("delete")
            ui.button(icon="history", on_click=self.open_history).props(
                "flat dense round aria-label='Historique de la ligne'").tooltip(
                "Historique de la ligne sélectionnée ou de la cellule active").mark("history")
            ui.button("Exporter", icon="file_download", on_click=lambda: export_view(self)).props(
                "flat dense no-caps")
            if self.editable or sheet.may_create(caller):
                ui.button("Importer", icon="file_upload", on_click=lambda: import_dialog(self)).props(
                    "flat dense no-caps").mark("import")
        self.grid_id = f"grid-{sheet.name}-{id(self)}"
        saved = app.storage.user.get(self.state_key, {}) if _has_user_storage() else {}
        options: dict[str, Any] = {
            "columnDefs": [column_def(sheet, c, caller) for c in sheet.seen_by(caller).columns],
            "defaultColDef": {"minWidth": 70, "suppressHeaderMenuButton": True},
            "rowModelType": "infinite",
            "cacheBlockSize": BLOCK,
            "maxBlocksInCache": 50,
            "maxConcurrentDatasourceRequests": 2,
            "infiniteInitialRowCount": 1,
            ":getRowId": "p => String(p.data.id)",
            ":datasource": _datasource_js(sheet, self.grid_id),
            "rowSelection": {"mode": "multiRow", "headerCheckbox": False},
            "selectionColumnDef": {"pinned": "left", "width": 44, "maxWidth": 44},  # with the key, on the left
            "localeText": LOCALE_FR,
            "tooltipShowDelay": 300,
            "stopEditingWhenCellsLoseFocus": True,
            "undoRedoCellEditing": False,
            "enterNavigatesVerticallyAfterEdit": True,  # keyboard: Entrée valide et descend, comme un tableur
            "enterNavigatesVertically": True,
        }
        self.grid = ui.aggrid(options, auto_size_columns=False).classes("w-full").style(
            f"height: {height}; min-height: 260px" if height else "flex: 1 1 0; min-height: 200px")
        self.grid.on("cellValueChanged", self._on_cell_changed)
        # The quick search goes from the box to the grid in the browser (no round trip before the rows are asked);
        # the server learns the text too (counts, exports, saved views) through the box's value.
        self.search.on("update:model-value", js_handler=_quick_js(self.grid_id, self.grid.id))
        for event in ("sortChanged", "columnResized", "columnMoved", "filterChanged"):
            self.grid.on(event, self._save_state, throttle=1.0)
        if initial_filter:  # a page opened on a subset (e.g. one school's devices) wins over the saved filters
            saved = {**saved, "filterModel": initial_filter}
        self.grid.on("gridReady", lambda: self._restore_state(saved))
        self.grid.on("gridReady", self.load_views)
        ui.on(f"{self.grid_id}-count", self._on_count)
        ui.on(f"{self.grid_id}-error", lambda e: ui.notify(f"Chargement impossible : {e.args['message']}",
                                                          type="negative"))
        ui.on(f"{self.grid_id}-paste", self._on_paste)
        self.grid.on("gridReady", lambda: ui.run_javascript(_paste_js(sheet, self.grid_id, self.grid.id)))

    # --- named views ------------------------------------------------------------------------------

    async def load_views(self) -> None:
        """Fill the view selector with the user's saved views of this sheet."""
        from models.views import list_views

        views = await list_views(self.caller.actor, self.sheet.name)
        self.views = {v.name: v.state for v in views}
        self.view_select.set_options({name: name for name in self.views})

    async def _on_view(self, e: Any) -> None:
        state = getattr(self, "views", {}).get(e.value) if e.value else None
        if state is None:
            return
        self._restore_state(state)
        self.quick = state.get("quick", "")
        self.search.value = self.quick
        ui.run_javascript(f"(window.rentreeQuick = window.rentreeQuick || {{}})['{self.grid_id}'] = "
                          f"{json.dumps(self.quick)};")
        self.grid.run_grid_method("purgeInfiniteCache")

    async def save_view_dialog(self) -> None:
        """Ask a name and save the current columns, sort, filters and quick search as a view."""
        from models.views import delete_view, save_view

        with ui.dialog(value=True) as dialog, ui.card().classes("min-w-96"):
            ui.label("Enregistrer la vue").classes("text-lg font-semibold")
            name = ui.input("Nom de la vue", value=self.view_select.value or "").classes("w-full")
            with ui.row().classes("w-full justify-end"):
                if self.view_select.value:
                    async def remove() -> None:
                        await delete_view(self.caller.actor, self.sheet.name, self.view_select.value)
                        self.view_select.value = None
                        await self.load_views()
                        dialog.close()
                        ui.notify("Vue supprimée.", type="info")

                    ui.button("Supprimer", on_click=remove).props("flat color=negative")
                ui.button("Annuler", on_click=dialog.close).props("flat")

                async def save() -> None:
                    try:
                        state = await self.grid.run_grid_method("getColumnState", timeout=5)
                        filters = await self.grid.run_grid_method("getFilterModel", timeout=5)
                        view = await save_view(self.caller.actor, self.sheet.name, name.value,
                                               {"columnState": state, "filterModel": filters, "quick": self.quick})
                    except ValueError as exc:
                        ui.notify(str(exc), type="warning")
                        return
                    except TimeoutError:
                        ui.notify("La grille n'a pas répondu ; réessayez.", type="negative")
                        return
                    await self.load_views()
                    self.view_select.value = view.name
                    dialog.close()
                    ui.notify(f"Vue « {view.name} » enregistrée.", type="positive")

                ui.button("Enregistrer", on_click=save).props("color=primary")

    # --- loading, counts, filters -----------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the rows (kept scroll position; the server answers with fresh values)."""
        self.grid.run_grid_method("refreshInfiniteCache")

    async def _on_quick(self, e: Any) -> None:
        self.quick = e.value or ""
        ui.run_javascript(f"({_quick_js(self.grid_id, self.grid.id)})({json.dumps(self.quick)})")  # a view, a reset

    def _on_count(self, e: Any) -> None:
        self.count = int(e.args.get("count") or 0)
        self.filters = e.args.get("filters") or {}
        self.count_label.text = f"{fr_number(self.count)} ligne(s)"
        active = [self.sheet.column(f).label for f in self.filters if self.sheet.has_column(f)]
        if self.quick:
            active.append(f"« {self.quick} »")
        self.filter_label.text = ("Filtres : " + ", ".join(active)) if active else ""
        self.clear_button.set_visibility(bool(active))

    async def clear_filters(self) -> None:
        """Remove every filter and the quick search."""
        self.search.value = ""
        self.grid.run_grid_method("setFilterModel", None)
        ui.run_javascript(f"(window.rentreeQuick = window.rentreeQuick || {{}})['{self.grid_id}'] = '';")
        self.grid.run_grid_method("purgeInfiniteCache")

    async def _save_state(self) -> None:
        if not _has_user_storage():
            return
        try:
            state = await self.grid.run_grid_method("getColumnState", timeout=3)
            filters = await self.grid.run_grid_method("getFilterModel", timeout=3)
        except TimeoutError:
            return
        app.storage.user[self.state_key] = {"columnState": state, "filterModel": filters}

    def _restore_state(self, saved: dict[str, Any]) -> None:
        if saved.get("columnState"):
            self.grid.run_grid_method("applyColumnState", {"state": saved["columnState"], "applyOrder": True})
        if saved.get("filterModel"):
            self.grid.run_grid_method("setFilterModel", saved["filterModel"])

    # --- editing ------------------------------------------------------------------------------------

    @acts
    async def _on_cell_changed(self, e: Any) -> None:
        args = e.args
        data = args.get("data") or {}
        row_id, field = data.get("id"), args.get("colId")
        if row_id is None or field is None or args.get("oldValue") == args.get("newValue"):
            return
        try:  # the engine re-checks the page's session first (issue 10): an ended one writes nothing
            row = await edit_cell(self.sheet, int(row_id), field, args.get("newValue"), data.get("version"),
                                  self.caller.using(Source.GRID))
        except WriteRefused as exc:
            ui.notify(str(exc), type="warning" if exc.conflict else "negative", multi_line=True, timeout=8000,
                      close_button="OK")
            current = await fetch_row(self.sheet, int(row_id), self.caller)
            if current is not None:
                self.grid.run_row_method(str(row_id), "setData", current)
            return
        self.grid.run_row_method(str(row_id), "setData", row)
        ui.notify(f"{self.sheet.column(field).label} enregistré.", type="positive", timeout=1500)

    @acts
    async def _on_paste(self, e: Any) -> None:
        if not self.editable:
            ui.notify("Vous ne pouvez pas modifier cette feuille.", type="negative")
            return
        args = e.args
        try:
            changed = await paste_block(self.sheet, args.get("text", ""), [int(i) for i in args.get("row_ids", [])],
                                        list(args.get("fields", [])),
                                        {int(k): int(v) for k, v in (args.get("versions") or {}).items()},
                                        self.caller)
        except WriteRefused as exc:
            self._show_issues("Collage refusé : rien n'a été modifié", exc)
            return
        ui.notify(f"Collage enregistré : {changed} cellule(s) modifiée(s).", type="positive")
        self.refresh()

    def _show_issues(self, title: str, exc: WriteRefused) -> None:
        with ui.dialog(value=True) as dialog, ui.card().classes("min-w-[32rem]"):
            ui.label(title).classes("text-lg font-semibold text-negative")
            with ui.scroll_area().classes("max-h-96 w-full"):
                for issue in exc.issues[:200]:
                    where = []
                    if issue.line:
                        where.append(f"ligne {issue.line}")
                    if issue.column:
                        where.append(self.sheet.column(issue.column).label if self.sheet.has_column(issue.column)
                                     else issue.column)
                    prefix = (" · ".join(where) + " : ") if where else ""
                    ui.label(prefix + issue.message).classes("text-sm")
            if len(exc.issues) > 200:
                ui.label(f"… et {len(exc.issues) - 200} autre(s).").classes("text-sm text-grey-7")
            ui.button("Fermer", on_click=dialog.close).props("flat")

    @acts
    async def undo(self) -> None:
        """Undo the user's last change, whatever its kind."""
        try:
            done = await undo_last(self.caller.using(Source.UNDO))
        except WriteRefused as exc:
            self._show_issues("Annulation impossible", exc)
            return
        if done is None:
            ui.notify("Rien à annuler.", type="info")
            return
        ui.notify(f"Annulé : {done[0]}.", type="positive")
        self.refresh()

    async def _states(self, selected: list[dict[str, Any]], field: str) -> list[Any]:
        """The life-cycle states of the selection, or of the whole filter (a grouped query)."""
        if selected:
            return list({r.get(field) for r in selected})
        column = self.sheet.column(field)
        return list(await base_query(self.sheet, self.filters, self.quick, self.caller).distinct().values_list(
            column.db_field, flat=True))

    @acts
    async def open_bulk(self) -> None:
        """Set a column to one value on the selected rows or on every row of the current filter."""
        selected = await self.grid.get_selected_rows()
        editable = [c for c in self.sheet.columns if self.sheet.may_edit_column(self.caller, c)]
        lc = self.sheet.lifecycle
        with ui.dialog(value=True) as dialog, ui.card().classes("min-w-[28rem] gap-3"):
            ui.label("Modifier en masse").classes("text-lg font-semibold")
            column = ui.select({c.field: c.label for c in editable}, label="Colonne").classes("w-full")
            value_box = ui.column().classes("w-full")
            holder: dict[str, Any] = {"value": None}

            def render_value() -> None:
                value_box.clear()
                holder["value"] = None
                if not column.value:
                    return
                col = self.sheet.column(column.value)
                with value_box:
                    if lc is not None and col.field == lc.field:
                        ui.label("Seuls les passages permis à votre rôle depuis l'état de toutes les lignes visées "
                                 "sont proposés.").classes("text-xs text-grey-7")
                        targets = state_targets.get("targets") or []
                        if not targets:
                            ui.label("Aucun passage commun possible pour ces lignes.").classes("text-negative")
                        ui.select({t: lc.label(t) for t in targets}, label="Nouvel état",
                                  on_change=lambda ev: holder.update(value=ev.value)).classes("w-full").mark(
                            "bulk-value")
                    elif col.kind == "choice":
                        ui.select(dict(col.choices), label="Nouvelle valeur",
                                  on_change=lambda ev: holder.update(value=ev.value)).classes("w-full")
                    elif col.kind == "boolean":
                        ui.select({True: "Oui", False: "Non"}, label="Nouvelle valeur",
                                  on_change=lambda ev: holder.update(value=ev.value)).classes("w-full")
                    else:
                        ui.input("Nouvelle valeur", on_change=lambda ev: holder.update(value=ev.value)).classes(
                            "w-full")

            state_targets: dict[str, Any] = {}

            async def on_column() -> None:
                if lc is not None and column.value == lc.field:
                    states = await self._states(selected, lc.field)
                    state_targets["targets"] = lc.common_targets(states, self.caller)
                render_value()

            column.on_value_change(on_column)
            scope = ui.radio({"selection": f"Lignes sélectionnées ({len(selected)})",
                              "filter": f"Toutes les lignes du filtre actuel ({fr_number(self.count)})"},
                             value="selection" if selected else "filter")
            with ui.row().classes("w-full justify-end"):
                ui.button("Annuler", on_click=dialog.close).props("flat")
                apply_button = ui.button("Appliquer", icon="check")

            async def apply() -> None:
                if not column.value:
                    ui.notify("Choisissez une colonne.", type="warning")
                    return
                if scope.value == "selection":
                    ids = [int(r["id"]) for r in selected]
                else:
                    try:
                        ids = await rows_of_filter(self.sheet, self.filters, self.quick, self.caller)
                    except QueryError as exc:
                        ui.notify(str(exc), type="negative")
                        return
                if not ids:
                    ui.notify("Aucune ligne à modifier.", type="warning")
                    return
                label = self.sheet.column(column.value).label
                with ui.dialog(value=True) as confirm, ui.card():
                    ui.label(f"Modifier « {label} » sur {fr_number(len(ids))} ligne(s) ?").classes("font-semibold")
                    ui.label("La modification est faite en une fois et peut être annulée ensuite.").classes(
                        "text-sm text-grey-8")
                    with ui.row().classes("w-full justify-end"):
                        ui.button("Non", on_click=lambda: confirm.submit(False)).props("flat")
                        ui.button("Oui, modifier", on_click=lambda: confirm.submit(True)).props("color=primary")
                if not await confirm:
                    return
                if len(ids) > STEP_UP_ROWS and not await step_up(self, f"modifier {fr_number(len(ids))} lignes"):
                    return
                try:
                    result = await bulk_set(self.sheet, ids, column.value, holder["value"],
                                            self.caller.using(Source.BULK))
                except SessionEnded as exc:
                    _session_ended(exc)
                    return
                except WriteRefused as exc:
                    self._show_issues("Modification refusée : rien n'a été modifié", exc)
                    return
                dialog.close()
                ui.notify(f"{fr_number(result.changed_rows)} ligne(s) modifiée(s).", type="positive")
                self.refresh()

            apply_button.on_click(apply)

    @acts
    async def open_history(self) -> None:
        """Show every change of the selected row (or the focused one) in a side panel."""
        rows = await self.grid.get_selected_rows()
        row_id = rows[0]["id"] if rows else None
        if row_id is None:
            # The focused cell's row id, computed in the browser: AG Grid's CellPosition holds its Column, whose
            # circular references cannot be sent back (that froze the page).
            try:
                row_id = await ui.run_javascript(
                    f"(() => {{ const api = getElement({self.grid.id}).api; const c = api.getFocusedCell(); "
                    "return c ? (api.getDisplayedRowAtIndex(c.rowIndex)?.data?.id ?? null) : null; })()", timeout=3)
            except TimeoutError:
                row_id = None
        if row_id is None:
            ui.notify("Sélectionnez d'abord une ligne (case à cocher) ou une cellule.", type="info")
            return
        history = await row_history(self.sheet, int(row_id), self.caller)
        current = await fetch_row(self.sheet, int(row_id), self.caller)
        key = current.get(self.sheet.key) if current else row_id
        with ui.dialog(value=True).props("position=right full-height") as panel, ui.card().classes(
                "w-[26rem] h-full gap-2"):
            with ui.row().classes("w-full items-center"):
                ui.label(f"Historique de {key}").classes("text-lg font-semibold")
                ui.space()
                ui.button(icon="close", on_click=panel.close).props("flat round dense")
            if not history:
                ui.label("Aucune modification enregistrée.").classes("text-grey-7")
            for h in history:
                with ui.card().classes("w-full p-2 gap-1" + (" opacity-60" if h["undone"] else "")):
                    ui.label(f"{fr_date(h['at'])} · {h['actor']} · {Source.label_of(h['source'], h['source'])}"
                             + (" · annulée" if h["undone"] else "")).classes("text-xs text-grey-7")
                    ui.label(h["column"]).classes("text-sm font-medium")
                    ui.label(f"{h['old'] or '∅'} → {h['new'] or '∅'}").classes("text-sm")

    # --- creation, actions, deletion -------------------------------------------------------------

    def _fill_actions_with(self, actions: list[RowAction], note: str = "") -> None:
        self.actions_menu.clear()
        with self.actions_menu:
            if note:
                ui.item(note).props("dense").classes("text-grey-7 text-sm")
            for action in actions:
                ui.menu_item(action.label, on_click=lambda a=action: self.open_action(a)).mark(f"action-{action.name}")

    async def _fill_actions(self) -> None:
        """The actions menu offers what the role may do on the selected rows: a move only from their states."""
        selected = await self.grid.get_selected_rows()
        lc = self.sheet.lifecycle
        states = {r.get(lc.field) for r in selected} if lc is not None else set()
        offered = [a for a in self.actions if a.rows == "none" or (
            selected and (a.move is None or all(state in a.move.sources for state in states)))]
        if not selected:
            note = "Cochez des lignes pour voir leurs actions."
        elif not any(a.rows != "none" for a in offered):
            labels = ", ".join(sorted(lc.label(s) for s in states)) if lc is not None else ""
            note = f"Aucune action permise sur ces lignes ({labels})." if labels else "Aucune action permise."
        else:
            note = f"{fr_number(len(selected))} ligne(s) sélectionnée(s)"
        self._fill_actions_with(offered, note)

    def _field(self, column: Column, values: dict[str, Any]) -> None:
        """A form field for a column (its kind's editor); the value lands in `values[column.field]`."""
        label = column.label + (" *" if column.required else "")
        if column.kind == "choice":
            ui.select(dict(column.choices), label=label, clearable=not column.required,
                      on_change=lambda ev: values.update({column.field: ev.value})).classes("w-full").mark(
                f"field-{column.field}")
        elif column.kind == "boolean":
            values[column.field] = False
            ui.checkbox(label, on_change=lambda ev: values.update({column.field: ev.value})).mark(
                f"field-{column.field}")
        elif column.kind == "date":
            ui.input(label + " (JJ/MM/AAAA)", on_change=lambda ev: values.update({column.field: ev.value})).classes(
                "w-full").mark(f"field-{column.field}")
        else:
            ui.input(label, on_change=lambda ev: values.update({column.field: ev.value})).classes("w-full").mark(
                f"field-{column.field}")

    async def _submit(self, error: Any, dialog: Any, write: Awaitable[Any]) -> Any:
        """Run a dialog's write: on success close it and reload the rows; refusals listed in the dialog."""
        error.clear()
        try:
            result = await write
        except SessionEnded as exc:
            _session_ended(exc)
            return None
        except WriteRefused as exc:
            with error:
                for issue in exc.issues[:20]:
                    ui.label(issue.message).classes("text-negative text-sm")
            return None
        dialog.close()
        self.refresh()
        return result

    @acts
    async def open_create(self) -> None:
        """« Nouvelle ligne »: a form of the columns given at creation; the engine checks and writes it."""
        sheet = self.sheet
        columns = [c for c in sheet.columns if c.creatable and not (c.field == "id" and sheet.key == "id")
                   and (c.edit_roles is None or self.caller.allowed(c.edit_roles))]  # not a job's own column
        values: dict[str, Any] = {}
        with ui.dialog(value=True) as dialog, ui.card().classes("w-[32rem] max-w-full gap-2"):
            ui.label(f"Nouvelle ligne · {sheet.label}").classes("text-lg font-semibold")
            for column in columns:
                self._field(column, values)
            error = ui.column().classes("w-full gap-0")

            async def save() -> None:
                result = await self._submit(error, dialog, create_rows(
                    sheet, [{k: v for k, v in values.items() if v not in (None, "")}], self.caller.using(Source.GRID)))
                if result is not None:
                    ui.notify(f"Ligne {result.created[0][1]} créée.", type="positive")

            with ui.row().classes("w-full justify-end"):
                ui.button("Annuler", on_click=dialog.close).props("flat")
                ui.button("Créer", icon="add", on_click=save).props("color=primary").mark("create")

    @acts
    async def open_action(self, action: RowAction) -> None:
        """A row action on the selected rows (or on the sheet): its form, then the engine runs it."""
        selected = [] if action.rows == "none" else await self.grid.get_selected_rows()
        if action.rows != "none" and not selected:
            ui.notify(f"« {action.label} » : cochez d'abord les lignes concernées.", type="info")
            return
        values: dict[str, Any] = {}
        with ui.dialog(value=True) as dialog, ui.card().classes("w-[32rem] max-w-full gap-2"):
            ui.label(action.label).classes("text-lg font-semibold")
            if action.help:
                ui.label(action.help).classes("text-sm text-grey-8")
            if selected:
                ui.label(f"{fr_number(len(selected))} ligne(s) sélectionnée(s).").classes("text-sm")
            for column in action.form_columns(self.sheet):
                self._field(column, values)
            error = ui.column().classes("w-full gap-0")

            async def run() -> None:
                result = await self._submit(error, dialog, run_action(
                    self.sheet, action.name, [int(r["id"]) for r in selected],
                    {k: v for k, v in values.items() if v not in (None, "")}, self.caller.using(Source.ACTION)))
                if result is not None:
                    ui.notify(result.message or f"« {action.label} » fait.", type="positive")

            with ui.row().classes("w-full justify-end"):
                ui.button("Annuler", on_click=dialog.close).props("flat")
                ui.button(action.label, icon=action.icon, on_click=run).props("color=primary").mark("run-action")

    @acts
    async def delete_selected(self) -> None:
        """Remove the selected rows after a confirmation (audited; refused whole on any reason)."""
        selected = await self.grid.get_selected_rows()
        if not selected:
            ui.notify("Cochez d'abord les lignes à supprimer.", type="info")
            return
        with ui.dialog(value=True) as confirm, ui.card():
            ui.label(f"Supprimer {fr_number(len(selected))} ligne(s) de « {self.sheet.label} » ?").classes(
                "font-semibold")
            with ui.row().classes("w-full justify-end"):
                ui.button("Non", on_click=lambda: confirm.submit(False)).props("flat")
                ui.button("Oui, supprimer", on_click=lambda: confirm.submit(True)).props("color=negative")
        if not await confirm:
            return
        try:
            result = await delete_rows(self.sheet, [int(r["id"]) for r in selected], self.caller.using(Source.GRID))
        except WriteRefused as exc:
            self._show_issues("Suppression refusée : rien n'a été supprimé", exc)
            return
        ui.notify(f"{fr_number(result.changed_rows)} ligne(s) supprimée(s).", type="positive")
        self.refresh()


def _has_user_storage() -> bool:
    try:
        _ = app.storage.user
    except (RuntimeError, AssertionError):
        return False
    return True


async def export_view(grid: SheetGrid) -> None:
    """Export the current view (filters, quick search and sort applied) and hand the file to the browser."""
    import tempfile
    from pathlib import Path

    from sheets.engine.exporter import export_filename, export_sheet

    if grid.sheet.personal_data and not await step_up(grid, "exporter des données personnelles"):
        return
    try:
        state = await grid.grid.run_grid_method("getColumnState", timeout=5)
    except TimeoutError:
        state = []
    sort_model = [{"colId": c["colId"], "sort": c["sort"]} for c in sorted(
        (c for c in state or [] if c.get("sort")), key=lambda c: c.get("sortIndex") or 0)]
    with ui.dialog(value=True).props("persistent") as dialog, ui.card().classes("min-w-96"):
        ui.label(f"Export de « {grid.sheet.label} »").classes("text-lg font-semibold")
        bar = ui.linear_progress(value=0, show_value=False).classes("w-full")
        label = ui.label("Préparation…").classes("text-sm text-grey-8")

    def progress(done: int, total: int) -> None:
        bar.value = done / total if total else 1
        label.text = f"{fr_number(done)} / {fr_number(total)} ligne(s)"

    target = Path(tempfile.mkdtemp(prefix="rentree-export-")) / f"{grid.sheet.name}.xlsx"
    try:
        n = await export_sheet(grid.sheet, target, filter_model=grid.filters, quick=grid.quick, sort_model=sort_model,
                               caller=grid.caller, progress=progress)
    except Exception as exc:  # the export must never leave the dialog hanging
        dialog.close()
        ui.notify(f"Export impossible : {exc}", type="negative")
        return
    dialog.close()
    ui.download(target.read_bytes(), export_filename(grid.sheet))
    target.unlink(missing_ok=True)
    ui.notify(f"{fr_number(n)} ligne(s) exportée(s).", type="positive")


async def import_dialog(grid: SheetGrid) -> None:
    """Upload an .xlsx: dry run with the preview first, then apply on confirmation (shared upload component)."""
    from pages.components.upload import Preview, upload_preview_dialog
    from sheets.engine.importer import ImportReport, import_xlsx

    def preview(report: ImportReport) -> Preview:
        data = report.as_dict()
        changes = [f"ligne {p['line']} · {p['key']} · {p['column']}"
                   + (f" « {p['old'] or '∅'} » → « {p['new'] or '∅'} »" if p["old"] or p["new"] else "")
                   for p in data["preview"][:300]]
        warnings = list(data["warnings"])
        if data["unknown_columns"]:
            warnings.append("Colonnes ignorées : " + ", ".join(data["unknown_columns"]))
        return Preview(summary=data["summary"], fatal=bool(data["fatal"]), applied=bool(data["applied"]),
                       can_apply=bool(data["dry_run"] and not data["fatal"] and (data["new"] or data["changed"])),
                       touched=report.new + report.changed, warnings=warnings,
                       sections=[("Aperçu des changements", changes)],
                       refusals=[f"ligne {i['line']} · {i['column']} : {i['message']}" for i in data["issues"][:300]],
                       report=report.write_report if data["issues"] else None)

    async def analyse(path: Any, whole: bool) -> Preview:
        return preview(await import_xlsx(grid.sheet, path, caller=grid.caller.using(Source.IMPORT), dry_run=True,
                                         all_or_nothing=whole))

    async def apply(path: Any, whole: bool) -> Preview:
        return preview(await import_xlsx(grid.sheet, path, caller=grid.caller.using(Source.IMPORT), dry_run=False,
                                         all_or_nothing=whole))

    async def confirm(touched: int) -> bool:
        return touched <= STEP_UP_ROWS or await step_up(grid, f"importer {fr_number(touched)} lignes")

    upload_preview_dialog(f"Importer un fichier Excel dans « {grid.sheet.label} »",
                          "Les lignes sont rapprochées sur la colonne « " + grid.sheet.key_column.label + " »"
                          + (" ; une ligne absente de la base est créée" if grid.sheet.may_create(grid.caller)
                             else "") + ". Rien n'est écrit avant votre confirmation.",
                          analyse, apply, confirm=confirm, on_applied=grid.refresh)
