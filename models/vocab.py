"""One vocabulary: an enumeration carries its codes and their French labels, nothing else restates them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Labeled(StrEnum):
    """A string enumeration whose members carry a French label: `STOCK = "stock", "Stock régional"`."""

    label: str

    def __new__(cls, value: str, label: str = "") -> Labeled:
        """A member from its code and its label (the code when no label is given)."""
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label or value
        return member

    @classmethod
    def choices(cls) -> tuple[tuple[str, str], ...]:
        """(code, label) pairs in declaration order, for columns, selects and drop-downs."""
        return tuple((m.value, m.label) for m in cls)

    @classmethod
    def labels(cls) -> dict[str, str]:
        """{code: label}."""
        return {m.value: m.label for m in cls}

    @classmethod
    def label_of(cls, code: Any, default: str | None = None) -> str:
        """The label of a code (a member or its value); `default` (else the code itself) when unknown."""
        if code is None:
            return "" if default is None else default
        value = code.value if isinstance(code, StrEnum) else str(code)
        member = cls._value2member_map_.get(value)
        if member is None:
            return value if default is None else default
        return member.label  # type: ignore[attr-defined]
