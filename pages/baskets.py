"""Textbooks and resources (R-BASKET-1 … 12): the school's « Manuels et ressources » section (allocation bars, the
basket editor with catalogue search and running total against the remaining amount, the moves a person may make),
the Région's page (consumption by académie and envelope, exports per publisher and per school), and the home alert
of nearly spent envelopes. Every write goes through the engine with the page's caller."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from nicegui import ui

import settings as settings_module
from models.accounts import Role
from models.audit import Source
from models.baskets import (
    OPEN,
    Basket,
    BasketStatus,
    Envelope,
    ItemKind,
    basket_lines,
    campaign_year,
    code_of,
    fr_euros,
    gar_reset_day,
    gar_status,
    has_digital_lines,
    last_reassignment,
    nearly_spent,
    publishers,
    region_funded_items,
    regional_consumption,
    school_baskets,
    school_budgets,
    search_catalogue,
    shown_year,
    usage_beside_spending,
)
from models.schools import Academie, School
from pages.auth import caller_for_page, page
from pages.components.charts import ChartData, steering_chart
from pages.components.frame import frame
from pages.components.home_board import Alert, home_alert
from pages.components.school_space import school_section
from pages.errors import school_or_not_found
from sheets.baskets import (
    ALLOCATIONS,
    BASKET_LIFECYCLE,
    BASKETS,
    CATALOGUE,
    ENROLMENTS,
    GAR,
    LINES,
    STAFF_READ,
    import_open_data,
    import_usage,
)
from sheets.engine.actions import run_action
from sheets.engine.caller import Caller, SessionEnded
from sheets.engine.declaration import Nav
from sheets.engine.writes import WriteRefused, create_rows, delete_rows, set_values

STAFF = frozenset({Role.ADMIN, Role.AGENT, Role.LECTEUR})
Refresh = Callable[[], Awaitable[None]]
STATUS_COLOR = {"brouillon": "grey-7", "soumis": "blue-8", "valide": "positive", "transmis": "indigo-7",
                "devis_valide": "deep-purple-6", "dans_le_gar": "teal-7", "livre": "green-9", "refuse": "negative",
                "retour": "brown-6"}


async def year_now() -> int:
    """The campaign shown: that of the app's today, else the latest with allocations."""
    return await shown_year(settings_module.today())


@home_alert("baskets.spent", roles=STAFF_READ, order=60)
async def spent_alerts() -> list[Alert]:
    """Envelopes nearly or entirely spent (the Région may follow up or grant an extra allocation)."""
    nearly, spent = await nearly_spent(await year_now())
    return [Alert("Enveloppes de manuels presque consommées (moins de 10 % restants)", nearly,
                  "/feuilles/allocations", "warning"),
            Alert("Enveloppes de manuels entièrement consommées", spent, "/feuilles/allocations", "danger")]


def _bar(label: str, total: Decimal, committed: Decimal, marker: str) -> None:
    remaining = total - committed
    share = float(committed / total) if total > 0 else 0.0
    color = "negative" if remaining <= 0 else ("orange-8" if share > 0.9 else "primary")
    with ui.column().classes("w-full gap-0").mark(marker):
        ui.label(f"{label} : dotation {fr_euros(total)} · engagé {fr_euros(committed)} · reste {fr_euros(remaining)}"
                 ).classes("text-sm")
        ui.linear_progress(value=min(share, 1.0), show_value=False, color=color).props("rounded size=12px")


async def budget_bars(school: School, year: int) -> dict[str, Any]:
    """Allocation, committed and remaining per envelope as bars (R-BASKET-1); the budgets shown."""
    budgets = await school_budgets(school.id, year)
    if not budgets:
        ui.label(f"Aucune dotation calculée pour {year} (effectifs ou barème manquants).").classes("text-grey-7")
    for envelope in Envelope:
        budget = budgets.get(envelope.value)
        if budget is not None and budget.total > 0:
            _bar(envelope.label + (f" (dont supplément {fr_euros(budget.extra)})" if budget.extra else ""),
                 budget.total, budget.committed, f"budget-{envelope.value}")
    return budgets


async def _act(run: Callable[[], Awaitable[Any]], errors: ui.column, done: str, refresh: Refresh) -> None:
    """Run a write through the engine; its refusal shown in French beside the editor."""
    errors.clear()
    try:
        await run()
    except SessionEnded as exc:
        ui.notify(str(exc), type="warning")
        return
    except WriteRefused as exc:
        with errors:
            for issue in exc.issues[:10]:
                ui.label(issue.message).classes("text-negative text-sm")
        ui.notify(str(exc.issues[0].message if exc.issues else exc), type="negative")
        return
    ui.notify(done, type="positive")
    await refresh()


async def basket_editor(basket: dict[str, Any], school: School, caller: Caller, budgets: dict[str, Any],
                        errors: ui.column, refresh: Refresh) -> None:
    """Lines, quantities, set aside; catalogue search; running total against the remaining amount."""
    lines = await basket_lines(basket["id"])
    editable = code_of(basket["status"]) in {s.value for s in OPEN} and LINES.may_create(caller, school.uai)
    budget = budgets.get(code_of(basket["envelope"]))
    kept = sum((Decimal(line["amount"]) for line in lines if line["kept"]), Decimal(0))
    if budget is not None:
        after = budget.remaining - (kept if code_of(basket["status"]) in {s.value for s in OPEN} else 0)
        ui.label(f"Total retenu : {fr_euros(kept)} · reste de l'enveloppe : {fr_euros(budget.remaining)} · "
                 f"reste après validation : {fr_euros(after)}").classes(
            "text-sm font-semibold " + ("text-negative" if after < 0 else "text-positive")).mark(
            f"running-{basket['number']}")
    for line in lines:
        with ui.row().classes("w-full items-center gap-2 no-wrap").mark(f"line-{line['id']}"):
            ui.label(f"{line['item__reference']} · {line['item__title']}").classes("text-sm flex-1 ellipsis")
            ui.label(line["item__publisher"]).classes("text-xs text-grey-7")
            if editable:
                quantity = ui.number("Quantité", value=line["quantity"], min=0, step=1, format="%d").props(
                    "dense").classes("w-24").mark(f"qty-{line['id']}")
                quantity.on("change", lambda _e, line=line, q=quantity: _act(
                    lambda: set_values(LINES, [line["id"]], {"quantity": q.value}, caller.using(Source.PAGE)),
                    errors, "Quantité enregistrée.", refresh))
                ui.checkbox("Retenue", value=line["kept"], on_change=lambda e, line=line: _act(
                    lambda: set_values(LINES, [line["id"]], {"kept": e.value}, caller.using(Source.PAGE)),
                    errors, "Ligne mise à jour.", refresh)).mark(f"kept-{line['id']}")
                ui.button(icon="delete", on_click=lambda line=line: _act(
                    lambda: delete_rows(LINES, [line["id"]], caller.using(Source.PAGE)), errors, "Ligne retirée.",
                    refresh)).props("flat dense round color=negative").mark(f"drop-{line['id']}")
            else:
                ui.label(f"× {line['quantity']}").classes("text-sm")
                if not line["kept"]:
                    ui.badge("écartée").props("color=grey-6")
            if line["teacher_licences"]:
                ui.label(f"+ {line['teacher_licences']} lic. enseignant").classes("text-xs text-grey-7")
            ui.label(fr_euros(line["amount"])).classes("text-sm w-24 text-right")
    if not editable:
        return
    with ui.card().classes("w-full gap-1 bg-grey-1"):
        ui.label("Ajouter depuis le catalogue").classes("font-semibold text-sm")
        results = ui.column().classes("w-full gap-1")
        wanted: dict[str, Any] = {"quantity": 1}

        async def search(text: str) -> None:
            results.clear()
            found = await search_catalogue(text or "", code_of(basket["envelope"]))
            with results:
                if not found:
                    ui.label("Aucun article ne correspond.").classes("text-grey-7 text-sm")
                for item in found:
                    with ui.row().classes("w-full items-center gap-2 no-wrap"):
                        ui.label(f"{item['reference']} · {item['title']} · {item['publisher']}").classes(
                            "text-sm flex-1 ellipsis")
                        ui.label(ItemKind.label_of(item["kind"])).classes("text-xs text-grey-7")
                        if item["region_funded"]:
                            ui.badge("financée par la Région : sans panier").props("color=teal-7")
                            continue
                        ui.label(fr_euros(item["price"])).classes("text-sm")
                        ui.button("Ajouter", on_click=lambda item=item: _act(
                            lambda: create_rows(LINES, [{"basket": basket["number"], "item": item["reference"],
                                                         "quantity": wanted["quantity"]}], caller.using(Source.PAGE)),
                            errors, "Article ajouté.", refresh)).props("dense no-caps color=primary").mark(
                            f"add-{item['reference']}")

        with ui.row().classes("w-full items-center gap-2"):
            ui.input("Rechercher (titre, référence, éditeur)", on_change=lambda e: search(e.value)).props(
                "dense clearable debounce=300").classes("flex-1").mark(f"search-{basket['number']}")
            ui.number("Quantité", value=1, min=0, step=1, format="%d",
                      on_change=lambda e: wanted.update(quantity=int(e.value or 0))).props("dense").classes(
                "w-28").mark(f"add-qty-{basket['number']}")
        await search("")


async def baskets_panel(school: School, caller: Caller) -> None:
    """The school's envelopes and baskets of the campaign, with the editor and the moves this caller may make."""
    container = ui.column().classes("w-full gap-2")
    state: dict[str, Any] = {"open": None}

    async def refresh() -> None:
        container.clear()
        with container:
            await _panel_body(school, caller, state, refresh)

    with container:
        await _panel_body(school, caller, state, refresh)


async def _panel_body(school: School, caller: Caller, state: dict[str, Any], refresh: Refresh) -> None:
    year = await year_now()
    budgets = await budget_bars(school, year)
    errors = ui.column().classes("w-full gap-0").mark("basket-errors")
    current = campaign_year(settings_module.today())
    if year != current:  # the campaign shown is an earlier one: today's has no allocation yet
        ui.label(f"Campagne {current} : dotations pas encore calculées (effectifs de mai et barème à venir) ; "
                 f"ci-dessus la campagne {year}.").classes("text-sm text-orange-9")
    elif BASKETS.may_create(caller, school.uai):
        with ui.row().classes("gap-2"):
            for envelope in Envelope:
                async def new(envelope: Envelope = envelope) -> None:
                    result = await create_rows(BASKETS, [{"school": school.uai, "envelope": envelope.value}],
                                               caller.using(Source.PAGE))
                    state["open"] = result.created[0][1]

                ui.button(f"Nouveau panier ({envelope.label.lower()})", icon="add_shopping_cart",
                          on_click=lambda new=new: _act(new, errors, "Panier créé.", refresh)).props(
                    "no-caps color=primary" if envelope == Envelope.MANUELS else "no-caps outline").mark(
                    f"new-basket-{envelope.value}")
    rows = await school_baskets(school.id, year)
    if not rows:
        ui.label("Aucun panier pour cette campagne.").classes("text-grey-7")
    for row in rows:
        opened = state["open"] == row["number"]
        with ui.expansion(value=opened).classes("w-full border rounded").mark(f"basket-{row['number']}") as box:
            box.on_value_change(lambda e, n=row["number"]: state.update(open=n if e.value else None))
            with box.add_slot("header"):
                with ui.row().classes("w-full items-center gap-2 no-wrap"):
                    ui.label(row["number"]).classes("font-mono font-semibold")
                    ui.label(Envelope.label_of(row["envelope"])).classes("text-sm")
                    ui.badge(BasketStatus.label_of(row["status"])).props(
                        f"color={STATUS_COLOR.get(code_of(row['status']), 'grey-7')}")
                    ui.space()
                    ui.label(fr_euros(row["total"])).classes("text-sm font-semibold")
            with ui.row().classes("gap-2"):
                digital = await has_digital_lines(row["id"])
                for move in BASKET_LIFECYCLE.moves_from(row["status"], caller, school.uai):
                    if move.name == "return" and digital:
                        continue  # R-BASKET-5: a digital licence is never returned (the engine refuses it too)
                    ui.button(move.label, on_click=lambda m=move, r=row: _act(
                        lambda: run_action(BASKETS, m.name, [r["id"]], {}, caller.using(Source.PAGE)), errors,
                        f"« {m.label} » : fait.", refresh)).props("dense no-caps outline").mark(
                        f"do-{move.name}-{row['number']}")
            if opened or len(rows) <= 3:
                await basket_editor(row, school, caller, budgets, errors, refresh)


async def gar_card(school: School, caller: Caller) -> None:
    """R-BASKET-9: the RESP-AFFECT-GAR says the textbooks and resources are reassigned after the 15 August reset."""
    year = await year_now()
    reset = await gar_reset_day(year)
    last = await last_reassignment(school.id, reset)
    with ui.row().classes("w-full items-center gap-2").mark("gar-card"):
        ui.label(f"Réinitialisation du GAR le {reset:%d/%m/%Y} (R-BASKET-9) :").classes("text-sm")
        if last is not None:
            ui.label(f"réaffectation faite le {last.done_on:%d/%m/%Y} ({last.by}).").classes("text-sm text-positive")
        else:
            ui.label("réaffectation à faire.").classes("text-sm text-orange-9")
            if GAR.may_create(caller, school.uai):
                async def done() -> None:
                    await create_rows(GAR, [{"school": school.uai}], caller.using(Source.PAGE))

                errors = ui.column()
                ui.button("J'ai réaffecté manuels et ressources dans le GAR", icon="task_alt",
                          on_click=lambda: _act(done, errors, "Réaffectation enregistrée.", _reload)).props(
                    "dense no-caps color=primary").mark("gar-done")


async def _reload() -> None:
    ui.navigate.reload()


async def usage_card(school: School) -> None:
    """R-BASKET-10: online consultations (imported) beside what was spent, per resource."""
    rows = await usage_beside_spending(school.id, await year_now())
    if not rows:
        return
    ui.label("Usages et dépenses (R-BASKET-10)").classes("font-semibold mt-2")
    columns = [{"name": "reference", "label": "Référence", "field": "reference", "align": "left"},
               {"name": "title", "label": "Titre", "field": "title", "align": "left"},
               {"name": "consultations", "label": "Consultations en ligne", "field": "consultations"},
               {"name": "spent", "label": "Dépensé", "field": "spent"}]
    ui.table(columns=columns, rows=[{**r, "consultations": "—" if r["consultations"] is None else r["consultations"],
                                     "spent": fr_euros(r["spent"])} for r in rows[:30]],
             row_key="reference").props("flat dense bordered").classes("w-full").mark("usage")


@school_section("baskets", "Manuels et ressources", order=35, roles=BASKETS.read_roles,
                rules=("R-BASKET-6", "R-BASKET-9"))
async def baskets_section(school: School, caller: Caller) -> None:
    """The school's allocation and baskets (CRRE-PRESCRIPTEUR prepares, CRRE-VALIDEUR validates, R-BASKET-3), the
    GAR reassignment (R-BASKET-9) and usage beside spending (R-BASKET-10)."""
    if code_of(school.mode) == "numerique":
        await gar_card(school, caller)
    funded = await region_funded_items()
    if funded:
        ui.label("Financées par la Région pour tous les établissements, affectées sans panier et hors dotation "
                 "(R-BASKET-12) : " + ", ".join(f"{i['title']} ({i['publisher']})" for i in funded)).classes(
            "text-sm text-grey-8").mark("region-funded")
    await baskets_panel(school, caller)
    await usage_card(school)


@school_section("catalogue", "Catalogue des manuels et ressources", order=36, roles=CATALOGUE.read_roles,
                rules=("R-BASKET-3",))
async def catalogue_section(school: School, caller: Caller) -> None:
    """R-BASKET-3: every teacher (any contact of the school) browses the whole catalogue."""
    columns = [{"name": "reference", "label": "Référence", "field": "reference", "align": "left"},
               {"name": "title", "label": "Titre", "field": "title", "align": "left"},
               {"name": "publisher", "label": "Éditeur", "field": "publisher", "align": "left"},
               {"name": "kind", "label": "Nature", "field": "kind", "align": "left"},
               {"name": "levels", "label": "Niveaux", "field": "levels"},
               {"name": "price", "label": "Prix", "field": "price"}]
    table = ui.table(columns=columns, rows=[], row_key="reference").props("flat dense bordered").classes(
        "w-full").mark("catalogue")

    async def search(text: str) -> None:
        found = await search_catalogue(text or "", limit=30)
        table.rows = [{**i, "kind": ItemKind.label_of(i["kind"]) + (" · financée par la Région" if i["region_funded"]
                                                                    else ""),
                       "price": fr_euros(i["price"])} for i in found]
        table.update()

    ui.input("Rechercher dans le catalogue (titre, référence, éditeur)", on_change=lambda e: search(e.value)).props(
        "dense clearable debounce=300").classes("w-full").mark("catalogue-search")
    table.move(target_index=-1)
    await search("")


@page("/manuels/gar", roles=STAFF)
async def gar_page() -> None:
    """R-BASKET-9: the schools that reassigned since the GAR reset, and those the reminder still goes to."""
    reset, reassigned, waiting = await gar_status(await year_now())
    with frame("Réaffectations GAR", active="/manuels"):
        ui.link("← Manuels et ressources", "/manuels")
        ui.label(f"Réinitialisation du {reset:%d/%m/%Y} : {len(reassigned)} établissement(s) ont réaffecté depuis, "
                 f"{len(waiting)} restent relancés (RESP-AFFECT-GAR en copie).").classes("text-lg").mark("gar-summary")
        columns = [{"name": "uai", "label": "UAI", "field": "uai", "align": "left"},
                   {"name": "name", "label": "Établissement", "field": "name", "align": "left"},
                   {"name": "done_on", "label": "Réaffecté le", "field": "done_on"},
                   {"name": "by", "label": "Par", "field": "by", "align": "left"}]
        ui.table(columns=columns, rows=[{**r, "done_on": f"{r['done_on']:%d/%m/%Y}"} for r in reassigned],
                 row_key="uai").props("flat dense bordered").classes("w-full").mark("gar-reassigned")


@page("/manuels/ecoles/{uai}", roles=STAFF)
async def school_baskets_page(uai: str) -> None:
    """One school's envelopes and baskets for the Région's team."""
    school = await school_or_not_found(uai)
    if school is None:
        return
    caller = await caller_for_page(Source.PAGE)
    with frame(f"Manuels · {school.name}", active="/manuels"):
        with ui.row().classes("gap-4 text-sm"):
            ui.link("← Manuels et ressources", "/manuels")
            ui.link("Fiche de l'établissement", f"/ecoles/{school.uai}")
            ui.link("Relevé budgétaire (Excel)",
                    f"/api/sheets/allocations/export.xlsx?filter=school={school.uai}")
        await baskets_panel(school, caller)


@page("/manuels", roles=STAFF, nav=Nav("Manuels et ressources", "auto_stories", 5, "Tableau de bord manuels"))
async def baskets_dashboard() -> None:
    """Regional consumption by académie and envelope; exports per publisher and per school."""
    caller = await caller_for_page(Source.PAGE)
    year = await year_now()
    rows = await regional_consumption(year)
    names = await publishers()
    with frame("Manuels et ressources", active="/manuels"):
        ui.label(f"Campagne {year}").classes("text-grey-8")
        with ui.card().classes("w-full gap-2"):
            ui.label("Consommation par académie et enveloppe").classes("text-lg font-semibold")
            columns = [{"name": "academie", "label": "Académie", "field": "academie", "align": "left"},
                       {"name": "envelope", "label": "Enveloppe", "field": "envelope", "align": "left"},
                       {"name": "schools", "label": "Établissements", "field": "schools"},
                       {"name": "total", "label": "Dotations", "field": "total"},
                       {"name": "committed", "label": "Engagé", "field": "committed"},
                       {"name": "remaining", "label": "Reste", "field": "remaining"},
                       {"name": "share", "label": "Consommé", "field": "share"}]
            ui.table(columns=columns, rows=[{
                "academie": Academie.label_of(r["academie"]), "envelope": Envelope.label_of(r["envelope"]),
                "schools": r["schools"], "total": fr_euros(r["total"]), "committed": fr_euros(r["committed"]),
                "remaining": fr_euros(r["remaining"]), "share": f"{r['share']:.0%}".replace("%", " %")}
                for r in rows], row_key="academie").props("flat dense bordered").classes("w-full").mark(
                "consumption")
            if not rows:
                ui.label("Aucune dotation calculée pour cette campagne.").classes("text-grey-7")
        with ui.card().classes("w-full gap-2"):
            ui.label("Exports par éditeur").classes("text-lg font-semibold")
            choice = ui.select(names, label="Éditeur", value=names[0] if names else None).classes("w-72").mark(
                "publisher")

            async def download(requests: bool) -> None:
                await export_publisher(choice.value, requests, caller)

            with ui.row().classes("gap-2"):
                ui.button("Commandes (Excel)", icon="download", on_click=lambda: download(False)).props(
                    "no-caps outline").mark("export-orders")
                ui.button("Demandes de licences enseignant (R-BASKET-4)", icon="download",
                          on_click=lambda: download(True)).props("no-caps outline").mark("export-teacher-licences")
        if ENROLMENTS.may_create(caller):
            with ui.row().classes("gap-2"):
                current = campaign_year(settings_module.today())  # May counts go to today's campaign
                ui.button(f"Importer les effectifs {current} (fichier national des lycées)", icon="upload_file",
                          on_click=lambda: open_data_dialog(caller, current)).props("no-caps color=primary").mark(
                    "import-enrolments")
                ui.button("Importer les statistiques d'usage (GAR)", icon="upload_file",
                          on_click=lambda: usage_dialog(caller)).props("no-caps outline").mark("import-usage")
        with ui.row().classes("gap-2"):
            for label, path in (("Réaffectations GAR (R-BASKET-9)", "/manuels/gar"),
                                ("Paniers", "/feuilles/baskets"), ("Dotations", "/feuilles/allocations"),
                                ("Barème", "/feuilles/rates"), ("Effectifs", "/feuilles/enrolments"),
                                ("Catalogue", "/feuilles/catalogue"),
                                ("Statistiques d'usage", "/feuilles/resource_usage")):
                ui.button(label, icon="table_view", on_click=lambda p=path: ui.navigate.to(p)).props(
                    "outline no-caps")


def _preview(report: Any) -> Any:
    """The upload dialog's view of an import report."""
    from pages.components.upload import Preview

    data = report.as_dict()
    changes = [f"ligne {p['line']} · {p['key']} · {p['column']}"
               + (f" « {p['old'] or '∅'} » → « {p['new'] or '∅'} »" if p["old"] or p["new"] else "")
               for p in data["preview"][:300]]
    return Preview(summary=data["summary"], fatal=bool(data["fatal"]), applied=bool(data["applied"]),
                   can_apply=bool(data["dry_run"] and not data["fatal"] and (data["new"] or data["changed"])),
                   touched=report.new + report.changed, warnings=list(data["warnings"]),
                   sections=[("Aperçu des changements", changes)],
                   refusals=[f"ligne {i['line']} · {i['message']}" for i in data["issues"][:300]],
                   report=report.write_report if data["issues"] else None)


def _refused(message: str) -> Any:
    from pages.components.upload import Preview

    return Preview(summary=message, fatal=True)


def open_data_dialog(caller: Caller, year: int) -> None:
    """Import the national open-data file of enrolments (wide columns → rows) for the campaign, preview first."""
    from pages.components.upload import upload_preview_dialog

    async def run(path: Path, dry_run: bool) -> Any:
        try:
            return _preview(await import_open_data(path, year, caller.using(Source.IMPORT), dry_run=dry_run))
        except (ValueError, UnicodeDecodeError, KeyError) as exc:
            return _refused(f"Fichier refusé : {str(exc)[:200]}")

    upload_preview_dialog(f"Effectifs {year} depuis le fichier national des lycées",
                          "Colonnes numero_lycee, 2ndes_gt, 1eres_g, terminales_g, 1eres_sti2d, 1eres_stmg, "
                          "terminales_sti2d, terminales_stmg (la dernière rentrée du fichier) ; chaque colonne devient "
                          "une ligne voie × niveau. Une voie que l'établissement n'enseigne pas est refusée (R-SCH-4).",
                          lambda p, _w: run(p, True), lambda p, _w: run(p, False), accept=".csv",
                          all_or_nothing=None)


def usage_dialog(caller: Caller) -> None:
    """Import GAR usage statistics (R-BASKET-10), preview first."""
    from pages.components.upload import upload_preview_dialog

    async def run(path: Path, dry_run: bool) -> Any:
        try:
            return _preview(await import_usage(path, caller.using(Source.IMPORT), dry_run=dry_run))
        except (ValueError, UnicodeDecodeError, KeyError) as exc:
            return _refused(f"Fichier refusé : {str(exc)[:200]}")

    upload_preview_dialog("Statistiques d'usage des ressources (console GAR Admin)",
                          "Colonnes UAI, année, référence, consultations (consultations en ligne uniquement).",
                          lambda p, _w: run(p, True), lambda p, _w: run(p, False), accept=".csv",
                          all_or_nothing=None)


async def export_publisher(publisher: str | None, requests: bool, caller: Caller) -> None:
    """Download the validated lines of a publisher (orders) or its teacher-licence requests, by the engine's
    exporter (R-BASKET-4: reference, teacher licences needed, student licences bought)."""
    from sheets.engine.exporter import export_sheet

    if not publisher:
        ui.notify("Choisissez un éditeur.", type="warning")
        return
    filters: dict[str, Any] = {
        "publisher": {"filterType": "text", "type": "equals", "filter": publisher},
        "status": {"filterType": "set", "values": [s.value for s in (
            BasketStatus.VALIDATED, BasketStatus.TRANSMITTED, BasketStatus.QUOTED, BasketStatus.IN_GAR,
            BasketStatus.DELIVERED)]},
        "kept": {"filterType": "boolean", "type": "equals", "filter": True}}
    if requests:
        filters["teacher_licences"] = {"filterType": "number", "type": "greaterThan", "filter": 0}
    handle = tempfile.NamedTemporaryFile(prefix="rentree-editeur-", suffix=".xlsx", delete=False)
    handle.close()
    try:
        await export_sheet(LINES, handle.name, filter_model=filters, caller=caller)
        content = Path(handle.name).read_bytes()  # noqa: ASYNC240 - a small file just written
    finally:
        Path(handle.name).unlink(missing_ok=True)  # noqa: ASYNC240
    kind = "licences-enseignant" if requests else "commandes"
    ui.download(content, f"{kind}-{publisher.replace(' ', '_')}.xlsx")


__all__ = ["ALLOCATIONS", "Basket", "baskets_section"]


# --- Steering chart ---------------------------------------------------------------------------------------------


@steering_chart("baskets.budget", "Consommation des dotations par académie et enveloppe", roles=ALLOCATIONS.read_roles,
                order=50, description="Montants engagés (paniers validés et suivants) et restants des dotations de la "
                                      "campagne, en euros (R-BASKET-1/2).")
async def budget_chart() -> ChartData:
    """Committed and remaining euros per académie × envelope (the campaign the pages show), kept by the
    allocations' data version."""
    from sheets.engine.dataversion import STEERING

    year = await shown_year(settings_module.today())
    rows = await STEERING.get(("chart.baskets.budget", year), ("allocations",), lambda: regional_consumption(year))
    keys = [(r["academie"], r["envelope"]) for r in rows]

    def link(category: int, _serie: int) -> str:
        academie, envelope = keys[category]
        return f"{ALLOCATIONS.path}?academie={academie}&envelope={envelope}&year={year}"

    return ChartData(
        categories=[f"{Academie.label_of(a)} · {Envelope.label_of(e)}" for a, e in keys],
        series=[("Engagé", [float(r["committed"]) for r in rows]), ("Reste", [float(r["remaining"]) for r in rows])],
        category_label="Académie et enveloppe", stacked=True, unit="€", link=link,
        note=f"Campagne {year} : une barre ouvre les dotations des lycées de cette académie pour cette enveloppe.")
