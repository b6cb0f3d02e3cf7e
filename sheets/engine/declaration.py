"""Sheet declarations: one per business table, from which the grid, endpoint, Excel and audit follow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tortoise.models import Model

from models.vocab import Labeled

KINDS = ("text", "integer", "decimal", "euro", "date", "datetime", "boolean", "choice", "reference")

# A column validator gets the parsed value and returns it (possibly normalised) or raises ValueError
# with a French message. A row validator gets the row's values after a change (dict field → value)
# and raises ValueError (French) when the combination is refused.
ColumnValidator = Callable[[Any], Any]
RowValidator = Callable[[dict[str, Any]], None]
# A hook that may refuse (ValueError in French) or complete a change against the database (e.g. a
# state machine): gets (sheet, instance, {field: new value}, actor, role) and returns the final
# {field: value} to write (it may add fields, e.g. a date set by a transition).
ChangeHook = Callable[["Sheet", Model, dict[str, Any], str, "str | None"], Awaitable[dict[str, Any]]]
# An optional fast path for a bulk edit of one column on a sheet with a change hook (e.g. a state change of
# 10,000 rows): gets (sheet, row ids, field, parsed value, actor, role, source) and returns a WriteResult, or
# None to let the generic per-row path run. It must apply the same rules as the change hook.
BulkHook = Callable[["Sheet", list[int], str, Any, str, "str | None", Any], Awaitable[Any]]


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

    def __post_init__(self) -> None:
        if isinstance(self.choices, type):  # an enumeration of models.vocab: its codes and French labels
            object.__setattr__(self, "choices", self.choices.choices())
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r} for {self.field}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"choice column {self.field} needs choices")
        if self.kind == "reference" and not self.reference:
            raise ValueError(f"reference column {self.field} needs reference=(sheet, key)")

    @property
    def db_field(self) -> str:
        """The ORM path used to filter and sort (a reference goes through its key: school__uai)."""
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
class Sheet:
    """A business table as a spreadsheet: model, columns, key, default sort and rights."""

    name: str
    label: str
    model: type[Model]
    columns: tuple[Column, ...]
    key: str
    default_sort: tuple[str, ...] = ()
    read_roles: frozenset[str] = frozenset({"admin"})  # role names of models.accounts.Role
    edit_roles: frozenset[str] = frozenset({"admin"})
    row_validator: RowValidator | None = None
    change_hook: ChangeHook | None = None
    bulk_hook: BulkHook | None = None
    can_create: bool = False
    versioned: bool = True
    personal_data: bool = False  # exports of personal data ask a fresh TOTP code (R-SEC-4)
    description: str = ""
    page_path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

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

    def may_read(self, role: str | None) -> bool:
        """Whether a role may read the sheet."""
        return "*" in self.read_roles or (role is not None and role in self.read_roles)

    def may_edit(self, role: str | None) -> bool:
        """Whether a role may edit the sheet."""
        return "*" in self.edit_roles or (role is not None and role in self.edit_roles)


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
