"""Life cycles as data: states, moves with their roles, what they need, what they set and what they trigger.

A sheet names one column as its life cycle's field. The engine then refuses any change of that column that is
not a declared move, or that the caller may not make, and offers each caller only the moves it may make (the
grid's editor, the bulk dialog, the row actions, the API). Devices, restocks, equipment, slots, baskets and
tickets all use this machinery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sheets.engine.caller import Caller
    from sheets.engine.writes import WriteContext

# A pure function of the row as it will be after the move (field → value) and today: extra values the move sets
# (a date, a flag, a deadline). Pure, so that a move of 10,000 rows is computed without a query per row.
Derive = Callable[[dict[str, Any], dt.date], dict[str, Any]]
# An async check or effect given the write context (the row, the new values, the caller, the batch): a check runs
# before the write and refuses with ValueError (French); an effect runs after it, in the same transaction.
Hook = Callable[["WriteContext"], Awaitable[None]]


@dataclass(frozen=True)
class Need:
    """A field that must be set once the move is made, and the French reason when it is not."""

    field: str
    message: str


@dataclass(frozen=True)
class Transition:
    """One allowed move: from which states, to which, who may make it, what it needs, sets and triggers."""

    name: str  # its name as a row action of the API (`submit`, `validate`, `assign`…)
    label: str
    sources: tuple[str, ...]
    target: str
    roles: frozenset[str]
    needs: tuple[Need, ...] = ()
    clears: tuple[str, ...] = ()  # fields emptied by the move
    form: tuple[str, ...] = ()  # columns asked when the move is made as an action (default: the needs)
    derive: Derive | None = None
    check: Hook | None = None
    effect: Hook | None = None
    rule: str = ""
    help: str = ""
    refusal: str = ""  # why a role may not make it (French); default: the roles that may

    @property
    def form_fields(self) -> tuple[str, ...]:
        """The columns of the action's form."""
        return self.form or tuple(n.field for n in self.needs)


@dataclass(frozen=True)
class LifeCycle:
    """The states of one column and the moves between them."""

    field: str
    states: tuple[tuple[str, str], ...]
    transitions: tuple[Transition, ...]
    initial: str = ""
    creatable: tuple[str, ...] = ()  # states a new row may start in (default: the initial one)
    role_labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        codes = {c for c, _ in self.states}
        moves: set[tuple[str, str]] = set()
        for t in self.transitions:
            unknown = ({*t.sources, t.target} - codes)
            if unknown:
                raise ValueError(f"life cycle of {self.field}: move {t.name} names unknown states {unknown}")
            for s in t.sources:
                if (s, t.target) in moves:
                    raise ValueError(f"life cycle of {self.field}: two moves from {s} to {t.target}")
                moves.add((s, t.target))
        if len({t.name for t in self.transitions}) != len(self.transitions):
            raise ValueError(f"life cycle of {self.field}: two moves share a name")

    def label(self, state: Any) -> str:
        """The French label of a state."""
        code = getattr(state, "value", state)
        return next((label for c, label in self.states if c == code), "" if code is None else str(code))

    def move(self, source: Any, target: Any) -> Transition | None:
        """The move from a state to another, if declared."""
        source, target = getattr(source, "value", source), getattr(target, "value", target)
        return next((t for t in self.transitions if source in t.sources and t.target == target), None)

    def by_name(self, name: str) -> Transition | None:
        """A move by its action name."""
        return next((t for t in self.transitions if t.name == name), None)

    def moves_from(self, state: Any, caller: Caller | None = None, uai: str | None = None) -> list[Transition]:
        """The moves from a state (those the caller may make, when a caller is given)."""
        code = getattr(state, "value", state)
        return [t for t in self.transitions if code in t.sources and (caller is None or caller.allowed(t.roles, uai))]

    def allowed_map(self, caller: Caller) -> dict[str, list[str]]:
        """For each state, the targets the caller may choose (the grid's editor offers only these)."""
        return {code: [t.target for t in self.moves_from(code, caller)] for code, _ in self.states}

    def common_targets(self, states: Iterable[Any], caller: Caller) -> list[str]:
        """The targets allowed from every one of `states` (a bulk change offers only these)."""
        sets = [{t.target for t in self.moves_from(s, caller)} for s in states]
        common = set.intersection(*sets) if sets else set()
        return [c for c, _ in self.states if c in common]

    def impossible(self, source: Any, target: Any) -> str:
        """The French refusal of an undeclared move, with the possible ones."""
        possible = ", ".join(f"« {self.label(t.target)} »" for t in self.moves_from(source)) or "aucun changement"
        return (f"Passage de « {self.label(source)} » à « {self.label(target)} » impossible. "
                f"Depuis « {self.label(source)} », possible : {possible}.")

    def forbidden(self, move: Transition, role: str | None) -> str:
        """The French refusal of a move the caller may not make."""
        if move.refusal:
            return move.refusal
        who = ", ".join(sorted(self.role_labels.get(r, r) for r in move.roles if r != "*")) or "personne"
        rule = f" ({move.rule})" if move.rule else ""
        return f"« {move.label} » refusé pour le rôle « {role or 'aucun'} » : réservé à {who}{rule}."
