"""Tortoise models of Rentrée and the domain rules that need no UI, one module per business area.

Model modules are discovered, not listed: every module of this package that defines a Tortoise model is
one (`model_modules()`); a new business area adds its module here and nothing else.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache

_NOT_MODELS = frozenset({"db"})  # wiring, not a business area


@cache
def model_modules() -> tuple[str, ...]:
    """The modules of this package that define at least one Tortoise model (imported to look)."""
    from tortoise.models import Model

    found: list[str] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.ispkg or info.name.startswith("_") or info.name in _NOT_MODELS:
            continue
        name = f"{__name__}.{info.name}"
        module = importlib.import_module(name)
        if any(inspect.isclass(v) and issubclass(v, Model) and v is not Model and v.__module__ == name
               and not v._meta.abstract for v in vars(module).values()):
            found.append(name)
    return tuple(found)


def import_all() -> None:
    """Import every module of the package, models or not (their import-time registrations run: reminder rules)."""
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


# Pitfall (Tortoise 1.1 on SQLite): a model's docstring becomes the table comment in the DDL, and a
# semicolon in it splits the migration's CREATE TABLE statement. Keep model docstrings free of ';'.
