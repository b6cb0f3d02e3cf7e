"""Sheet declarations: one per business table, from which the grid, endpoint, Excel and audit follow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tortoise.models import Model

from models.vocab import Labeled
from sheets.engine.lifecycle import LifeCycle

if TYPE_CHECKING:
    from sheets.engine.actions import RowAction
    from sheets.engine.caller import Caller
    from sheets.engine.writes import WriteContext

KINDS = ("text", "integer", "decimal", "euro", "date", "datetime", "boolean", "choice", "reference")

# A column validator gets the parsed value and returns it (possibly normalised) or raises ValueError
# with a French message. A row validator gets the row's values after a change (dict field → value)
# and raises ValueError (French) when the combination is refused.
ColumnValidator = Callable[[Any], Any]
RowValidator = Callable[[dict[str, Any]], None]
# What a read-only column shows for its stored value, given the whole row by field (e.g. the audit trail shows a
# column's French label for its field name, and « Oui » for `true`): grid and export alike.
Display = Callable[[Any, dict[str, Any]], Any]
# A hook that may refuse (ValueError in French) or complete a change against the database, given the write
# context (sheet, row, caller, the values about to be written, which it may complete: ctx.values).
ChangeHook = Callable[["WriteContext"], Awaitable[None]]
# A hook run on a row about to be created (ctx.values holds every given value; it may refuse or complete).
CreateHook = Callable[["WriteContext"], Awaitable[None]]
# A check before rows are removed (their ids and the caller): ValueError (French) refuses the removal.
DeleteHook = Callable[[list[int], "Caller"], Awaitable[None]]


@dataclass(frozen=True)
class Column:
    """One column of a sheet: model field, French label, type, editability, choices, validator."""

    field: str
    label: str
    kind: str = "text"
    editable: bool = False
    required: bool = False
    choices: tuple[tuple[str, str], ...] | type[Labeled] = ()  # a Labeled enum, or (code, label) pairs
    validator: ColumnValidator | None = None
    width: int | None = None
    reference: tuple[str, str] | None = None  # (sheet name, key field of that sheet), for kind 'reference'
    aliases: tuple[str, ...] = ()
    searchable: bool | None = None  # quick search; default: text, choice and reference columns
    help: str = ""
    link: str = ""  # a page of the row, e.g. "/ecoles/{value}": the grid shows the value as a link
    on_create: bool = False  # not editable later, but given when a row is created (a key, a département)
    edit_roles: frozenset[str] | None = None  # narrower than the sheet's edit roles (None: the sheet's)
    path: str = ""  # a read-only value through a relation (e.g. "contact__school__uai")
    max_length: int | None = None  # a text's limit (default: the model field's own)
    plain: bool | None = None  # an integer shown without thousands separators (default: ids and years)
    display: Display | None = None  # what a person reads for the stored value, given the row (grid and export)
    read_roles: frozenset[str] | None = None  # narrower than the sheet's read roles (personal data, R-SEC-4)
    nullable: bool = True  # whether the row may hold no value (default: the model field's own `null`)
    bounds: tuple[Any, Any] | None = None  # a number's range (default: what the model field's database type holds)
    colors: tuple[tuple[str, str], ...] = ()  # (value code, CSS colour): the grid paints those cells (SLA states)

    def __post_init__(self) -> None:
        if self.plain is None:
            object.__setattr__(self, "plain", self.kind == "integer" and (self.field == "id" or "year" in self.field))
        if isinstance(self.choices, type):  # an enumeration of models.vocab: its codes and French labels
            object.__setattr__(self, "choices", self.choices.choices())
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r} for {self.field}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"choice column {self.field} needs choices")
        if self.kind == "reference" and not self.reference:
            raise ValueError(f"reference column {self.field} needs reference=(sheet, key)")
        if (self.path or self.display) and (self.editable or self.on_create):
            raise ValueError(f"column {self.field} is shown, not written (path or display)")

    @property
    def creatable(self) -> bool:
        """Whether a value of this column may be given when a row is created."""
        return (self.editable or self.on_create) and not self.path

    @property
    def db_field(self) -> str:
        """The ORM path used to filter and sort (a reference goes through its key: school__uai)."""
        if self.path:
            return self.path
        if self.kind == "reference" and self.reference:
            return f"{self.field}__{self.reference[1]}"
        return self.field

    @property
    def is_searchable(self) -> bool:
        """Whether the quick-search box looks into this column."""
        if self.searchable is not None:
            return self.searchable
        return self.kind in ("text", "choice", "reference")

    def choice_label(self, code: Any) -> str:
        """The French label of a choice code."""
        for c, label in self.choices:
            if c == code:
                return label
        return "" if code is None else str(code)


@dataclass(frozen=True)
class Nav:
    """Where a sheet (or a custom page) appears in the navigation."""

    section: str
    icon: str = "table_view"
    order: int = 100
    label: str = ""  # default: the sheet's label
    demo_only: bool = False


@dataclass(frozen=True)
class Sheet:
    """A business table as a spreadsheet: model, columns, key, default sort and rights."""

    name: str
    label: str
    model: type[Model]
    columns: tuple[Column, ...]
    key: str
    default_sort: tuple[str, ...] = ()
    read_roles: frozenset[str] = frozenset({"admin"})  # role names of models.accounts.Role, `ecole:<role>`
    edit_roles: frozenset[str] = frozenset({"admin"})
    create_roles: frozenset[str] = frozenset()  # who may add rows (grid « Nouvelle ligne », import, API)
    delete_roles: frozenset[str] = frozenset()  # who may remove rows
    school_path: str | None = None  # ORM path from a row to its school's UAI ("school__uai"); None: regional
    lifecycle: LifeCycle | None = None
    actions: tuple[RowAction, ...] = ()
    row_validator: RowValidator | None = None
    change_hook: ChangeHook | None = None
    after_change: ChangeHook | None = None  # an effect once a row is written (same transaction)
    hook_fields: frozenset[str] | None = None  # the fields whose change calls the hooks (None: any field)
    create_hook: CreateHook | None = None
    after_create: ChangeHook | None = None  # an effect once a new row is saved (ctx.instance set, same transaction)
    # Fields whose change alone runs neither the change hook nor after_change (marks a job computes, such as an
    # SLA state): a bulk change of only these takes the fast path of a few UPDATEs.
    quiet_fields: frozenset[str] = frozenset()
    delete_hook: DeleteHook | None = None
    versioned: bool = True
    personal_data: bool = False  # exports of personal data ask a fresh TOTP code (R-SEC-4)
    text_index: bool = False  # quick search through the database's text index (sheets/engine/textindex.py)
    description: str = ""
    page_path: str = ""
    nav: Nav | None = None  # an entry of the navigation (roles: the read roles)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import dataclasses

        fields_map = self.model._meta.fields_map
        columns = []
        for c in self.columns:  # a column takes its limits from the model, so a bad value is refused in French
            model_field = None if c.path else fields_map.get(c.field)
            limit = getattr(model_field, "max_length", None)
            if c.kind == "text" and c.max_length is None and isinstance(limit, int):
                c = dataclasses.replace(c, max_length=limit)
            if model_field is not None and c.kind != "text" and not model_field.null and c.nullable:
                c = dataclasses.replace(c, nullable=False)
            if model_field is not None and c.bounds is None and c.kind in ("integer", "decimal", "euro"):
                c = dataclasses.replace(c, bounds=number_bounds(model_field))
            columns.append(c)
        object.__setattr__(self, "columns", tuple(columns))
        if self.lifecycle is not None and not self.has_column(self.lifecycle.field):
            raise ValueError(f"sheet {self.name}: life cycle on an undeclared column {self.lifecycle.field}")
        if self.lifecycle is not None and self.lifecycle.field in self.quiet_fields:
            raise ValueError(f"sheet {self.name}: the life cycle's column cannot be quiet")
        names = [a.name for a in self.actions] + ([t.name for t in self.lifecycle.transitions]
                                                  if self.lifecycle else [])
        if len(set(names)) != len(names):
            raise ValueError(f"sheet {self.name}: two actions share a name")

    def column(self, name: str) -> Column:
        """The column of a field name; KeyError in French for an unknown one."""
        for c in self.columns:
            if c.field == name:
                return c
        raise KeyError(f"Colonne inconnue « {name} » dans la feuille {self.label}.")

    def has_column(self, name: str) -> bool:
        """True when the sheet declares that field."""
        return any(c.field == name for c in self.columns)

    @property
    def key_column(self) -> Column:
        """The column of the matching key (imports, history, audit)."""
        return self.column(self.key)

    @property
    def can_create(self) -> bool:
        """Whether the sheet accepts new rows at all."""
        return bool(self.create_roles)

    def may_read(self, caller: Caller) -> bool:
        """Whether a caller may read the sheet."""
        return caller.allowed(self.read_roles)

    def may_edit(self, caller: Caller, uai: str | None = None) -> bool:
        """Whether a caller may edit the sheet (the rows of the school `uai` when given)."""
        return caller.allowed(self.edit_roles, uai) or self.may_move(caller, uai)

    def may_move(self, caller: Caller, uai: str | None = None) -> bool:
        """Whether a caller may make at least one move of the sheet's life cycle."""
        return self.lifecycle is not None and any(caller.allowed(t.roles, uai) for t in self.lifecycle.transitions)

    def may_read_column(self, caller: Caller, column: Column, uai: str | None = None) -> bool:
        """Whether a caller may see a column (R-SEC-4: a holder's identifier is not for every reader of devices)."""
        return column.read_roles is None or caller.allowed(column.read_roles, uai)

    def seen_by(self, caller: Caller) -> Sheet:
        """The sheet as this caller reads it: without the columns it may not see (rows, filters, sort, quick search,
        export, declaration). Writes keep the whole sheet and refuse a hidden column."""
        hidden = [c for c in self.columns if not self.may_read_column(caller, c)]
        if not hidden:
            return self
        import dataclasses

        return dataclasses.replace(self, columns=tuple(c for c in self.columns if c not in hidden))

    def may_edit_column(self, caller: Caller, column: Column, uai: str | None = None) -> bool:
        """Whether a caller may change a column (its life cycle's column: through an allowed move)."""
        if not self.may_read_column(caller, column, uai):
            return False
        if self.lifecycle is not None and column.field == self.lifecycle.field:
            return self.may_move(caller, uai)
        if not column.editable or not caller.allowed(self.edit_roles, uai):
            return False
        return column.edit_roles is None or caller.allowed(column.edit_roles, uai)

    def may_create(self, caller: Caller, uai: str | None = None) -> bool:
        """Whether a caller may add rows."""
        return bool(self.create_roles) and caller.allowed(self.create_roles, uai)

    def may_delete(self, caller: Caller, uai: str | None = None) -> bool:
        """Whether a caller may remove rows."""
        return bool(self.delete_roles) and caller.allowed(self.delete_roles, uai)

    def action(self, name: str) -> RowAction | None:
        """A declared row action (life-cycle moves included) by name."""
        from sheets.engine.actions import move_action

        for a in self.actions:
            if a.name == name:
                return a
        if self.lifecycle is not None:
            move = self.lifecycle.by_name(name)
            if move is not None:
                return move_action(self, move)
        return None

    def all_actions(self) -> list[RowAction]:
        """The sheet's row actions: its life cycle's moves, then its own."""
        from sheets.engine.actions import move_action

        moves = [move_action(self, t) for t in self.lifecycle.transitions] if self.lifecycle else []
        return [*moves, *self.actions]

    @property
    def path(self) -> str:
        """The page of the sheet's grid."""
        return self.page_path or f"/feuilles/{self.name}"


def model_field(model: type[Model], path: str) -> Any:
    """The Tortoise field at the end of an ORM path (`school__uai`, `contact__school__uai`), or None."""
    parts = path.split("__")
    found: Any = None
    for i, part in enumerate(parts):
        found = model._meta.fields_map.get(part)
        if found is None:
            return None
        if i < len(parts) - 1:
            model = getattr(found, "related_model", None)
            if model is None:
                return None
    return found


def number_bounds(model_field: Any) -> tuple[Any, Any] | None:
    """The range a numeric model field's database type holds (an INTEGER column: ±2^31), or None."""
    from decimal import Decimal

    constraints = getattr(model_field, "constraints", None) or {}
    if "ge" in constraints and "le" in constraints:
        return constraints["ge"], constraints["le"]
    digits, places = getattr(model_field, "max_digits", None), getattr(model_field, "decimal_places", None)
    if isinstance(digits, int) and isinstance(places, int):
        high = Decimal(10) ** (digits - places) - Decimal(1).scaleb(-places)
        return -high, high
    return None


_REGISTRY: dict[str, Sheet] = {}


def register(sheet: Sheet) -> Sheet:
    """Add a sheet to the registry (same name again replaces it)."""
    _REGISTRY[sheet.name] = sheet
    return sheet


def get_sheet(name: str) -> Sheet:
    """The sheet of a name; KeyError with a French message when unknown."""
    load_all()
    if name not in _REGISTRY:
        raise KeyError(f"Feuille inconnue « {name} ». Feuilles : {', '.join(sorted(_REGISTRY))}.")
    return _REGISTRY[name]


def all_sheets() -> list[Sheet]:
    """Every declared sheet."""
    load_all()
    return list(_REGISTRY.values())


_LOADED = False


def load_all() -> None:
    """Import every module of `sheets/` (one per business area): declarations are found, not listed."""
    global _LOADED
    if _LOADED:
        return
    import importlib
    import pkgutil

    import sheets

    for info in sorted(pkgutil.iter_modules(sheets.__path__), key=lambda i: i.name):
        if not info.ispkg and not info.name.startswith("_"):
            importlib.import_module(f"sheets.{info.name}")
    _LOADED = True
