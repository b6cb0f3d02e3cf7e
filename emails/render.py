"""Building mail from Jinja2 templates (HTML + plain text, French), kept apart from sending."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from models.reminders import PendingItem, SchoolDigest
from models.schools import Academie

TEMPLATES = Path(__file__).resolve().parent / "templates"
DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre"]


@dataclass(frozen=True)
class BuiltMail:
    """A mail ready to queue: subject, plain text and HTML bodies."""

    subject: str
    text: str
    html: str


def fr_long_date(day: dt.date) -> str:
    """« vendredi 28 juin 2024 »."""
    first = "1er" if day.day == 1 else str(day.day)
    return f"{DAYS[day.weekday()]} {first} {MONTHS[day.month - 1]} {day.year}"


def fr_in_days(due: dt.date, today: dt.date) -> str:
    """« aujourd'hui », « demain », « dans 7 jours »."""
    days = (due - today).days
    if days <= 0:
        return "aujourd'hui"
    return "demain" if days == 1 else f"dans {days} jours"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2.html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["date_fr"] = lambda d: d.strftime("%d/%m/%Y")
    env.filters["long_date_fr"] = fr_long_date
    return env


_ENV = _environment()


def render_digest(digest: SchoolDigest, today: dt.date, app_url: str = "") -> BuiltMail:
    """The daily digest of one school: every item due for reminding, most urgent first."""
    items: list[PendingItem] = digest.urgent_first
    school = digest.school
    context = {
        "school": school, "academie": Academie.label_of(school.academie.value, ""), "today": today,
        "items": [{"item": i, "in_days": fr_in_days(i.due, today)} for i in items],
        "count": len(items), "app_url": app_url,
    }
    first = items[0]
    if len(items) == 1:
        subject = f"Rappel : {first.title} – échéance le {first.due:%d/%m/%Y} ({school.uai})"
    else:
        subject = (f"Rappel : {len(items)} échéances, la plus proche le {first.due:%d/%m/%Y} "
                   f"– {school.name} ({school.uai})")
    return BuiltMail(
        subject=subject,
        text=_ENV.get_template("digest.txt").render(context),
        html=_ENV.get_template("digest.html").render(context),
    )


def render_access_link(name: str, schools: list[tuple[str, str]], url: str, form_url: str, minutes: int,
                       until: str) -> BuiltMail:
    """The mail of a school access link: to the contact's own address only (never the generic ce. one)."""
    context = {"name": name or "Madame, Monsieur", "schools": [{"uai": u, "name": n} for u, n in schools],
               "url": url, "form_url": form_url, "minutes": minutes, "until": until}
    first = schools[0][1] if schools else "votre établissement"
    return BuiltMail(
        subject=f"Votre lien d'accès à l'espace de {first} (valable {minutes} minutes)",
        text=_ENV.get_template("access_link.txt").render(context),
        html=_ENV.get_template("access_link.html").render(context),
    )
