"""NiceGUI pages and components, one module per area; `setup()` registers them all."""

from __future__ import annotations

from settings import Settings


def setup(settings: Settings) -> None:
    """Register every page, the JSON API and the error pages on NiceGUI's app."""
    from nicegui import app

    # Importing registers the pages.
    from pages import api, auth, errors, home, schools, sheet_pages, support, users  # noqa: F401
    from pages import fleet as _fleet  # noqa: F401
    from pages import reminders as _reminders  # noqa: F401
    from sheets import api as sheets_api

    app.include_router(api.build_router())
    app.include_router(auth.build_router())
    from pages.grid import api_caller

    app.include_router(sheets_api.build_router(api_caller))
    errors.install(app)
    auth.install(app)  # login guard on every page and /api/ route, added after the others
