"""The campaign calendar of the livret de rentrée 2024 (R-SLOT, R-BASKET, R-SEC, R-ORG), as data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from models.campaign import Audience, CampaignEvent, copy_to_next_year
from models.schools import ContactRole

D = dt.date
LIVRET_YEAR = 2024

# Each event names the livret rule it comes from. remind_days empty: shown in the calendar, no mail.
LIVRET_2024: list[dict[str, Any]] = [
    {"slug": "slot-booking-open", "rule_id": "R-SLOT-1", "starts_on": D(2024, 5, 27), "due_on": D(2024, 5, 27),
     "title": "Ouverture de la réservation des créneaux de livraison des PC",
     "action": "Les membres du groupe « La Poste » de l'établissement peuvent réserver le créneau de livraison.",
     "where": "Outil de réservation La Poste (lien envoyé à l'adresse ce.)", "audience": Audience.NUMERIQUE,
     "remind_days": "0"},
    {"slug": "slot-booking-close", "rule_id": "R-SLOT-1", "starts_on": D(2024, 5, 27), "due_on": D(2024, 6, 28),
     "title": "Fin de la réservation des créneaux de livraison des PC",
     "action": "Réservez votre créneau de livraison (membres du groupe « La Poste » uniquement).",
     "where": "Outil de réservation La Poste", "audience": Audience.NUMERIQUE, "remind_days": "14,7,2,0"},
    {"slug": "slot-delivery-window", "rule_id": "R-SLOT-3", "starts_on": D(2024, 9, 9), "due_on": D(2024, 10, 2),
     "title": "Fenêtre de livraison des PC (09/09 → 02/10)",
     "action": "Prévoyez un agent pour réceptionner la livraison, signer et tamponner le bon de livraison.",
     "where": "Dans l'établissement", "audience": Audience.NUMERIQUE, "remind_days": ""},
    {"slug": "slot-delivery-start", "rule_id": "R-SLOT-3", "starts_on": D(2024, 9, 9), "due_on": D(2024, 9, 9),
     "title": "Début des livraisons des PC",
     "action": "Vérifiez que les bases SIECLE et STS sont remontées 7 jours ouvrés avant votre livraison "
               "et qu'un agent pourra signer le bon de livraison.",
     "where": "SI académiques (SIECLE, STS)", "audience": Audience.NUMERIQUE, "remind_days": "7,2"},
    {"slug": "basket-orders-open", "rule_id": "R-BASKET-6", "starts_on": None, "due_on": D(2024, 6, 26),
     "title": "Ouverture des commandes de manuels et ressources",
     "action": "Les CRRE-PRESCRIPTEUR préparent les paniers, les CRRE-VALIDEUR valident les commandes.",
     "where": "Ressources.num (Monlycee.net)", "audience": Audience.NUMERIQUE, "remind_days": "7,0"},
    {"slug": "basket-returns-paper", "rule_id": "R-BASKET-6", "starts_on": None, "due_on": D(2024, 9, 17),
     "title": "Dernier jour de retour des manuels et consommables papier commandés avant le 31/08",
     "action": "Retournez les manuels et consommables papier en trop avant cette date.",
     "where": "Ressources.num (Monlycee.net)", "audience": Audience.ALL, "remind_days": "7,2"},
    {"slug": "basket-orders-close", "rule_id": "R-BASKET-6", "starts_on": None, "due_on": D(2024, 9, 17),
     "title": "Fermeture des commandes de manuels et consommables",
     "action": "Validez vos paniers : une licence numérique achetée non utilisée est perdue.",
     "where": "Ressources.num (Monlycee.net)", "audience": Audience.NUMERIQUE, "remind_days": "14,7,2,0"},
    {"slug": "basket-orders-reopen", "rule_id": "R-BASKET-6", "starts_on": None, "due_on": D(2024, 9, 19),
     "title": "Réouverture des commandes pour les élèves nouvellement arrivés",
     "action": "Commandez les manuels des élèves arrivés depuis la fermeture des commandes.",
     "where": "Ressources.num (Monlycee.net)", "audience": Audience.NUMERIQUE, "remind_days": "0"},
    {"slug": "basket-returns-late", "rule_id": "R-BASKET-6", "starts_on": None, "due_on": D(2024, 10, 18),
     "title": "Dernier jour de retour des manuels commandés avant le 30/09",
     "action": "Retournez les manuels commandés avant le 30/09 dont vous n'avez pas l'usage.",
     "where": "Ressources.num (Monlycee.net)", "audience": Audience.NUMERIQUE, "remind_days": "7,2"},
    {"slug": "gar-reset", "rule_id": "R-BASKET-9", "starts_on": None, "due_on": D(2024, 8, 15),
     "title": "Réinitialisation des affectations du GAR",
     "action": "Le responsable d'affectation GAR (RESP-AFFECT-GAR) doit (ré)affecter tous les manuels et "
               "toutes les ressources aux élèves et enseignants.",
     "where": "Console d'affectation du GAR (Monlycee.net)", "audience": Audience.NUMERIQUE,
     "cc_role": ContactRole.RESP_AFFECT_GAR, "remind_days": "7,0"},
    {"slug": "directories-start", "rule_id": "R-ORG-1", "starts_on": D(2024, 8, 17), "due_on": D(2024, 8, 17),
     "title": "Début de la transmission des annuaires académiques (17/08 → 04/09)",
     "action": "Jusqu'au 04/09, une personne en mutation peut être rattachée à deux établissements.",
     "where": "Monlycee.net", "audience": Audience.ALL, "remind_days": ""},
    {"slug": "directories-end", "rule_id": "R-ORG-1", "starts_on": D(2024, 8, 17), "due_on": D(2024, 9, 4),
     "title": "Fin de la transmission des annuaires académiques",
     "action": "Vérifiez les rattachements des personnels mutés (plus de double rattachement après cette date).",
     "where": "Monlycee.net", "audience": Audience.ALL, "remind_days": ""},
    # R-SEC-2 says "twice per school year" without dates: these two are the team's choice, editable.
    {"slug": "password-renewal-1", "rule_id": "R-SEC-2", "starts_on": None, "due_on": D(2024, 10, 1),
     "title": "Renouvellement des mots de passe (1er semestre)",
     "action": "Les usagers renouvellent leur mot de passe : un message flash les prévient sur Monlycee.net.",
     "where": "Monlycee.net", "audience": Audience.ALL, "remind_days": "",
     "note": "Date non fixée par le livret (deux renouvellements par année scolaire) : à ajuster."},
    {"slug": "password-renewal-2", "rule_id": "R-SEC-2", "starts_on": None, "due_on": D(2025, 2, 3),
     "title": "Renouvellement des mots de passe (2d semestre)",
     "action": "Les usagers renouvellent leur mot de passe : un message flash les prévient sur Monlycee.net.",
     "where": "Monlycee.net", "audience": Audience.ALL, "remind_days": "",
     "note": "Date non fixée par le livret (deux renouvellements par année scolaire) : à ajuster."},
]


async def seed_calendar(until: dt.date | None = None) -> int:
    """Create the missing livret 2024 events, then copy them forward until reminders are due after `until`."""
    created = 0
    for event in LIVRET_2024:
        _, was_created = await CampaignEvent.get_or_create(year=LIVRET_YEAR, slug=event["slug"], defaults=event)
        created += int(was_created)
    if until is not None:
        year = LIVRET_YEAR
        while (not await CampaignEvent.filter(due_on__gte=until).exclude(remind_days="").exists()
               and year < until.year + 1):
            created += await copy_to_next_year(year)
            year += 1
    return created


async def ensure_calendar(today: dt.date) -> int:
    """Seed the livret calendar when the database has none (fresh install), up to a campaign after today."""
    if await CampaignEvent.exists():
        return 0
    return await seed_calendar(until=today)
