"""Steering charts (`/pilotage`): each area registers its charts; one renderer gives every chart the same comfort.

    @steering_chart("fleet.status", "Appareils par statut et état", roles=DEVICES.read_roles, order=20)
    async def devices_by_status() -> ChartData:
        return ChartData(categories=[...], series=[("Comme neuf", [...]), ...], links=[...], stacked=True)

Every chart: French numbers and dates, readable without colour alone (ECharts' decal patterns and labels), a click on
a bar opens the filtered grid behind it, « Image (PNG) » from the chart's toolbox, « Données (.xlsx) » for its data.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nicegui import ui

from sheets.engine.caller import Caller
from sheets.engine.xlsx import XlsxColumn, write_xlsx


@dataclass
class ChartData:
    """What a chart shows: categories (x axis), one or more series of numbers, where each category leads."""

    categories: list[str]
    series: list[tuple[str, list[float]]]
    category_label: str = "Catégorie"
    links: list[str] | None = None  # one address per category: a click opens it
    link: Callable[[int, int], str | None] | None = None  # or per (category, series) index: the grid's filter
    stacked: bool = False
    kind: str = "bar"  # bar or line
    unit: str = ""  # "€" for amounts
    note: str = ""  # a sentence under the chart (what is counted, as of when)
    extra: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> list[list[Any]]:
        """The data as a table: one row per category, one column per series."""
        return [[category, *(values[i] for _name, values in self.series)] for i, category in enumerate(self.categories)]


Build = Callable[[], Awaitable[ChartData]]


@dataclass(frozen=True)
class SteeringChart:
    """A registered chart: who may see it, where it stands, how its data is built."""

    key: str
    title: str
    roles: frozenset[str]
    order: int
    build: Build
    description: str = ""


_CHARTS: dict[str, SteeringChart] = {}


def steering_chart(key: str, title: str, *, roles: Iterable[str], order: int = 100,
                   description: str = "") -> Callable[[Build], Build]:
    """Register a chart of the steering page (same key again replaces it)."""

    def decorate(build: Build) -> Build:
        _CHARTS[key] = SteeringChart(key, title, frozenset(roles), order, build, description)
        return build

    return decorate


def charts_for(caller: Caller) -> list[SteeringChart]:
    """The charts a caller may see, in order."""
    return sorted((c for c in _CHARTS.values() if caller.allowed(c.roles)), key=lambda c: (c.order, c.key))


# French figures (3 500, 12,5 €); the canvas font lacks the narrow no-break space Intl puts between thousands.
_NUMBER = ("v => new Intl.NumberFormat('fr-FR', {maximumFractionDigits: 2}).format(v)"
           ".replace(/[\\u202f\\u00a0]/g, ' ')")
_EURO = ("v => new Intl.NumberFormat('fr-FR', {style: 'currency', currency: 'EUR', maximumFractionDigits: 0})"
         ".format(v).replace(/[\\u202f\\u00a0]/g, ' ')")

_PERCENT = ("v => new Intl.NumberFormat('fr-FR', {maximumFractionDigits: 1}).format(v)"
            ".replace(/[\\u202f\\u00a0]/g, ' ') + ' %'")

_SYMBOLS = ("circle", "rect", "triangle", "diamond", "pin", "arrow")
_DASHES = ("solid", "dashed", "dotted")


def horizontal(data: ChartData) -> bool:
    """Bars lying down when the categories are many or long (their names stay readable, never cut)."""
    return data.kind == "bar" and (len(data.categories) > 8 or any(len(c) > 16 for c in data.categories))


def height(data: ChartData) -> int:
    """The chart's height in pixels: lying bars take a line each."""
    return max(340, 90 + 30 * len(data.categories)) if horizontal(data) else 340


def options(chart: SteeringChart, data: ChartData) -> dict[str, Any]:
    """The ECharts options of a chart: accessible patterns, French numbers, a PNG export in the toolbox."""
    formatter = _EURO if data.unit == "€" else _PERCENT if data.unit == "%" else _NUMBER
    series = []
    for name, values in data.series:
        item: dict[str, Any] = {"name": name, "type": data.kind, "data": values, "emphasis": {"focus": "series"}}
        if data.stacked:
            item["stack"] = "total"
        if data.kind == "line":  # lines told apart by their marks and dashes, not by colour alone
            item["symbolSize"] = 7
            item["symbol"] = _SYMBOLS[len(series) % len(_SYMBOLS)]
            item["lineStyle"] = {"type": _DASHES[len(series) % len(_DASHES)]}
        series.append(item)
    category_axis = {"type": "category", "data": data.categories, "axisLabel": {"interval": 0}}
    value_axis: dict[str, Any] = {"type": "value", "axisLabel": {":formatter": formatter}}
    if data.unit == "%":
        value_axis["max"] = 100
    elif data.unit != "€":
        value_axis["minInterval"] = 1  # counts: no 0,5 on the axis
    lying = horizontal(data)
    if lying:
        category_axis["inverse"] = True  # the first category on top, as in a table
    elif data.kind == "line" and len(data.categories) > 12:
        category_axis["axisLabel"] = {"interval": "auto"}
    return {
        "aria": {"enabled": True, "decal": {"show": True}},  # patterns: readable without colour alone
        "tooltip": {"trigger": "axis", ":valueFormatter": formatter},
        "legend": {"top": 0, "type": "scroll"},
        "grid": {"left": 16, "right": 32, "top": 40, "bottom": 16, "containLabel": True},
        "toolbox": {"feature": {"saveAsImage": {"title": "Image (PNG)", "name": chart.key.replace(".", "-"),
                                                "pixelRatio": 2}}},
        "xAxis": value_axis if lying else category_axis,
        "yAxis": category_axis if lying else value_axis,
        "series": series,
    }


def render(chart: SteeringChart, data: ChartData) -> ui.echart:
    """One chart in a card: the chart, a click to its grid, the data as .xlsx."""
    with ui.card().classes("w-full gap-1").mark(f"chart-{chart.key}").props(f'data-chart="{chart.key}"'):
        with ui.row().classes("w-full items-center"):
            ui.label(chart.title).classes("text-lg font-semibold")
            ui.space()
            ui.button("Données (.xlsx)", icon="table_view", on_click=lambda: download(chart, data)).props(
                "flat dense no-caps").mark(f"download-{chart.key}")
        if chart.description:
            ui.label(chart.description).classes("text-sm text-grey-8")
        element = ui.echart(options(chart, data)).classes("w-full").style(f"height: {height(data)}px").mark(
            f"echart-{chart.key}")
        if data.links or data.link:
            element.on_point_click(lambda e: _open(data, e.data_index, e.series_index))
            ui.label("Cliquez sur une barre ou un point pour ouvrir les lignes concernées.").classes(
                "text-xs text-grey-7")
        if not any(v for _name, values in data.series for v in values):
            ui.label("Rien à compter pour l'instant.").classes("text-sm text-grey-8")
        if data.note:
            ui.label(data.note).classes("text-xs text-grey-7")
    return element


def target_of(data: ChartData, category: int, series: int) -> str | None:
    """Where a click on a bar (category, series) leads: the grid filtered on what the bar counts."""
    if not 0 <= category < len(data.categories):
        return None
    if data.link is not None:
        return data.link(category, series)
    if data.links and category < len(data.links):
        return data.links[category]
    return None


def _open(data: ChartData, category: int, series: int) -> None:
    url = target_of(data, category, series)
    if url:
        ui.navigate.to(url)


def chart_filename(chart: SteeringChart) -> str:
    """A French file name for a chart's data: `pilotage-appareils-par-statut-2024-09-12.xlsx`."""
    import unicodedata

    from settings import today

    plain = unicodedata.normalize("NFKD", chart.title).encode("ascii", "ignore").decode("ascii").lower()
    slug = "-".join("".join(ch if ch.isalnum() else " " for ch in plain).split())[:60] or chart.key
    return f"pilotage-{slug}-{today().isoformat()}.xlsx"


def download(chart: SteeringChart, data: ChartData) -> None:
    """The chart's data as an .xlsx file (one row per category)."""
    kind = {"€": "euro", "%": "decimal"}.get(data.unit, "integer")
    columns = [XlsxColumn(data.category_label, "text", 28), *[XlsxColumn(name, kind, 16) for name, _ in data.series]]
    target = Path(tempfile.mkdtemp(prefix="rentree-chart-")) / chart_filename(chart)
    title = " ".join("".join(" " if ch in "[]:*?/\\'" else ch for ch in chart.title).split())[:31] or "Données"
    write_xlsx(target, columns, data.rows(), sheet_title=title)
    ui.download(target.read_bytes(), target.name)
    target.unlink(missing_ok=True)
