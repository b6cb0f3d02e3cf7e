"""The sections of a school's own page (« Mon établissement », `/etablissement/<UAI>`), registered by each area.

An area (fleet, slots, baskets, tickets…) declares what a school's people see of it and the actions in place:

    @school_section("slots", "Livraison et distribution", order=20,
                    roles={"ecole:groupe_la_poste", "ecole:chef_etablissement", "admin", "agent"},
                    rules=("R-SLOT-1",))
    async def slots_section(school: School, caller: Caller) -> None:
        ...  # NiceGUI elements; writes only through the engine with `caller`

The page (pages/school.py) shows, in order, the sections whose roles the caller holds for that school, each in a
card titled with its title and anchored `#section-<key>`; a section that fails shows a French notice, not the
page's failure. `roles`: `ecole` (any contact of the school), `ecole:<contact role>`, or staff roles (the Région's
team opens the same page for any school). `rules`: the livret rules whose pending items (reminder rules of
models/) are acted on in this section: the « À faire » list links each item to the first such section. The caller
is the page's: a school's person is `Caller(role="ecole", scope={its UAIs}, grants={(UAI, contact role)},
source=Source.SCHOOL)`, whose every write goes through the engine (scope applied). No central list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sheets.engine.caller import Caller

Render = Callable[[Any, Caller], Awaitable[None]]


@dataclass(frozen=True)
class SchoolSection:
    """One section of a school's page: its title, place, who sees it, and how it renders."""

    key: str
    title: str
    order: int
    roles: frozenset[str]
    render: Render
    rules: tuple[str, ...] = ()

    def visible_to(self, caller: Caller, uai: str) -> bool:
        """Whether the caller sees this section for that school."""
        return caller.in_scope(uai) and caller.allowed(self.roles, uai)


_SECTIONS: dict[str, SchoolSection] = {}


def school_section(key: str, title: str, *, order: int = 100, roles: Iterable[str],
                   rules: Iterable[str] = ()) -> Callable[[Render], Render]:
    """Register a section of the school page (same key again replaces it)."""

    def decorate(render: Render) -> Render:
        _SECTIONS[key] = SchoolSection(key, title, order, frozenset(roles), render, tuple(rules))
        return render

    return decorate


def sections_for(caller: Caller, uai: str) -> list[SchoolSection]:
    """The sections this caller sees for a school, in order."""
    return sorted((s for s in _SECTIONS.values() if s.visible_to(caller, uai)), key=lambda s: (s.order, s.key))


def section_for_rule(sections: list[SchoolSection], rule_id: str) -> SchoolSection | None:
    """The first of these sections where a rule's pending item is acted on."""
    return next((s for s in sections if rule_id in s.rules), None)
