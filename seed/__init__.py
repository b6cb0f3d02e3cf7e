"""Demo data and the campaign calendar of a year.

Each business area seeds its own demo data in `seed/<area>.py` with `async def seed_area(progress) -> dict[str,
int]` (idempotent: it creates only what is missing) and an `ORDER` (schools 10, fleet 20, then slots, baskets,
tickets…). `seed_everything()` finds and runs them in that order: no central list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

Progress = Callable[[str], Any]


async def seed_everything(progress: Progress | None = None, **options: Any) -> dict[str, int]:
    """Run every area's `seed_area(progress, **options it accepts)` in ORDER; the counts of what each created."""
    import inspect

    import seed

    modules = []
    for info in pkgutil.iter_modules(seed.__path__):
        if info.ispkg or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"seed.{info.name}")
        if hasattr(module, "seed_area"):
            modules.append(module)
    created: dict[str, int] = {}
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        accepted = inspect.signature(module.seed_area).parameters
        created.update(await module.seed_area(progress, **{k: v for k, v in options.items() if k in accepted}))
    from sheets.engine.dataversion import bump_all

    await bump_all()  # the seed wrote around the engine: every cache starts again
    return created
