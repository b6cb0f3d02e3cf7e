"""A page's write through the engine, with the person told what happened: done, refused (why), or session over."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from nicegui import ui

from sheets.engine.caller import SessionEnded
from sheets.engine.writes import WriteRefused


async def attempt(write: Awaitable[Any], refused: str) -> Any | None:
    """Await an engine write; a refusal is shown as « <refused> : <reasons> » and gives None, as an ended session
    (the page then goes to the login page)."""
    try:
        return await write
    except SessionEnded as exc:
        ui.notify(str(exc), type="warning", multi_line=True, timeout=8000)
        ui.navigate.to("/login?fin=1")
    except WriteRefused as exc:
        ui.notify(f"{refused} : {exc}", type="negative", multi_line=True, timeout=8000, close_button="OK")
    return None
