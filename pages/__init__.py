"""NiceGUI pages and components, one module per area; `setup()` registers them all."""

from __future__ import annotations

import importlib
import pkgutil

from settings import Settings


def setup(settings: Settings) -> None:
    """Register every page, the JSON API and the error pages on NiceGUI's app."""
    from nicegui import app

    import pages
    from pages import access, api, auth, errors, security
    from sheets.engine import api as sheets_api

    # Importing a module registers its pages: every module of `pages/` is one area, found, not listed.
    for info in sorted(pkgutil.iter_modules(pages.__path__), key=lambda i: i.name):
        if not info.ispkg and not info.name.startswith("_"):
            importlib.import_module(f"pages.{info.name}")

    app.include_router(api.build_router())
    app.include_router(access.build_router())  # school access: POST /acces, GET /acces/<token> (open without login)
    app.include_router(auth.build_router())
    from fastapi import Depends

    from models.accounts import STAFF_ROLES, Role

    # The engine's routes: the staff, and the schools' own people (role `ecole`, scoped to their schools: each sheet
    # then decides what they read and write through its `ecole:<contact role>` grants).
    app.include_router(sheets_api.build_router(auth.api_caller,
                                               [Depends(auth.require_roles(*STAFF_ROLES, Role.ECOLE))]))
    errors.install(app)
    auth.install(app)  # login guard on every page and /api/ route, added after the others
    security.install(app, settings)  # headers on every response, trusted proxies, /docs from local files
