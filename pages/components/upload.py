"""The upload-preview dialog: a file in, what would change shown, nothing written before « Appliquer ».

Used by the engine's Excel import of any sheet and by the schools' student (SIECLE) and teacher (STS) lists.
« Tout ou rien » is on by default, beside « Appliquer »; the result never covers « Fermer ».
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nicegui import ui

from sheets.engine.caller import SessionEnded
from sheets.engine.xlsx_read import MAX_FILE_BYTES

ACCEPT = ".xlsx,.csv"  # what the bounded reader takes (sheets/engine/xlsx_read.py)


@dataclass
class Preview:
    """What an analysed (or applied) file gives: a summary, sections of lines, refusals, what may be applied."""

    summary: str
    can_apply: bool = False  # something to write and nothing blocking
    fatal: bool = False
    applied: bool = False
    touched: int = 0  # rows that would change (a fresh TOTP code is asked above a threshold)
    warnings: list[str] = field(default_factory=list)
    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    report: Callable[[Path], Any] | None = None  # writes a downloadable report of the refusals


Analyse = Callable[[Path, bool], Awaitable[Preview]]  # (file, all or nothing) → preview, nothing written
Apply = Callable[[Path, bool], Awaitable[Preview]]  # (file, all or nothing) → what was written


def upload_preview_dialog(title: str, help_text: str, analyse: Analyse, apply: Apply, *,
                          accept: str = ACCEPT, all_or_nothing: bool | None = True,
                          confirm: Callable[[int], Awaitable[bool]] | None = None,
                          on_applied: Callable[[], Any] | None = None, max_bytes: int = MAX_FILE_BYTES,
                          on_close: Callable[[], Any] | None = None) -> None:
    """Open the dialog. `all_or_nothing=None` hides the option (the file is applied whole or not at all).

    `confirm(touched)` may ask a fresh TOTP code before a large write (False cancels); `on_close()` runs when the
    dialog closes (e.g. to show the page's new state once the result was read). The file (an .xlsx or a .csv, at
    most the reader's MAX_FILE_BYTES) and the refusals' report are written in a worker thread, never on the event
    loop that serves every page.
    """
    folder = Path(tempfile.mkdtemp(prefix="rentree-upload-"))
    state: dict[str, Any] = {"path": None, "preview": None}
    with ui.dialog(value=True) as dialog, ui.card().classes("w-[48rem] max-w-full gap-3"):
        ui.label(title).classes("text-lg font-semibold")
        ui.label(help_text).classes("text-sm text-grey-8")
        ui.upload(label=f"Fichier {' ou '.join(accept.split(','))} ({max_bytes // (1024 * 1024)} Mo au plus)",
                  auto_upload=True, max_file_size=max_bytes,
                  on_upload=lambda e: on_upload(e),
                  on_rejected=lambda: ui.notify(f"Fichier refusé : {max_bytes // (1024 * 1024)} Mo au plus.",
                                                type="negative")).props(
            f'accept="{accept}" flat bordered').classes("w-full").mark("upload")
        result = ui.column().classes("w-full gap-1")
        with ui.row().classes("w-full items-center justify-end gap-2"):
            whole = ui.checkbox("Tout ou rien : aucune ligne écrite si une seule est refusée",
                                value=bool(all_or_nothing)).mark("all-or-nothing")
            whole.set_visibility(all_or_nothing is not None)
            ui.space()
            ui.button("Fermer", on_click=dialog.close).props("flat").mark("close")
            apply_button = ui.button("Appliquer", icon="check").props("color=primary").mark("apply")
            apply_button.set_visibility(False)

    async def show(preview: Preview) -> None:
        state["preview"] = preview
        report_path = folder / "rapport.xlsx"
        if preview.refusals and preview.report is not None:
            await asyncio.to_thread(preview.report, report_path)  # up to every refused row of a large file
        result.clear()
        with result:
            ui.label(preview.summary).classes("font-medium " + ("text-negative" if preview.fatal else
                                                                 "text-positive" if preview.applied else ""))
            for w in preview.warnings[:10]:
                ui.label("⚠ " + w).classes("text-sm text-orange-9")
            for heading, lines in preview.sections:
                if not lines:
                    continue
                ui.label(heading).classes("text-sm font-semibold mt-2")
                with ui.scroll_area().classes("h-40 w-full border rounded"):
                    for line in lines[:300]:
                        ui.label(line).classes("text-xs")
            if preview.refusals:
                ui.label(f"Lignes refusées ({len(preview.refusals)})").classes(
                    "text-sm font-semibold text-negative mt-2")
                with ui.scroll_area().classes("h-40 w-full border rounded"):
                    for line in preview.refusals[:300]:
                        ui.label(line).classes("text-xs")
                if preview.report is not None:
                    ui.button("Télécharger le rapport (.xlsx)", icon="download",
                              on_click=lambda: ui.download(report_path.read_bytes(), "rapport-import.xlsx")).props(
                        "flat dense no-caps")
        apply_button.set_visibility(preview.can_apply and not preview.applied
                                    and not (whole.value and preview.refusals))

    async def on_upload(e: Any) -> None:
        name = Path(e.file.name or "fichier.xlsx").name or "fichier.xlsx"
        suffixes = tuple(accept.split(","))
        if not name.lower().endswith(suffixes):
            ui.notify(f"Fichier refusé : « {name[:60]} » n'est pas un fichier {' ou '.join(suffixes)}.",
                      type="negative")
            return
        if e.file.size() > max_bytes:  # the browser checks it too, but a request can be crafted
            ui.notify(f"Fichier refusé : {max_bytes // (1024 * 1024)} Mo au plus.", type="negative")
            return
        path = folder / name
        data = await e.file.read()
        await asyncio.to_thread(path.write_bytes, data)  # up to 100 MB: never on the event loop
        del data
        state["path"] = path
        try:
            await show(await analyse(path, bool(whole.value)))
        except SessionEnded as exc:
            _ended(exc)

    async def on_apply() -> None:
        preview = state["preview"]
        if state["path"] is None or preview is None:
            return
        if confirm is not None and not await confirm(preview.touched):
            return
        try:
            done = await apply(state["path"], bool(whole.value))
        except SessionEnded as exc:
            _ended(exc)
            return
        await show(done)
        apply_button.set_visibility(False)
        if done.applied and on_applied is not None:
            on_applied()

    async def on_whole() -> None:
        if state["preview"] is not None:
            await show(state["preview"])

    whole.on_value_change(on_whole)
    if on_close is not None:
        dialog.on_value_change(lambda e: None if e.value else on_close())
    apply_button.on_click(on_apply)


def _ended(exc: SessionEnded) -> None:
    from pages.auth import leave_ended_session  # a school's person goes back to /acces, the staff to /login

    leave_ended_session(exc)
