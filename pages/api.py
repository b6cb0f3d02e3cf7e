"""JSON API under /api/ (OpenAPI at /docs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel

from models.accounts import STAFF_ROLES, User, contacts_visible_to
from models.schools import (
    InvalidUAI,
    School,
    get_school,
    normalize_uai,
    school_contacts,
    search_schools,
    support_desks,
)
from pages.auth import api_caller, api_user, require_roles
from sheets.engine.api import MAX_ID
from sheets.engine.caller import Caller
from sheets.search import MAX_HITS, search


class SchoolOut(BaseModel):
    """A school as the API returns it."""

    uai: str
    name: str
    type: str
    departement: str
    academie: str
    commune: str
    postal_code: str
    generic_email: str
    mode: str
    tracks: list[str]
    csn_deployed: bool
    wifi_mdm_configured: bool
    wifi_ssid: str
    wifi_needs_attention: bool


class ContactOut(BaseModel):
    """A contact of a school with its role codes."""

    full_name: str
    email: str
    roles: list[str]


class SchoolDetailOut(SchoolOut):
    """A school with its contacts."""

    contacts: list[ContactOut]


class SchoolPage(BaseModel):
    """One page of schools and the total count."""

    total: int
    rows: list[SchoolOut]


class SupportDeskOut(BaseModel):
    """A support desk of the directory."""

    name: str
    topic: str
    audience: str
    hours: str
    phone: str
    email: str
    address: str
    do_not_share: bool


def school_out(s: School) -> dict[str, object]:
    """Serialise a school."""
    return {
        "uai": s.uai, "name": s.name, "type": s.type.value, "departement": s.departement,
        "academie": s.academie.value, "commune": s.commune, "postal_code": s.postal_code,
        "generic_email": s.generic_email, "mode": s.mode.value, "tracks": [t.value for t in s.tracks],
        "csn_deployed": s.csn_deployed, "wifi_mdm_configured": s.wifi_mdm_configured,
        "wifi_ssid": s.wifi_ssid, "wifi_needs_attention": s.wifi_needs_attention,
    }


class SearchHitOut(BaseModel):
    """One result of the search: its kind, how it reads, the page that opens it."""

    kind: str
    label: str
    url: str


def build_router() -> APIRouter:
    """The /api/ routes (a new router each time the app is wired)."""
    router = APIRouter(prefix="/api", tags=["Rentrée"])
    staff = [Depends(require_roles(*STAFF_ROLES))]

    @router.get("/schools", response_model=SchoolPage, summary="Liste des établissements", dependencies=staff)
    async def list_schools(q: Annotated[str, Query(max_length=200)] = "",
                           sort: Annotated[str, Query(max_length=40, pattern="^[a-z_]+$")] = "uai",
                           descending: bool = False, offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                           limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict:
        rows, total = await search_schools(q, sort=sort, descending=descending, offset=offset, limit=limit)
        return {"total": total, "rows": [school_out(s) for s in rows]}

    @router.get("/schools/{uai}", response_model=SchoolDetailOut, summary="Fiche d'un établissement",
                dependencies=staff)
    async def school_detail(uai: Annotated[str, Path(max_length=40)], user: User = Depends(api_user)) -> dict:
        try:
            code = normalize_uai(uai)
        except InvalidUAI as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        school = await get_school(code)
        if school is None:
            raise HTTPException(status_code=404, detail=f"Aucun établissement n'a l'UAI {code}.")
        contacts = [{"full_name": c.full_name, "email": c.email, "roles": roles}
                    for c, roles in contacts_visible_to(user.role, await school_contacts(school))]  # R-SEC-4
        return {**school_out(school), "contacts": contacts}

    @router.get("/support-desks", response_model=list[SupportDeskOut], summary="Annuaire des supports",
                dependencies=staff)
    async def list_support_desks() -> list[dict]:
        return [{"name": d.name, "topic": d.topic, "audience": d.audience, "hours": d.hours, "phone": d.phone,
                 "email": d.email, "address": d.address, "do_not_share": d.do_not_share}
                for d in await support_desks()]

    @router.get("/search", response_model=list[SearchHitOut], summary="Recherche (UAI, nom, n° de série, porteur, "
                "ticket)", dependencies=staff)
    async def search_everything(q: Annotated[str, Query(max_length=200)] = "",
                                limit: Annotated[int, Query(ge=1, le=MAX_HITS)] = MAX_HITS,
                                caller: Caller = Depends(api_caller)) -> list[dict]:
        """Best first; only what the caller's role may read, within its scope (at least 2 characters)."""
        return [hit.out() for hit in await search(q, caller, limit)]

    return router
