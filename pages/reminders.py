"""Reminders: what would be sent to whom on a day, template preview, the outbox, the campaign calendar,
and the demo mail box."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nicegui import ui

import settings as settings_module
from emails.demo_box import box_folder, count_messages, list_messages, read_message
from jobs.reminders import plan_day
from models.accounts import Role
from models.audit import Source
from models.campaign import (
    Audience,
    CampaignEvent,
    audience_sizes,
    campaign_events,
)
from models.outbox import MailStatus, OutboxMail, outbox_counts, recent_mails
from models.schools import ContactRole
from pages.auth import caller_for_page, page
from pages.components.charts import ChartData, steering_chart
from pages.components.feedback import attempt
from pages.components.frame import frame
from pages.components.home_board import Alert, home_alert
from pages.fmt import fr_date, fr_number
from settings import today, tz
from sheets.calendar import CALENDAR
from sheets.engine.actions import run_action
from sheets.engine.caller import Caller, SessionEnded
from sheets.engine.declaration import Nav
from sheets.engine.writes import RowChange, WriteRefused, apply_changes
from sheets.outbox import OUTBOX


def parse_fr_date(text: str) -> dt.date:
    """JJ/MM/AAAA or AAAA-MM-JJ → date; ValueError in French."""
    text = (text or "").strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"Date « {text} » invalide : saisissez-la au format JJ/MM/AAAA (ex. 21/06/2024).")


def sandboxed_html(html: str, height: str = "640px") -> None:
    """Show untrusted mail HTML in an iframe with every sandbox restriction (no script, no navigation)."""
    frame_el = ui.element("iframe").classes("w-full border rounded bg-white").style(f"height:{height}")
    frame_el._props["sandbox"] = ""
    frame_el._props["srcdoc"] = html
    frame_el._props["title"] = "Aperçu du courriel"


def reminder_next(event: CampaignEvent, day: dt.date) -> dt.date | None:
    """The next reminder day of an event from a day on (None when no more reminder)."""
    dates = sorted(event.due_on - dt.timedelta(days=n) for n in event.days_before)
    return next((d for d in dates if d >= day), None)


EVENT_COLUMNS: list[dict[str, Any]] = [
    {"name": "due", "label": "Échéance", "field": "due", "align": "left"},
    {"name": "start", "label": "Début", "field": "start", "align": "left"},
    {"name": "rule", "label": "Règle", "field": "rule", "align": "left", "classes": "whitespace-nowrap"},
    {"name": "title", "label": "Événement", "field": "title", "align": "left"},
    {"name": "audience", "label": "Public", "field": "audience", "align": "left"},
    {"name": "days", "label": "Relances", "field": "days", "align": "left"},
]


def event_row(e: CampaignEvent, sizes: dict[str, int]) -> dict[str, Any]:
    """A calendar event as a table row."""
    audience = f"{Audience.label_of(e.audience.value)} ({fr_number(sizes.get(e.audience.value, 0))})"
    if e.cc_role:
        audience += f" + {ContactRole.label_of(e.cc_role.value)}"
    return {"id": e.id, "due": fr_date(e.due_on), "start": fr_date(e.starts_on), "rule": e.rule_id, "title": e.title,
            "audience": audience,
            "days": ", ".join("le jour même" if d == 0 else f"J-{d}" for d in e.days_before) or "aucune (information)"}


REMINDER_ROLES = frozenset({Role.ADMIN, Role.AGENT, Role.LECTEUR})


@home_alert("outbox", roles=REMINDER_ROLES, order=90)
async def outbox_alerts() -> list[Alert]:
    """Mails the outbox could not send (SMTP refusal, too many attempts)."""
    counts = await outbox_counts()
    return [Alert("Courriels en échec dans la file d'envoi", counts.get("failed", 0), "/feuilles/outbox?status=failed",
                  "danger")]


@page("/relances", roles=REMINDER_ROLES, nav=Nav("Relances", "notifications_active", 10, "Relances"))
async def reminders_page(date: str = "") -> None:
    """Simulation of a day's reminders, template preview, outbox status and the campaign calendar."""
    cfg = settings_module.get()
    caller = await caller_for_page(Source.PAGE)
    try:
        day = parse_fr_date(date) if date else today()
        date_error = ""
    except ValueError as exc:
        day, date_error = today(), str(exc)
    planned, skipped = await plan_day(day)
    counts = await outbox_counts()
    with frame("Relances", active="/relances"):
        with ui.card().classes("w-full"):
            ui.label("Simulation : qui recevrait quoi").classes("text-lg font-semibold")
            with ui.row().classes("items-center gap-4"):
                box = ui.input("Jour des relances (JJ/MM/AAAA)", value=day.strftime("%d/%m/%Y")).props(
                    "outlined dense").classes("w-64")

                def simulate() -> None:
                    try:
                        chosen = parse_fr_date(box.value)
                    except ValueError as exc:
                        ui.notify(str(exc), type="negative")
                        return
                    ui.navigate.to(f"/relances?date={chosen.isoformat()}")

                ui.button("Simuler", icon="visibility", on_click=simulate)
                ui.label("Exemple : le 21/06/2024, 7 jours avant la fin des réservations de créneaux.").classes(
                    "text-sm text-grey-7")
            if date_error:
                ui.label(date_error).classes("text-negative")
            pending = sum(not p.already_queued for p in planned)
            receive = plural(len(planned), "établissement recevrait", "établissements recevraient")
            ui.label(f"Le {fr_date(day)} : {receive} un récapitulatif."
                     + (f" {plural(pending, 'courriel')} encore à envoyer." if planned else "")).classes("text-grey-8")
            if caller.role == Role.ADMIN and pending:
                ui.button(f"Envoyer les relances du {fr_date(day)}", icon="send",
                          on_click=lambda: send_dialog(day)).props("color=primary no-caps").mark("send-reminders")
            for line in skipped:
                ui.label(f"Écarté : {line}").classes("text-negative text-sm")
            if planned:
                ui.table(
                    columns=[{"name": "uai", "label": "UAI", "field": "uai", "align": "left"},
                             {"name": "name", "label": "Établissement", "field": "name", "align": "left"},
                             {"name": "to", "label": "Destinataires", "field": "to", "align": "left"},
                             {"name": "items", "label": "Échéances (la plus proche d'abord)", "field": "items",
                              "align": "left"},
                             {"name": "state", "label": "File", "field": "state", "align": "left"}],
                    rows=[{"uai": p.school.uai, "name": p.school.name, "to": ", ".join(p.recipients),
                           "items": " · ".join(f"{fr_date(i.due)} {i.rule_id} {i.title}"
                                               for i in p.digest.urgent_first),
                           "state": "déjà en file" if p.already_queued else "à mettre en file"} for p in planned],
                    row_key="uai", pagination={"rowsPerPage": 10},
                ).props("flat bordered dense wrap-cells").classes("w-full")
                ui.label("Aperçu du modèle avec des données réelles").classes("text-md font-semibold mt-4")
                by_uai = {p.school.uai: p for p in planned}
                preview = ui.column().classes("w-full")

                def show(uai: str) -> None:
                    p = by_uai[uai]
                    preview.clear()
                    with preview:
                        ui.label(f"Objet : {p.mail.subject}").classes("font-medium")
                        ui.label(f"À : {', '.join(p.recipients)}").classes("text-sm text-grey-8")
                        with ui.tabs() as tabs:
                            html_tab = ui.tab("HTML")
                            text_tab = ui.tab("Texte")
                        with ui.tab_panels(tabs, value=html_tab).classes("w-full"):
                            with ui.tab_panel(html_tab):
                                sandboxed_html(p.mail.html, "520px")
                            with ui.tab_panel(text_tab):
                                ui.code(p.mail.text, language="text").classes("w-full")

                ui.select({u: f"{u} · {p.school.name}" for u, p in by_uai.items()}, value=planned[0].school.uai,
                          label="Établissement", on_change=lambda e: show(e.value)).props("outlined dense").classes(
                    "w-96")
                show(planned[0].school.uai)

        with ui.card().classes("w-full"):
            ui.label("File d'envoi").classes("text-lg font-semibold")
            with ui.row().classes("gap-2"):
                for status in MailStatus:
                    color = {"pending": "orange-8", "sending": "blue-7", "sent": "green-7", "failed": "red-8"}[status]
                    ui.badge(f"{MailStatus.label_of(status.value)} : {fr_number(counts[status.value])}").props(
                        f"color={color}").classes("text-sm px-2 py-1")
            requeue = OUTBOX.action("requeue")
            if counts["failed"] and requeue is not None and requeue.offered_to(caller):
                async def retry() -> None:
                    ids = list(await OutboxMail.filter(status=MailStatus.FAILED).values_list("id", flat=True))
                    result = await attempt(run_action(OUTBOX, "requeue", ids, {}, caller.using(Source.ACTION)),
                                           "Rien n'a été remis en file")
                    if result is None:
                        return
                    ui.notify(f"{result.changed_rows} courriel(s) remis en file : le prochain passage les enverra.",
                              type="positive")
                    ui.navigate.reload()

                ui.button("Remettre en file les courriels en échec", icon="replay", on_click=retry).props(
                    "outline").mark("requeue")
            mails = await recent_mails(50)
            if mails:
                ui.table(
                    columns=[{"name": k, "label": label, "field": k, "align": "left"} for k, label in (
                        ("created", "Créé"), ("to", "Destinataires"), ("subject", "Objet"), ("status", "État"),
                        ("attempts", "Essais"), ("sent", "Envoyé le"), ("error", "Dernière erreur"))],
                    rows=[{"id": m.id, "created": fr_date(m.created_at), "to": ", ".join(m.recipient_list),
                           "subject": m.subject, "status": MailStatus.label_of(m.status.value), "attempts": m.attempts,
                           "sent": fr_date(m.sent_at), "error": m.last_error} for m in mails],
                    row_key="id", pagination={"rowsPerPage": 10},
                ).props("flat bordered dense wrap-cells").classes("w-full")
            else:
                ui.label("La file est vide.").classes("text-grey-7")
            ui.label(f"Serveur SMTP : {cfg.smtp_host}:{cfg.smtp_port} ({cfg.smtp_tls}). Envoi automatique toutes les "
                     f"{cfg.outbox_interval} s, relances chaque jour à {cfg.reminders_at}."
                     ).classes("text-sm text-grey-7")

        await calendar_card(caller)


def plural(n: int, singular: str, many: str = "") -> str:
    """« 1 courriel », « 3 courriels » (French, with the number spelled the French way)."""
    return f"{fr_number(n)} {singular if n <= 1 else (many or singular + 's')}"


async def send_dialog(day: dt.date) -> None:
    """Admins: queue the day's digests and send them now, after a fresh TOTP code, with a progress bar and the
    outbox's result; another instance holding the job lock sends them instead (said so)."""
    from jobs.reminders import run_reminders
    from jobs.runtime import send_outbox_now
    from pages.auth import confirm_step_up, current_user

    user = await current_user()
    if user is None or user.role != Role.ADMIN or not await confirm_step_up(user, "envoyer les relances"):
        return
    cfg = settings_module.get()
    with ui.dialog(value=True).props("persistent") as dialog, ui.card().classes("w-[32rem] gap-2"):
        ui.label(f"Relances du {fr_date(day)}").classes("text-lg font-semibold")
        bar = ui.linear_progress(value=0, show_value=False).classes("w-full")
        status = ui.label("Préparation des récapitulatifs…").classes("text-sm")
        result = ui.column().classes("w-full gap-1")
        close = ui.button("Fermer", on_click=lambda: (dialog.close(), ui.navigate.reload())).props("flat")
        close.set_visibility(False)
    report = await run_reminders(cfg, day, send=False)
    keys = [p.key for p in report.planned]
    total = max(1, len(keys))
    status.text = f"{plural(report.queued, 'courriel mis', 'courriels mis')} en file ; envoi…"

    async def watch() -> None:
        done = await OutboxMail.filter(key__in=keys).exclude(status=MailStatus.PENDING).count()
        bar.value = done / total
        status.text = f"Envoyés ou traités : {fr_number(done)} / {fr_number(len(keys))}"

    timer = ui.timer(0.5, watch)
    try:
        sent = await send_outbox_now(cfg)
    finally:
        timer.cancel()
    await watch()
    with result:
        if sent is None:
            ui.label("Une autre instance détient le verrou des tâches : elle enverra ces courriels à son prochain "
                     "passage (file d'envoi ci-dessous).").classes("text-orange-9")
        else:
            ui.label(f"Résultat : {sent.summary()}").classes("text-positive" if not sent.failed else "text-negative")
            for error in sent.errors[:5]:
                ui.label(error).classes("text-negative text-sm")
    close.set_visibility(True)


async def calendar_card(caller: Caller) -> None:
    """The campaign calendar of a year, editable (for the roles that may), and its copy to the next year."""
    if not CALENDAR.may_read(caller):
        return
    editable = CALENDAR.may_edit(caller)
    copy_action = CALENDAR.action("copy_next_year")
    events = await campaign_events()
    sizes = await audience_sizes()
    years = sorted({e.year for e in events}) or [settings_module.get().campaign_year]
    with ui.card().classes("w-full"):
        with ui.row().classes("items-center w-full"):
            ui.label("Calendrier de campagne").classes("text-lg font-semibold")
            ui.space()
            year_select = ui.select(years, value=settings_module.get().campaign_year
                                    if settings_module.get().campaign_year in years else years[0],
                                    label="Campagne").props("outlined dense").classes("w-40")

            async def copy() -> None:
                result = await attempt(run_action(CALENDAR, "copy_next_year", [], {"year": int(year_select.value)},
                                                  caller.using(Source.ACTION)), "Copie refusée")
                if result is None:
                    return
                ui.notify(result.message, type="positive")
                ui.navigate.reload()

            if copy_action is not None and copy_action.offered_to(caller):
                ui.button("Copier vers l'année suivante", icon="content_copy", on_click=copy).props(
                    "outline").mark("copy-year")
        table = ui.table(columns=EVENT_COLUMNS, rows=[], row_key="id").mark("calendrier").props(
            "flat bordered dense wrap-cells").classes("w-full")
        ui.label("Cliquez sur un événement pour le modifier." if editable else
                 "Consultation seule : votre rôle ne modifie pas le calendrier.").classes("text-sm text-grey-7")

        def fill() -> None:
            table.rows = [event_row(e, sizes) for e in events if e.year == year_select.value]

        year_select.on_value_change(lambda _: fill())
        fill()

        async def edit(e: Any) -> None:
            event = await CampaignEvent.get_or_none(id=e.args[1]["id"])
            if event is not None:
                await edit_dialog(event, caller)

        if editable:
            table.on("rowClick", edit)


async def edit_dialog(event: CampaignEvent, caller: Caller) -> None:
    """A dialog to change an event's dates, audience and reminder days; nothing saved on an error."""
    with ui.dialog() as dialog, ui.card().classes("w-[36rem]"):
        ui.label(f"{event.rule_id} · {event.title}").classes("text-lg font-semibold")
        title = ui.input("Intitulé", value=event.title).classes("w-full")
        with ui.row().classes("w-full no-wrap gap-4"):
            due = ui.input("Échéance (JJ/MM/AAAA)", value=fr_date(event.due_on)).classes("flex-1").mark("echeance")
            start = ui.input("Début (JJ/MM/AAAA, facultatif)", value=fr_date(event.starts_on)).classes("flex-1")
        audience = ui.select({a.value: Audience.label_of(a.value) for a in Audience}, value=event.audience.value,
                             label="Public").classes("w-full")
        days = ui.input("Relances : jours avant l'échéance (ex. 14, 7, 2, 0 ; vide = aucun courriel)",
                        value=", ".join(map(str, event.days_before))).classes("w-full")
        action = ui.textarea("À faire", value=event.action).classes("w-full")
        error = ui.label().classes("text-negative")

        async def save() -> None:
            try:
                values = {"title": title.value.strip() or event.title, "due_on": parse_fr_date(due.value),
                          "starts_on": parse_fr_date(start.value) if (start.value or "").strip() else None,
                          "audience": audience.value, "remind_days": days.value, "action": action.value}
                await apply_changes(CALENDAR, [RowChange(event.id, values, event.version)],
                                    caller.using(Source.PAGE), parsed=False)
            except SessionEnded:
                ui.navigate.to("/login")
                return
            except ValueError as exc:
                error.text = str(exc)
                return
            except WriteRefused as exc:
                error.text = " ; ".join(i.message for i in exc.issues[:5])
                return
            dialog.close()
            ui.notify("Événement enregistré.", type="positive")
            ui.navigate.reload()

        with ui.row():
            ui.button("Enregistrer", on_click=save)
            ui.button("Annuler", on_click=dialog.close).props("flat")
    dialog.open()


@page("/boite-demo", roles=REMINDER_ROLES,
      nav=Nav("Relances", "mark_email_unread", 40, "Boîte de démonstration", demo_only=True))
async def demo_box_page(m: str = "") -> None:
    """The demo mail box: what the local SMTP server received."""
    cfg = settings_module.get()
    folder = box_folder(cfg.data_dir)
    messages = list_messages(folder)
    with frame("Boîte de démonstration", active="/boite-demo"):
        if not cfg.is_demo:
            ui.label("La boîte de démonstration n'existe qu'en démonstration (RENTREE_ENV=demo) : en production, "
                     "les courriels partent vers le serveur SMTP_HOST ; leur état est sur la page Relances.").classes(
                "text-grey-8")
            return
        ui.label(f"Courriels reçus par le serveur SMTP local de démonstration (127.0.0.1:{cfg.smtp_port}) : "
                 "rien ne part vers les vrais établissements.").classes("text-grey-8")
        if not messages:
            ui.label("Aucun courriel reçu pour l'instant. Lancez `python app.py remind --date 2024-06-21` "
                     "ou attendez la relance quotidienne.").classes("text-grey-7")
            return
        selected = read_message(folder, m) if m else messages[0]
        with ui.row().classes("w-full gap-4 no-wrap items-start"):
            with ui.card().classes("w-80 shrink-0 p-0"):
                total = count_messages(folder)
                shown = f" ({fr_number(len(messages))} plus récents affichés)" if total > len(messages) else ""
                ui.label(f"{fr_number(total)} courriel(s){shown}").classes("px-4 pt-3 font-semibold")
                with ui.list().props("dense separator").classes("w-full max-h-[75vh] overflow-auto"):
                    for msg in messages:
                        active = selected is not None and msg.name == selected.name
                        with ui.item(on_click=lambda n=msg.name: ui.navigate.to(f"/boite-demo?m={n}")).props(
                                "clickable").classes("bg-blue-1" if active else ""):
                            with ui.item_section():
                                ui.item_label(msg.subject).classes("font-medium")
                                ui.item_label(f"{msg.date} · {msg.rcpt}").props("caption")
            with ui.card().classes("flex-1 min-w-0"):
                if selected is None:
                    ui.label("Courriel introuvable dans la boîte : choisissez-en un dans la liste.").classes(
                        "text-negative")
                    return
                ui.label(selected.subject).classes("text-lg font-semibold")
                with ui.grid(columns="auto 1fr").classes("gap-x-4 text-sm"):
                    for label, value in (("De", selected.sender), ("À", selected.rcpt), ("Date", selected.date),
                                         ("Message-ID", selected.message_id)):
                        ui.label(label).classes("text-grey-7")
                        ui.label(value).classes("font-mono break-all" if label == "Message-ID" else "break-words")
                with ui.tabs() as tabs:
                    html_tab = ui.tab("HTML")
                    text_tab = ui.tab("Texte")
                with ui.tab_panels(tabs, value=html_tab if selected.html else text_tab).classes("w-full"):
                    with ui.tab_panel(html_tab):
                        if selected.html:
                            sandboxed_html(selected.html, "660px")
                        else:
                            ui.label("Ce courriel n'a pas de partie HTML.").classes("text-grey-7")
                    with ui.tab_panel(text_tab):
                        ui.code(selected.text, language="text").classes("w-full")


CHART_DAYS = 30


async def _mails_per_day() -> ChartData:
    first = today() - dt.timedelta(days=CHART_DAYS - 1)
    since = dt.datetime.combine(first, dt.time(), tz())
    days = [first + dt.timedelta(days=i) for i in range(CHART_DAYS)]
    sent = dict.fromkeys(days, 0)
    failed = dict.fromkeys(days, 0)
    for row in await OutboxMail.filter(status=MailStatus.SENT, sent_at__gte=since).values_list("sent_at", flat=True):
        day = row.astimezone(tz()).date()
        if day in sent:
            sent[day] += 1
    for row in await OutboxMail.filter(status=MailStatus.FAILED, created_at__gte=since).values_list(
            "created_at", flat=True):
        day = row.astimezone(tz()).date()
        if day in failed:
            failed[day] += 1

    def link(category: int, serie: int) -> str:
        day = days[category].isoformat()
        return (f"/feuilles/outbox?status=sent&sent_at={day}" if serie == 0
                else f"/feuilles/outbox?status=failed&created_at={day}")

    return ChartData(categories=[d.strftime("%d/%m") for d in days],
                     series=[("Envoyés", [sent[d] for d in days]), ("En échec", [failed[d] for d in days])],
                     category_label="Jour", kind="line", link=link,
                     note=f"Les {CHART_DAYS} derniers jours : envoyés le jour de leur envoi, en échec le jour de leur "
                          "mise en file.")


@steering_chart("outbox.per_day", "Courriels envoyés et en échec par jour", roles=REMINDER_ROLES, order=90,
                description="Relances, liens d'accès et étapes des tickets passés par la file d'envoi.")
async def mails_chart() -> ChartData:
    """Mails sent and failed per day over the last 30 days (a small table: read at each page)."""
    return await _mails_per_day()
