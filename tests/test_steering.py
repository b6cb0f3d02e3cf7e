"""Issue 15: `/pilotage` shows each area's charts to the roles that may read it; every bar leads to the grid filtered
on exactly what it counts; the data of a chart downloads as .xlsx; the home's alerts lead to their rows too."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import openpyxl
from nicegui import ui
from nicegui.testing import User

from models.fleet import Device, Grade, Status
from models.outbox import MailStatus, OutboxMail
from seed.tickets import seed_reference, seed_tickets
from settings import now
from sheets.engine.caller import Caller
from sheets.engine.declaration import get_sheet
from sheets.engine.query import base_query
from tests.factories import login, make_school, see


def link_around(user: User, text: str) -> ui.link:
    """The link that holds the label `text` (an alert of the home is a link around its figure and words)."""
    element: Any = next(iter(user.find(kind=ui.label, content=text).elements))
    while not isinstance(element, ui.link):
        element = element.parent_slot.parent
    return element


async def some_data() -> None:
    """Two schools, devices in a few statuses and grades, a year of tickets, mails sent and failed."""
    alpha, beta = await make_school(name="Lycée Alpha"), await make_school(name="Lycée Beta")
    plan = [(alpha, Status.DISTRIBUTED, Grade.AS_NEW, 5), (alpha, Status.DISTRIBUTED, Grade.WORN, 2),
            (beta, Status.DISTRIBUTED, None, 3), (beta, Status.DELIVERED, Grade.FAIR, 4),
            (None, Status.STOCK, Grade.AS_NEW, 6)]
    n = 0
    for school, status, grade, count in plan:
        for _ in range(count):
            n += 1
            await Device.create(serial=f"SN{n:05d}", school=school, status=status, grade=grade)
    await seed_reference()
    await seed_tickets(count=40)
    for i in range(3):
        await OutboxMail.create(key=f"k{i}", recipients="ce.0750001A@ac-paris.fr", subject="s", body_text="t",
                                message_id=f"<m{i}@x>", status=MailStatus.SENT, sent_at=now())
    await OutboxMail.create(key="kf", recipients="ce.0750001A@ac-paris.fr", subject="s", body_text="t",
                            message_id="<mf@x>", status=MailStatus.FAILED, last_error="550")


def rows_behind(url: str) -> tuple[Any, dict[str, Any] | None]:
    """How many rows the grid of `url` shows: its sheet, filtered by the page's query string (the page's code)."""
    from pages.sheet_pages import filter_from_query  # pages import inside tests: the user fixture registers them

    parts = urlsplit(url)
    sheet = next(s for s in (get_sheet("devices"), get_sheet("tickets"), get_sheet("outbox"), get_sheet("slots"),
                             get_sheet("allocations")) if s.path == parts.path)
    return sheet, filter_from_query(sheet, dict(parse_qsl(parts.query)))


async def check_every_bar(key: str, role: str) -> int:
    """Each non-empty bar of a chart leads to a grid whose filter counts exactly the bar's value."""
    from pages.components.charts import charts_for, target_of

    chart = next(c for c in charts_for(Caller(actor="test", role=role)) if c.key == key)
    data = await chart.build()
    checked = 0
    for s, (_name, values) in enumerate(data.series):
        for c, value in enumerate(values):
            url = target_of(data, c, s)
            assert url, (key, c, s)
            sheet, model = rows_behind(url)
            assert await base_query(sheet, model).count() == value, (url, value)
            checked += 1 if value else 0
    return checked


async def test_charts_of_each_area_and_their_bars_lead_to_the_counted_rows(user: User) -> None:
    await some_data()
    await login(user, "agent")
    await user.open("/pilotage")
    await see(user, "Pilotage")
    for key in ("fleet.status_grade", "tickets.category_sla", "outbox.per_day"):
        await user.should_see(marker=f"chart-{key}")
    fleet = next(iter(user.find(marker="echart-fleet.status_grade").elements))
    series = {s["name"]: s["data"] for s in fleet.options["series"]}
    axis = next(a for a in (fleet.options["xAxis"], fleet.options["yAxis"]) if a["type"] == "category")
    statuses = axis["data"]
    assert series["Comme neuf"][statuses.index("Remis")] == 5
    assert series["Sans état"][statuses.index("Remis")] == 3
    assert fleet.options["aria"]["decal"]["show"] is True  # patterns: readable without colour alone
    assert await check_every_bar("fleet.status_grade", "agent") >= 5
    assert await check_every_bar("tickets.category_sla", "agent") >= 1
    assert await check_every_bar("outbox.per_day", "agent") == 2  # today: sent, failed


async def test_each_role_sees_the_charts_of_what_it_may_read(user: User) -> None:
    await some_data()
    await login(user, "maintenance")
    await user.open("/pilotage")
    await see(user, "Pilotage")
    await user.should_see(marker="chart-tickets.category_sla")
    await user.should_not_see(marker="chart-outbox.per_day")  # mails and their recipients are not its business
    from pages.components.charts import charts_for

    keys = {c.key for c in charts_for(Caller(actor="test", role="unowhy"))}
    assert "tickets.category_sla" not in keys and "outbox.per_day" not in keys


async def test_a_chart_data_downloads_as_a_french_xlsx(user: User) -> None:
    await some_data()
    await login(user, "agent")
    await user.open("/pilotage")
    await see(user, "Pilotage")
    user.find(marker="download-fleet.status_grade").click()
    response = await user.download.next()
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header = [c.value for c in sheet[1]]
    assert header[0] == "Statut" and "Comme neuf" in header
    values: dict[str, Any] = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert values["Remis"][header.index("Comme neuf")] == 5


async def test_home_alert_leads_to_the_rows_it_counts(user: User) -> None:
    """R-FLEET-2 alert on the home: handed over without the loan conditions accepted, the link's grid counts them."""
    school = await make_school(name="Lycée Alpha")
    for i in range(3):
        await Device.create(serial=f"R{i}", school=school, status=Status.DISTRIBUTED,
                            loan_accepted_on=None if i else dt.date(2024, 9, 12))
    await login(user, "agent")
    await user.open("/")
    await see(user, "Remis sans acceptation des conditions de prêt (R-FLEET-2)")
    link = link_around(user, "Remis sans acceptation des conditions de prêt (R-FLEET-2)")
    sheet, model = rows_behind(link.props["href"])
    assert await base_query(sheet, model).count() == 2
    await user.open(link.props["href"])
    await see(user, "Appareils")


async def test_distribution_progress_by_academie_day_by_day(user: User) -> None:
    """Issue 15 × R-SLOT: the cumulated share of each académie's schools distributed, and each point's rows."""
    from models.slots import Slot, SlotStatus

    day = dt.date(2024, 9, 16)
    paris = [await make_school(name=f"Lycée P{i}", departement="75") for i in range(4)]
    versailles = [await make_school(name=f"Lycée V{i}", departement="78") for i in range(2)]
    plan = [(paris[0], SlotStatus.DISTRIBUTED, day), (paris[1], SlotStatus.CLOSED, day + dt.timedelta(days=2)),
            (paris[2], SlotStatus.BOOKED, None), (paris[3], SlotStatus.CANCELLED, None),
            (versailles[0], SlotStatus.DISTRIBUTED, day + dt.timedelta(days=1)),
            (versailles[1], SlotStatus.DELIVERED, None)]
    for school, status, on in plan:
        await Slot.create(school=school, year=2024, status=status, distribution_on=on, laptops=100)
    await login(user, "agent")
    await user.open("/pilotage")
    await user.should_see(marker="chart-slots.progress")
    chart = next(iter(user.find(marker="echart-slots.progress").elements))
    assert chart.options["xAxis"]["data"] == ["16/09", "17/09", "18/09"]
    series = {s["name"]: s["data"] for s in chart.options["series"]}
    assert series["Paris"] == [33.3, 33.3, 66.7]  # 3 slots (the cancelled one left out)
    assert series["Versailles"] == [0.0, 50.0, 50.0]
    from pages.components.charts import charts_for, target_of

    spec = next(c for c in charts_for(Caller(actor="test", role="agent")) if c.key == "slots.progress")
    data = await spec.build()
    sheet, model = rows_behind(target_of(data, 2, data.series.index(("Paris", series["Paris"]))))
    assert await base_query(sheet, model).count() == 1  # Paris's distribution of 18/09


async def test_budget_consumption_by_academie_and_envelope(user: User) -> None:
    """Issue 15 × R-BASKET-1/2: committed and remaining euros per académie and envelope; each bar's schools."""
    from decimal import Decimal

    from models.baskets import Allocation, Envelope

    paris = [await make_school(name=f"Lycée P{i}", departement="75") for i in range(2)]
    creteil = await make_school(name="Lycée C", departement="93")
    for school, envelope, total, committed in ((paris[0], Envelope.MANUELS, 1000, 250), (paris[1], Envelope.MANUELS,
                                                                                        500, 500),
                                               (creteil, Envelope.CONSOMMABLES, 300, 0)):
        await Allocation.create(school=school, year=2024, envelope=envelope, computed=Decimal(total),
                                committed=Decimal(committed), remaining=Decimal(total - committed))
    await login(user, "agent")
    await user.open("/pilotage")
    await user.should_see(marker="chart-baskets.budget")
    from pages.components.charts import charts_for, target_of

    spec = next(c for c in charts_for(Caller(actor="test", role="agent")) if c.key == "baskets.budget")
    data = await spec.build()
    bars = dict(zip(data.categories, zip(*[values for _name, values in data.series], strict=True), strict=True))
    assert bars == {"Paris · Manuels et ressources": (750.0, 750.0), "Créteil · Consommables": (0.0, 300.0)}
    sheet, model = rows_behind(target_of(data, data.categories.index("Paris · Manuels et ressources"), 0))
    assert await base_query(sheet, model).count() == 2  # the two schools of that bar


async def test_grid_links_keep_only_what_they_can_filter(user: User) -> None:
    """A hand-typed address: a day that does not exist, letters for a number, an unknown column are left out (the
    grid opens on all its rows instead of refusing); what is understood is kept."""
    from pages.sheet_pages import filter_from_query

    devices, slots = get_sheet("devices"), get_sheet("slots")
    assert filter_from_query(devices, {"delivered_on": "2024-13-45", "wave": "deux", "nope": "x"}) is None
    assert filter_from_query(slots, {"year": "2024", "distribution_on": "2024-09-16", "status": "reserve"}) == {
        "year": {"filterType": "number", "type": "equals", "filter": 2024},
        "distribution_on": {"filterType": "date", "type": "equals", "dateFrom": "2024-09-16"},
        "status": {"filterType": "text", "type": "equals", "filter": "reserve"}}
    assert filter_from_query(devices, {"loan_accepted_on": "vide", "mdm_enrolled": "NON"}) == {
        "loan_accepted_on": {"filterType": "date", "type": "blank"},
        "mdm_enrolled": {"filterType": "text", "type": "equals", "filter": "Non"}}
