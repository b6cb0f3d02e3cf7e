"""NiceGUI pages and components, one module per area; `setup()` registers them all."""

from __future__ import annotations

from settings import Settings


def setup(settings: Settings) -> None:
    """Register every page, the JSON API and the error pages on NiceGUI's app."""
    from nicegui import app

    from pages import api, errors, home, schools, sheet_pages, support  # noqa: F401  (importing registers the pages)
    from pages import fleet as _fleet  # noqa: F401  (issue 6)
    from pages import reminders as _reminders  # noqa: F401  (issue 5)
    from sheets import api as sheets_api

    app.include_router(api.build_router())
    app.include_router(sheets_api.build_router())
    errors.install(app)
