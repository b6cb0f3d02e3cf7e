"""Issue 15, « Finding things »: the header's search and `GET /api/search?q=…` find a UAI, a school name, a serial,
a holder (for the roles that may read holders, R-SEC-4) and a ticket number, best first, within the caller's scope."""

from __future__ import annotations

import asyncio

import httpx
from nicegui.testing import User

from models.fleet import Device, Holder, Status
from models.tickets import Ticket
from seed.tickets import seed_reference, seed_tickets
from tests.factories import bearer, login, make_school, see


async def fleet_and_tickets() -> tuple[object, object]:
    alpha = await make_school(name="Lycée Voltaire", commune="Paris")
    beta = await make_school(name="Lycée Hoche", commune="Versailles", departement="78")
    marie = await Holder.create(ident="123456789AB", last_name="DURAND", first_name="Marie", school=alpha)
    await Holder.create(ident="223456789CD", last_name="Dupont", first_name="Paul", school=beta)
    await Device.create(serial="UNW24A00017", school=alpha, holder=marie, status=Status.DISTRIBUTED)
    await Device.create(serial="UNW24A00018", school=beta, status=Status.DELIVERED)
    await seed_reference()
    await seed_tickets(count=5)
    return alpha, beta


async def api(role: str, q: str) -> list[dict]:
    """`GET /api/search` with a bearer token of a fresh account of `role` (the app the `user` fixture started)."""
    from nicegui import app

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
        response = await client.get("/api/search", params={"q": q}, headers=await bearer(role))
    if len(q) > 200:
        assert response.status_code == 422 and "trop long" in response.text, response.text  # French, no 500
        return []
    assert response.status_code == 200, response.text
    return response.json()


async def test_api_finds_each_kind_best_first(user: User) -> None:
    alpha, _beta = await fleet_and_tickets()
    hits = await api("agent", alpha.uai)
    assert hits[0] == {"kind": "Établissement", "label": f"{alpha.uai} · Lycée Voltaire (Paris)",
                       "url": f"/ecoles/{alpha.uai}"}
    assert [h["label"].split(" · ")[0] for h in await api("agent", "unw24a0001")] == ["UNW24A00017", "UNW24A00018"]
    exact = await api("agent", "UNW24A00018")
    assert exact[0]["url"] == "/parc/appareils?serial=UNW24A00018"
    assert (await api("agent", "volt"))[0]["url"] == f"/ecoles/{alpha.uai}"  # a name, any case, no accent needed
    holders = await api("agent", "durand")
    assert holders[0]["kind"] == "Porteur" and holders[0]["url"] == "/parc/porteurs?ident=123456789AB"
    assert (await api("agent", "123456789ab"))[0]["label"].startswith("DURAND Marie")
    number = (await Ticket.first()).number
    found = await api("agent", number.lower())
    assert found[0]["kind"] == "Ticket" and found[0]["url"] == f"/maintenance/ticket?n={number}"
    assert await api("agent", "x") == []  # one character: nothing yet
    assert await api("agent", "z" * 500) == []  # too long: refused with a message
    assert await api("agent", "\x00<script>" + "z" * 190) == []  # cleaned, bounded, no error


async def test_r_sec_4_maintenance_finds_devices_and_tickets_but_no_holder(user: User) -> None:
    await fleet_and_tickets()
    assert await api("maintenance", "durand") == []
    assert await api("maintenance", "123456789AB") == []  # the INE of a device's holder matches nothing either
    assert [h["kind"] for h in await api("maintenance", "UNW24A00017")] == ["Appareil"]


async def test_the_header_box_lists_results_and_enter_opens_the_first(user: User) -> None:
    await fleet_and_tickets()
    await login(user, "agent")
    await user.open("/ecoles")
    await see(user, "Établissements")
    box = user.find(marker="header-search")
    box.type("UNW24A00017")
    await see(user, "UNW24A00017 · Remis")
    box.trigger("keydown.enter")
    for _ in range(100):  # the page opens (a navigation of the simulated browser)
        if user.back_history[-1].startswith("/parc/appareils"):
            break
        await asyncio.sleep(0.05)
    assert user.back_history[-1] == "/parc/appareils?serial=UNW24A00017"


async def test_a_reader_without_holders_is_told_there_is_nothing(user: User) -> None:
    await fleet_and_tickets()
    await login(user, "maintenance")
    await user.open("/maintenance/tickets")
    user.find(marker="header-search").type("durand")
    await see(user, "Aucun résultat pour votre rôle.")
    await user.should_not_see(marker="search-hit")
