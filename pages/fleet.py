"""The fleet: regional table, one school's fleet, the device / holder / restock grids, life events, partner files."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nicegui import ui

from models.accounts import STAFF_ROLES
from models.audit import Source
from models.equipment import EquipmentStatus, TrackNeed, equipment_by_status, needs_by_track
from models.fleet import (
    Device,
    DeviceKind,
    Grade,
    HolderKind,
    RestockRequest,
    RestockStatus,
    Shipping,
    Status,
    distribution_list,
    school_fleet,
    unowhy_collect_list,
)
from models.schools import Academie, Level, School
from pages.auth import caller_for_page, page
from pages.components.charts import ChartData, steering_chart
from pages.components.feedback import attempt
from pages.components.frame import frame
from pages.components.home_board import Alert, home_alert
from pages.components.upload import Preview, upload_preview_dialog
from pages.errors import school_or_not_found
from pages.fmt import fr_number
from pages.sheet_pages import sheet_grid_page
from settings import tz
from sheets.engine.caller import Caller
from sheets.engine.declaration import Nav
from sheets.engine.importer import ImportFileError
from sheets.engine.writes import WriteRefused, create_rows
from sheets.engine.xlsx import XlsxColumn, write_xlsx
from sheets.fleet import DEVICES, HOLDERS, RESTOCKS, regional_figures
from sheets.fleet_movements import analyse_movements, apply_movements, write_sample
from sheets.search import PER_KIND, Hit, Query, rows_starting, search_provider, url_with

# Columns of the regional table: the statuses a school sees (stock and reconditioned devices are at Unowhy).
SCHOOL_STATUSES = ("affecte", "livre", "remis", "a_restituer", "restitue", "conserve", "sav", "vole", "perdu")


def _download(columns: list[XlsxColumn], rows: list[list[Any]], filename: str, title: str) -> None:
    """Write rows to an .xlsx and hand it to the browser."""
    target = Path(tempfile.mkdtemp(prefix="rentree-fleet-")) / filename
    write_xlsx(target, columns, rows, sheet_title=title[:31])
    ui.download(target.read_bytes(), filename)
    target.unlink(missing_ok=True)


def _nav_links(caller: Caller) -> None:
    """Links to the fleet's grids, those the caller may open."""
    from sheets.engine.declaration import get_sheet

    with ui.row().classes("gap-4 text-sm"):
        ui.link("Tableau régional", "/parc")
        for label, path, sheet in (("Appareils", "/parc/appareils", DEVICES), ("Porteurs", "/parc/porteurs", HOLDERS),
                                   ("Réassorts", "/parc/reassorts", RESTOCKS),
                                   ("Équipement fixe et salles", "/feuilles/equipment", get_sheet("equipment"))):
            if sheet.may_read(caller):
                ui.link(label, path)


# --- Home alerts ------------------------------------------------------------------------------------


@home_alert("fleet", roles=DEVICES.read_roles, order=20)
async def fleet_alerts() -> list[Alert]:
    """Holders without a device, devices to collect, Tle without decision, loans not accepted (R-FLEET-2/4/8)."""
    _counts, flags, _at, _current = await regional_figures()

    def total(key: str) -> int:
        return sum(f.get(key, 0) for f in flags.values())

    return [Alert("Porteurs sans PC", total("without_device"), "/parc", "warning"),
            Alert("Appareils à collecter par Unowhy (R-FLEET-4)", total("to_collect"), "/parc", "warning"),
            Alert("Terminale sans choix garder / restituer (R-FLEET-8)", total("tle_undecided"), "/parc", "info"),
            Alert("Remis sans acceptation des conditions de prêt (R-FLEET-2)", total("loan_not_accepted"),
                  "/parc/appareils?status=remis&loan_accepted_on=vide", "info")]


# --- Regional table --------------------------------------------------------------------------------


async def regional_rows() -> list[dict[str, Any]]:
    """One row per school: device counts by status (one grouped query) and the holder flags."""
    counts, flags, _at, _current = await regional_figures()
    rows = []
    for s in await School.all().order_by("uai").values("id", "uai", "name", "academie", "wifi_mdm_configured",
                                                       "wifi_code_changed"):
        c, f = counts.get(s["id"], {}), flags.get(s["id"], {})
        row = {"uai": s["uai"], "name": s["name"], "academie": Academie.label_of(str(getattr(
            s["academie"], "value", s["academie"])), ""), "total": sum(c.values())}
        row.update({k: c.get(k, 0) for k in SCHOOL_STATUSES})
        row.update(without_device=f.get("without_device", 0), tle_undecided=f.get("tle_undecided", 0),
                   to_collect=f.get("to_collect", 0), loan_not_accepted=f.get("loan_not_accepted", 0),
                   wifi="À configurer" if not s["wifi_mdm_configured"] else
                   ("Code changé" if s["wifi_code_changed"] else "OK"))
        rows.append(row)
    return rows


REGIONAL_COLUMNS: list[tuple[str, str]] = [
    ("uai", "UAI"), ("name", "Établissement"), ("academie", "Académie"), ("total", "Appareils"),
    *[(k, Status.label_of(k)) for k in SCHOOL_STATUSES],
    ("without_device", "Porteurs sans PC"), ("tle_undecided", "Tle sans choix"), ("to_collect", "À collecter"),
    ("loan_not_accepted", "Remis sans acceptation du prêt"),
    ("wifi", "Wi-Fi MDM"),
]


@page("/parc", roles=STAFF_ROLES, nav=Nav("Parc", "laptop_chromebook", 10, "Tableau régional du parc"))
async def fleet_page() -> None:
    """Every school's fleet in one table (R-FLEET-4, R-FLEET-8, R-SCH-7), exportable."""
    caller = await caller_for_page(Source.PAGE)
    with frame("Parc : tableau régional", active="/parc"):
        _nav_links(caller)
        rows = await regional_rows()
        _counts, _flags, at, current = await regional_figures()
        ui.label(f"Indicateurs des porteurs calculés le {dt.datetime.fromtimestamp(at, tz()):%d/%m/%Y à %H:%M:%S}"
                 + ("" if current else " ; mise à jour en cours après les dernières modifications, rechargez dans "
                                       "quelques secondes.")).classes("text-xs text-grey-7")
        totals = {k: sum(r[k] for r in rows) for k in ("total", "remis", "a_restituer", "without_device",
                                                        "tle_undecided", "to_collect", "loan_not_accepted")}
        in_stock = await Device.filter(status=Status.STOCK).count()
        with ui.row().classes("gap-4 flex-wrap"):
            for label, value in (("Appareils en établissement", totals["total"]), ("Stock régional", in_stock),
                                 ("Remis", totals["remis"]), ("À restituer", totals["a_restituer"]),
                                 ("Porteurs sans PC", totals["without_device"]),
                                 ("Tle sans choix", totals["tle_undecided"]),
                                 ("À collecter (Unowhy)", totals["to_collect"]),
                                 ("Remis sans acceptation des conditions de prêt", totals["loan_not_accepted"])):
                with ui.card().classes("min-w-40 gap-0"):
                    ui.label(fr_number(value)).classes("text-2xl font-semibold text-primary")
                    ui.label(label).classes("text-sm text-grey-8")
        with ui.row().classes("gap-2"):
            ui.button("Exporter le tableau (.xlsx)", icon="file_download", on_click=lambda: _download(
                [XlsxColumn(label, kind="integer" if key not in ("uai", "name", "academie", "wifi") else "text")
                 for key, label in REGIONAL_COLUMNS],
                [[r[k] for k, _ in REGIONAL_COLUMNS] for r in rows], "parc-regional.xlsx", "Parc régional",
            )).props("outline no-caps").mark("download")
            ui.button("Liste Unowhy : à collecter / restituer (.xlsx)", icon="local_shipping",
                      on_click=lambda: unowhy_export(None, caller)).props("outline no-caps").mark("download")
        columns = [{"name": k, "label": label, "field": k, "sortable": True,
                    "align": "left" if k in ("uai", "name", "academie", "wifi") else "right"}
                   for k, label in REGIONAL_COLUMNS]
        table = ui.table(columns=columns, rows=rows, row_key="uai", pagination={"rowsPerPage": 25, "sortBy": "uai"}
                         ).props("flat dense bordered").classes("w-full")
        table.add_slot("body-cell-uai", '<q-td :props="props"><a :href="\'/parc/ecoles/\' + props.value" '
                                        'class="text-primary">{{ props.value }}</a></q-td>')
        table.add_slot("body-cell-loan_not_accepted", '<q-td :props="props"><a v-if="props.value" '
                       ':href="\'/parc/appareils?statut=remis&pret=non&uai=\' + props.row.uai" class="text-primary">'
                       '{{ props.value }}</a><span v-else>0</span></q-td>')
        await needs_card()
        table.add_slot("body-cell-wifi", '<q-td :props="props"><q-badge :color="props.value == \'OK\' ? '
                                         '\'positive\' : \'orange\'">{{ props.value }}</q-badge></q-td>')


async def needs_card() -> None:
    """R-FLEET-15: regional fixed-equipment quantities by track need and status (one grouped query)."""
    needs = await needs_by_track()
    if not needs:
        return
    with ui.card().classes("w-full gap-1"):
        with ui.row().classes("items-center gap-4"):
            ui.label("Équipement fixe : besoins par voie (quantités)").classes("text-lg font-semibold")
            ui.link("Ouvrir la feuille", "/feuilles/equipment").classes("text-sm")
        columns = [{"name": "track", "label": "Voie", "field": "track", "align": "left"},
                   *[{"name": k, "label": label, "field": k, "align": "right"}
                     for k, label in EquipmentStatus.choices()]]
        rows = [{"track": label, **{k: fr_number(needs.get(code, {}).get(k, 0)) for k in EquipmentStatus.labels()}}
                for code, label in TrackNeed.choices()]
        ui.table(columns=columns, rows=rows, row_key="track").props("flat dense bordered").classes("max-w-4xl")


def reads_people(caller: Caller) -> bool:
    """R-SEC-4: whether a caller may see the holders' names, identifiers and classes (those who read their sheet)."""
    return HOLDERS.may_read(caller)


async def unowhy_export(school_id: int | None, caller: Caller) -> None:
    """Unowhy's file: devices to collect (no holder in a school, R-FLEET-4) or to return; the holder's identifier
    only for the roles that read the holders (R-SEC-4)."""
    rows = await unowhy_collect_list(school_id)
    columns = [XlsxColumn("UAI", width=12), XlsxColumn("N° de série", width=16), XlsxColumn("Type", width=22),
               XlsxColumn("Statut", width=22), XlsxColumn("Porteur", width=16)]
    if not reads_people(caller):
        columns, rows = columns[:4], [r[:4] for r in rows]
    _download(columns, [list(r) for r in rows], "unowhy-a-collecter.xlsx", "À collecter")
    ui.notify(f"{fr_number(len(rows))} appareil(s) dans la liste Unowhy.", type="positive")


# --- One school's fleet ----------------------------------------------------------------------------


@page("/parc/ecoles/{uai}", roles=STAFF_ROLES)
async def school_fleet_page(uai: str) -> None:
    """One school's fleet: counts, holders without a device, devices to collect, Tle decisions, Wi-Fi, files."""
    school = await school_or_not_found(uai)
    if school is None:
        return
    fleet = await school_fleet(school.id)
    caller = await caller_for_page(Source.PAGE)
    people = reads_people(caller)
    with frame(f"Parc · {school.name}", active="/parc"):
        with ui.row().classes("gap-4 text-sm"):
            ui.link(f"← Fiche de l'établissement {school.uai}", f"/ecoles/{school.uai}")
            ui.link("Tableau régional", "/parc")
            ui.link("Tous ses appareils dans la grille", f"/parc/appareils?uai={school.uai}")
            ui.link("Son équipement fixe et ses salles", f"/feuilles/equipment?school={school.uai}")
        if school.wifi_needs_attention:  # R-SCH-7
            with ui.row().classes("items-center gap-2 text-orange-9 bg-orange-1 rounded p-2 w-full"):
                ui.icon("wifi_off")
                ui.label("Wi-Fi à reconnecter sur chaque PC : le code a changé après la préparation (R-SCH-7)."
                         if school.wifi_code_changed else
                         "Wi-Fi non configuré dans le MDM : une manipulation sera nécessaire sur chaque PC (R-SCH-7).")
        with ui.row().classes("w-full gap-4 items-stretch flex-wrap"):
            _count_card("Appareils par statut", fleet.by_status, Status.labels(), school.uai, "status")
            _count_card("Par état", fleet.by_grade, {**Grade.labels(), "": "Non noté"}, school.uai, "grade")
            _count_card("Par type", fleet.by_kind, DeviceKind.labels(), school.uai, "kind")
        if fleet.loan_not_accepted:  # R-FLEET-2
            with ui.row().classes("items-center gap-2 text-orange-9 bg-orange-1 rounded p-2 w-full"):
                ui.icon("gavel")
                ui.link(f"{fr_number(fleet.loan_not_accepted)} appareil(s) remis sans acceptation des conditions de "
                        "prêt (R-FLEET-2)", f"/parc/appareils?uai={school.uai}&statut=remis&pret=non").classes(
                    "text-orange-9")
        equipment = await equipment_by_status(school.id)
        with ui.card().classes("w-full gap-1"):
            ui.label(f"Équipement fixe et salles ({fr_number(sum(equipment.values()))})").classes(
                "text-lg font-semibold")
            if not equipment:
                ui.label("Aucun besoin enregistré.").classes("text-grey-7")
            with ui.row().classes("gap-4 flex-wrap"):
                for code, label in EquipmentStatus.choices():
                    if equipment.get(code):
                        ui.link(f"{label} : {fr_number(equipment[code])}",
                                f"/feuilles/equipment?school={school.uai}&status={code}").classes("text-primary")
            ui.link("Voir ou saisir les besoins de l'établissement (R-FLEET-15) →",
                    f"/feuilles/equipment?school={school.uai}").classes("text-sm")
        with ui.row().classes("w-full gap-4 items-stretch flex-wrap"):
            _people_card(f"Porteurs sans appareil ({fr_number(fleet.holders_without_device_count)})",
                         fleet.holders_without_device if people else None, "Chacun a un PC.")
            _people_card(f"Terminale sans choix garder / restituer ({fr_number(fleet.tle_undecided_count)})",
                         fleet.tle_undecided if people else None,
                         "Tous les élèves de Terminale ont choisi (R-FLEET-8).")
        with ui.card().classes("w-full"):
            ui.label(f"Appareils sans porteur : à collecter par Unowhy ({fr_number(fleet.to_collect_count)})").classes(
                "text-lg font-semibold")
            ui.label("Aucun PC ne reste dans un lycée sans affectation (R-FLEET-4).").classes("text-sm text-grey-8")
            if fleet.to_collect:
                ui.table(columns=[{"name": "serial", "label": "N° de série", "field": "serial", "align": "left"},
                                  {"name": "status", "label": "Statut", "field": "status", "align": "left"},
                                  {"name": "kind", "label": "Type", "field": "kind", "align": "left"}],
                         rows=[{"serial": d.serial, "status": Status.label_of(d.status.value),
                                "kind": DeviceKind.label_of(d.kind.value)} for d in fleet.to_collect],
                         row_key="serial").props("flat dense bordered").classes("max-w-2xl")
            if fleet.kept_to_unenroll:
                ui.label(f"{fleet.kept_to_unenroll} PC conservé(s) encore inscrit(s) au MDM : à désinscrire avant "
                         "la fin septembre (R-FLEET-8).").classes("text-orange-9")
        if fleet.screens:
            with ui.card().classes("w-full"):
                ui.label(f"Écrans numériques interactifs ({len(fleet.screens)})").classes("text-lg font-semibold")
                ui.table(columns=[{"name": c, "label": label, "field": c, "align": "left"} for c, label in (
                    ("serial", "N° de série"), ("wave", "Vague"), ("kind", "Type"), ("computer", "Ordinateur"),
                    ("training", "Formation"))],
                    rows=[{"serial": d.serial, "wave": d.wave or "—", "kind": DeviceKind.label_of(d.kind.value),
                           "computer": "Oui (OPS)" if d.computer else "Non",
                           "training": "Faite" if d.training_done else "À faire"} for d in fleet.screens],
                    row_key="serial").props("flat dense bordered").classes("max-w-3xl")
        with ui.card().classes("w-full gap-2"):
            ui.label("Fichiers et mouvements").classes("text-lg font-semibold")
            with ui.row().classes("gap-2 flex-wrap"):
                if people:  # names by class (R-SEC-4)
                    ui.button("Liste de distribution La Poste (.xlsx)", icon="local_post_office",
                              on_click=lambda: laposte_export(school, caller)).props("outline no-caps").mark(
                        "download")
                ui.button("Liste Unowhy : à collecter / restituer (.xlsx)", icon="local_shipping",
                          on_click=lambda: unowhy_export(school.id, caller)).props("outline no-caps").mark("download")
                if HOLDERS.may_edit(caller) and HOLDERS.may_create(caller):
                    ui.button("Importer la base élèves (SIECLE)", icon="upload_file",
                              on_click=lambda: movements_dialog(school, HolderKind.STUDENT, caller)).props(
                        "outline no-caps").mark("import-siecle")
                    ui.button("Importer la base enseignants (STS)", icon="upload_file",
                              on_click=lambda: movements_dialog(school, HolderKind.TEACHER, caller)).props(
                        "outline no-caps").mark("import-sts")
                if people:  # filled from the school's own holders
                    ui.button("Fichier d'exemple (élèves)", icon="description",
                              on_click=lambda: sample_download(school, caller)).props("flat no-caps").mark("download")
        await restock_card(school, caller)


def _count_card(title: str, counts: dict[str, int], labels: dict[str, str], uai: str, column: str) -> None:
    with ui.card().classes("flex-1 min-w-72"):
        ui.label(f"{title} ({fr_number(sum(counts.values()))})").classes("text-lg font-semibold")
        if not counts:
            ui.label("Aucun appareil.").classes("text-grey-7")
        with ui.grid(columns="1fr auto").classes("gap-x-6 gap-y-1 w-full"):
            for code, label in labels.items():
                if counts.get(code):
                    if column == "status":
                        ui.link(label, f"/parc/appareils?uai={uai}&statut={code}").classes("text-primary")
                    else:
                        ui.label(label)
                    ui.label(fr_number(counts[code])).classes("font-medium text-right")


def _people_card(title: str, people: list[Any] | None, empty: str) -> None:
    """A list of holders (None: the caller may not read their names, identifiers and classes, R-SEC-4)."""
    with ui.card().classes("flex-1 min-w-96"):
        ui.label(title).classes("text-lg font-semibold")
        if people is None:
            ui.label("Noms, identifiants et classes réservés aux rôles qui consultent les porteurs (R-SEC-4).").classes(
                "text-grey-7")
            return
        if not people:
            ui.label(empty).classes("text-grey-7")
            return
        ui.table(columns=[{"name": c, "label": label, "field": c, "align": "left"} for c, label in (
            ("ident", "Identifiant"), ("name", "Nom"), ("kind", "Type"), ("class_name", "Classe"))],
            rows=[{"ident": h.ident, "name": str(h), "kind": HolderKind.label_of(h.kind.value),
                   "class_name": h.class_name or (Level.label_of(h.level.value, "") if h.level else "")}
                  for h in people], row_key="ident", pagination=8).props("flat dense bordered").classes("w-full")


async def laposte_export(school: School, caller: Caller) -> None:
    """La Poste's distribution list of a school by class: class, holder, serial (R-SLOT-7); names by class, so only
    for the roles that read the holders (R-SEC-4)."""
    if not reads_people(caller):
        ui.notify("Accès refusé : la liste de distribution nomme les élèves (R-SEC-4).", type="negative")
        return
    rows = await distribution_list(school.id)
    _download([XlsxColumn("Classe", width=10), XlsxColumn("Nom", width=20), XlsxColumn("Prénom", width=16),
               XlsxColumn("Identifiant", width=16), XlsxColumn("N° de série", width=16),
               XlsxColumn("Présent", kind="choice", choices=("Oui", "Non"), width=10)],
              [[*r, ""] for r in rows], f"distribution-{school.uai}.xlsx", "Distribution")
    ui.notify(f"{fr_number(len(rows))} PC à remettre dans la liste.", type="positive")


async def sample_download(school: School, caller: Caller) -> None:
    """A filled example of the student list, from the school's holders (R-SEC-4: for the roles that read them)."""
    if not reads_people(caller):
        ui.notify("Accès refusé : le fichier d'exemple reprend les élèves du lycée (R-SEC-4).", type="negative")
        return
    target = Path(tempfile.mkdtemp(prefix="rentree-fleet-")) / f"exemple-eleves-{school.uai}.xlsx"
    await write_sample(school, HolderKind.STUDENT, target)
    ui.download(target.read_bytes(), target.name)


def _movements_preview(report: Any) -> Preview:
    sections = [(f"{title} ({len(items)})", [f"{m.ident} · {m.name} · {m.detail}" for m in items[:300]])
                for title, items in (("Nouveaux", report.new), ("Arrivés d'un autre lycée (le PC suit)", report.moved),
                                     ("Changements", report.updated), ("Partis", report.left))]
    return Preview(summary=report.summary(), can_apply=report.ok and not report.applied, applied=report.applied,
                   touched=len(report.new) + len(report.moved) + len(report.updated) + len(report.left),
                   sections=sections, refusals=list(report.issues[:300]))


async def movements_dialog(school: School, kind: HolderKind, caller: Caller,
                           on_applied: Callable[[], Any] | None = None,
                           on_close: Callable[[], Any] | None = None) -> None:
    """Upload a student or teacher list: preview of the movements, then apply through the engine on confirmation.
    The same dialog for the Région's team (/parc/ecoles/<UAI>) and the school's people (/etablissement/<UAI>)."""
    what = "élèves (SIECLE)" if kind == HolderKind.STUDENT else "enseignants (STS)"
    state: dict[str, Any] = {}

    async def analyse(path: Path, _whole: bool) -> Preview:
        await caller.check()
        try:
            state["report"] = await analyse_movements(path, school, kind, caller)
        except ImportFileError as exc:
            return Preview(summary=str(exc), fatal=True)
        return _movements_preview(state["report"])

    async def apply(_path: Path, _whole: bool) -> Preview:
        try:
            report = await apply_movements(state["report"], caller.using(Source.IMPORT))
        except (ValueError, WriteRefused) as exc:
            return Preview(summary=f"Rien n'a été appliqué : {exc}", fatal=True)
        return _movements_preview(report)

    upload_preview_dialog(f"Base {what} de {school.uai}",
                          "Colonnes : Identifiant, Nom, Prénom, Classe, Niveau, Voie. Les porteurs absents du fichier "
                          "sont considérés comme partis. Rien n'est écrit avant votre confirmation.",
                          analyse, apply, all_or_nothing=None, on_applied=on_applied, on_close=on_close)


async def restock_card(school: School, caller: Caller) -> None:
    """The school's restock requests and a form to ask for one (R-FLEET-12), for the roles that may."""
    requests = await RestockRequest.filter(school_id=school.id).order_by("-id").limit(10)
    with ui.card().classes("w-full gap-2"):
        ui.label("Réassort (nouveaux élèves)").classes("text-lg font-semibold")
        ui.label("Plus de 5 PC : envoi par transporteur ; 5 ou moins : Colissimo (R-FLEET-12).").classes(
            "text-sm text-grey-8")
        for r in requests:
            ui.label(f"N° {r.id} · {r.quantity} PC · {r.reason} · {Shipping.label_of(r.shipping)} · étape : "
                     f"{RestockStatus.label_of(r.status)}").classes("text-sm")
        if not RESTOCKS.may_create(caller, school.uai):
            return
        with ui.row().classes("items-end gap-2"):
            quantity = ui.number("Nombre de PC", value=1, min=1, max=500, precision=0).classes("w-36")
            reason = ui.input("Motif", value="Nouveaux élèves").classes("w-64")

            async def ask() -> None:
                done = await attempt(create_rows(RESTOCKS, [{"school": school.uai, "quantity": int(quantity.value or 0),
                                                             "reason": reason.value or "Nouveaux élèves"}], caller),
                                     "Demande refusée")
                if done is None:
                    return
                ui.notify("Demande de réassort enregistrée ; suivez-la dans « Réassorts ».", type="positive")
                ui.navigate.reload()

            ui.button("Demander un réassort", icon="add_shopping_cart", on_click=ask).props("no-caps").mark(
                "ask-restock")


# --- Grids and life events -------------------------------------------------------------------------


@page("/parc/appareils", roles=DEVICES.read_roles)
async def devices_page(uai: str = "", statut: str = "", pret: str = "") -> None:
    """The device grid (500,000 rows); life events are the grid's actions (only those the role may make)."""
    initial: dict[str, Any] = {}
    if uai:
        initial["school"] = {"filterType": "text", "type": "equals", "filter": uai.strip().upper()[:8]}
    if statut in Status.labels():
        initial["status"] = {"filterType": "text", "type": "equals", "filter": statut}
    if pret == "non":  # R-FLEET-2: loan conditions not accepted
        initial["loan_accepted_on"] = {"filterType": "date", "type": "blank"}
    await sheet_grid_page(DEVICES, initial=initial,
                          intro=DEVICES.description + " Événements de vie : cochez des appareils, puis « Actions ».")


@page("/parc/porteurs", roles=HOLDERS.read_roles)
async def holders_page() -> None:
    """The holders grid."""
    await sheet_grid_page(HOLDERS)


@page("/parc/reassorts", roles=RESTOCKS.read_roles)
async def restocks_page() -> None:
    """The restock requests grid: each step a move of its life cycle (R-FLEET-12)."""
    await sheet_grid_page(RESTOCKS, intro=RESTOCKS.description + " Étapes : demandé → expédié → réception validée → "
                                          "attestation signée → PC affectés. Une demande se fait depuis la page Parc "
                                          "du lycée.")


# --- Steering chart ---------------------------------------------------------------------------------


async def _devices_by_status_and_grade() -> dict[tuple[str, str], int]:
    from tortoise.functions import Count

    from models.fleet import Device

    rows = await Device.all().group_by("status", "grade").annotate(n=Count("id")).values("status", "grade", "n")
    return {(str(getattr(r["status"], "value", r["status"])), str(getattr(r["grade"], "value", r["grade"] or ""))):
            int(r["n"]) for r in rows}


@steering_chart("fleet.status_grade", "Appareils par statut et état", roles=DEVICES.read_roles, order=20,
                description="Tout le parc de la Région, par étape du cycle de vie ; chaque barre empile les états "
                            "(R-FLEET-10).")
async def devices_chart() -> ChartData:
    """Devices by status (bars) and grade (stacked), kept by the devices' data version."""
    from models.fleet import Grade, Status
    from sheets.engine.dataversion import STEERING

    counts, at, current = await STEERING.latest("chart.fleet.status_grade", ("devices",),
                                                _devices_by_status_and_grade)
    statuses = [code for code, _ in Status.choices() if any(k[0] == code for k in counts)]
    grades = [*Grade.choices(), ("", "Sans état")]
    series = [(label, [counts.get((status, code), 0) for status in statuses]) for code, label in grades
              if any(counts.get((status, code), 0) for status in statuses)]
    grade_codes = [code for code, label in grades if any(label == name for name, _ in series)]

    def link(category: int, serie: int) -> str:
        code = grade_codes[serie] if 0 <= serie < len(grade_codes) else None
        grade = "" if code is None else f"&grade={code or 'vide'}"
        return f"/parc/appareils?status={statuses[category]}{grade}"

    stamp = dt.datetime.fromtimestamp(at, tz()).strftime("%d/%m/%Y à %H:%M")
    return ChartData(categories=[Status.label_of(s) for s in statuses], series=series, category_label="Statut",
                     stacked=True, link=link,
                     note=f"Chiffres du {stamp}" + ("" if current else " (mise à jour en cours)") + ".")


# --- Search -----------------------------------------------------------------------------------------


@search_provider("appareil", DEVICES, order=30)
async def find_devices(query: Query, caller: Caller) -> list[Hit]:
    """A serial number (exact or its start)."""
    rows = await rows_starting(DEVICES, caller, "serial", [query.upper], ["serial", "status", "school__uai"],
                               "serial")
    return [Hit("Appareil", f"{r['serial']} · {Status.label_of(r['status'])}"
                + (f" · {r['school__uai']}" if r["school__uai"] else ""),
                url_with(DEVICES.path, serial=r["serial"]), 0 if r["serial"] == query.upper else 1) for r in rows]


@search_provider("porteur", HOLDERS, order=40)
async def find_holders(query: Query, caller: Caller) -> list[Hit]:
    """A holder's identifier (INE, NUMEN: exact or its start) or last name (its start, as stored or capitalised),
    for the roles that may read holders."""
    fields = ["ident", "last_name", "first_name", "school__uai"]
    rows = await rows_starting(HOLDERS, caller, "ident", [query.upper], fields, "ident")
    if len(rows) < PER_KIND and not any(ch.isdigit() for ch in query.text):
        rows += await rows_starting(HOLDERS, caller, "last_name", query.spellings(), fields, "last_name")
    hits = []
    for r in rows:
        rank = 0 if query.upper in (r["ident"], str(r["last_name"]).upper()) else 1
        hits.append(Hit("Porteur", f"{r['last_name']} {r['first_name']} · {r['ident']}"
                        + (f" · {r['school__uai']}" if r["school__uai"] else ""),
                        url_with(HOLDERS.path, ident=r["ident"]), rank))
    return hits[:PER_KIND]
