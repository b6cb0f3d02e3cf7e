"""Saved grid views: a user's named choice of columns, order, widths, sort and filters for a sheet."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class SavedView(Model):
    """A named view of a sheet, owned by one user."""

    id = fields.IntField(primary_key=True)
    owner = fields.CharField(max_length=254)
    sheet = fields.CharField(max_length=40)
    name = fields.CharField(max_length=80)
    state = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "saved_view"
        unique_together = (("owner", "sheet", "name"),)


def clean_view_name(raw: object) -> str:
    """A view name, trimmed, 1 to 80 characters, or ValueError in French."""
    name = " ".join(str(raw or "").split())
    if not name:
        raise ValueError("Donnez un nom à la vue.")
    if len(name) > 80:
        raise ValueError("Nom de vue trop long : 80 caractères au plus.")
    return name


async def list_views(owner: str, sheet: str) -> list[SavedView]:
    """The user's views of a sheet, by name."""
    return await SavedView.filter(owner=owner, sheet=sheet).order_by("name")


async def save_view(owner: str, sheet: str, name: str, state: dict[str, Any]) -> SavedView:
    """Create or replace a named view."""
    name = clean_view_name(name)
    view, _ = await SavedView.update_or_create(owner=owner, sheet=sheet, name=name, defaults={"state": state})
    return view


async def delete_view(owner: str, sheet: str, name: str) -> bool:
    """Delete a named view; True when it existed."""
    return bool(await SavedView.filter(owner=owner, sheet=sheet, name=name).delete())
