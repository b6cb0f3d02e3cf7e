"""The home page steers (issue 15): alerts of every area by role, what is due in 14 days and what is late."""

from __future__ import annotations

import datetime as dt

from nicegui import ui
from nicegui.testing import User

from models.outbox import MailStatus, OutboxMail
from models.reminders import _RULES, PendingItem, ReminderRule, register
from tests.factories import login, make_school


async def test_alerts_by_role_and_what_is_due_or_late(user: User) -> None:
    school = await make_school(wifi_mdm_configured=False)
    await OutboxMail.create(key="essai:home", recipients=school.generic_email, subject="Essai", body_text="x",
                            message_id="<h@x>", status=MailStatus.FAILED, attempts=10, last_error="550")
    today = dt.date.today()

    async def pending(start: dt.date, horizon: dt.date) -> list[PendingItem]:
        items = [PendingItem(school, today - dt.timedelta(days=3), "R-SLOT-1", "Réserver", "Réserver."),
                 PendingItem(school, today + dt.timedelta(days=5), "R-SLOT-2", "Listes", "Déposer.")]
        return [i for i in items if start <= i.due <= horizon]

    register(ReminderRule(code="zz.home", label="Essai de suivi", list_pending=pending, url="/feuilles/schools"))
    try:
        await login(user, "agent")
        await user.open("/")
        await user.should_see("Courriels en échec dans la file d'envoi")
        await user.should_see("Wi-Fi à configurer ou à reconnecter dans le MDM (R-SCH-7)")
        table = next(t for t in user.find(ui.table).elements if t.columns[0]["name"] == "rule")
        row = next(r for r in table.rows if r["rule"] == "Essai de suivi")
        assert (row["soon"], row["late"], row["url"]) == ("1", "1", "/feuilles/schools")
        await user.http_client.get("/logout")
        await login(user, "maintenance")
        await user.open("/")
        await user.should_see("Wi-Fi à configurer")
        await user.should_not_see("Courriels en échec")  # the outbox is the Région team's
    finally:
        _RULES.pop("zz.home", None)
