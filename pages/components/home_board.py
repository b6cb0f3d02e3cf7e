"""What the home page shows of each area: alerts (a count, a level, a link to the filtered grid), registered by
the area's page module, shown to the roles that may open the link.

    @home_alert("fleet.to_collect", roles=DEVICES.read_roles, order=20)
    async def to_collect() -> list[Alert]:
        return [Alert("Appareils à collecter (Unowhy)", n, "/parc/appareils?statut=livre", "warning")]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sheets.engine.caller import Caller


@dataclass(frozen=True)
class Alert:
    """One figure that needs attention: what, how many, where to act, how urgent (info, warning, danger)."""

    label: str
    count: int
    url: str
    level: str = "warning"


Compute = Callable[[], Awaitable[list[Alert]]]


@dataclass(frozen=True)
class HomeAlert:
    """A registered source of alerts."""

    key: str
    roles: frozenset[str]
    order: int
    compute: Compute


_ALERTS: dict[str, HomeAlert] = {}


def home_alert(key: str, *, roles: Iterable[str], order: int = 100) -> Callable[[Compute], Compute]:
    """Register a source of alerts for the home page (same key again replaces it)."""

    def decorate(compute: Compute) -> Compute:
        _ALERTS[key] = HomeAlert(key, frozenset(roles), order, compute)
        return compute

    return decorate


async def alerts_for(caller: Caller) -> list[Alert]:
    """Every alert this caller may see with something to count, by source order (zeros left out)."""
    found: list[Alert] = []
    for source in sorted(_ALERTS.values(), key=lambda a: (a.order, a.key)):
        if caller.allowed(source.roles):
            found.extend(a for a in await source.compute() if a.count)
    return found
