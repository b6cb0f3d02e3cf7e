"""Schools registry: UAI rules, académies, generic addresses, contacts and the support directory."""

from __future__ import annotations

import re

from tortoise import fields
from tortoise.exceptions import ValidationError
from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.models import Model

from models.vocab import Labeled

# --- R-SCH-1: UAI and its control letter ---------------------------------------------------------

UAI_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_UAI_SHAPE = re.compile(r"^[0-9]{7}[A-Z]$")


class InvalidUAI(ValueError):
    """A UAI that is malformed or whose control letter is wrong; the message is in French."""


def uai_letter(digits: str) -> str:
    """Control letter of the 7 digits of a UAI (R-SCH-1)."""
    return UAI_LETTERS[int(digits) % 23]


def normalize_uai(raw: object) -> str:
    """Return the UAI in upper case, or raise InvalidUAI saying what is wrong (R-SCH-1)."""
    if raw is None or str(raw).strip() == "":
        raise InvalidUAI("UAI manquant : saisissez 7 chiffres suivis de la lettre de contrôle (ex. 0750650Z).")
    text = str(raw).strip().upper()
    if _UAI_SHAPE.match(text):
        expected = uai_letter(text[:7])
        if text[7] != expected:
            raise InvalidUAI(
                f"UAI « {text} » invalide : pour {text[:7]}, la lettre de contrôle doit être « {expected} » "
                f"(soit {text[:7]}{expected})."
            )
        return text
    if " " in text or "\t" in text:
        raise InvalidUAI(f"UAI « {text} » invalide : il ne doit pas contenir d'espace (7 chiffres + 1 lettre).")
    if re.fullmatch(r"[0-9]{7}", text):
        letter = uai_letter(text)
        raise InvalidUAI(
            f"UAI « {text} » incomplet : il manque la lettre de contrôle, qui doit être « {letter} » "
            f"(soit {text}{letter})."
        )
    raise InvalidUAI(
        f"UAI « {text} » invalide : attendu 7 chiffres suivis d'une lettre de contrôle (ex. 0750650Z), "
        f"{len(text)} caractère(s) reçu(s)."
    )


def is_valid_uai(raw: object) -> bool:
    """True when the value is a well-formed UAI with the right control letter."""
    try:
        normalize_uai(raw)
    except InvalidUAI:
        return False
    return True


# --- R-SCH-2 / R-SCH-3: académie and generic address --------------------------------------------

class Academie(Labeled):
    """The three académies of Île-de-France."""

    PARIS = "paris", "Paris"
    CRETEIL = "creteil", "Créteil"
    VERSAILLES = "versailles", "Versailles"


DEPARTEMENT_ACADEMIE: dict[str, Academie] = {
    "75": Academie.PARIS,
    "77": Academie.CRETEIL, "93": Academie.CRETEIL, "94": Academie.CRETEIL,
    "78": Academie.VERSAILLES, "91": Academie.VERSAILLES, "92": Academie.VERSAILLES, "95": Academie.VERSAILLES,
}
DEPARTEMENT_LABELS: dict[str, str] = {
    "75": "Paris", "77": "Seine-et-Marne", "78": "Yvelines", "91": "Essonne", "92": "Hauts-de-Seine",
    "93": "Seine-Saint-Denis", "94": "Val-de-Marne", "95": "Val-d'Oise",
}


def academie_for_departement(departement: object) -> Academie:
    """Académie of an Île-de-France département (R-SCH-2); ValueError in French otherwise."""
    code = str(departement).strip().lstrip("0") if departement is not None else ""
    code = code.zfill(2)
    if code not in DEPARTEMENT_ACADEMIE:
        raise ValueError(
            f"Département « {departement} » hors Île-de-France : attendu 75, 77, 78, 91, 92, 93, 94 ou 95."
        )
    return DEPARTEMENT_ACADEMIE[code]


def departement_of_uai(uai: str) -> str:
    """Département code carried by a UAI (its digits 2-3: 0750650Z → 75)."""
    return normalize_uai(uai)[1:3]


def generic_email(uai: str, academie: str | Academie | None = None) -> str:
    """The school's generic address ce.<uai>@ac-<académie>.fr (R-SCH-3)."""
    code = normalize_uai(uai)
    acad = Academie(academie) if academie else academie_for_departement(code[1:3])
    return f"ce.{code.lower()}@ac-{acad.value}.fr"


# --- R-SCH-4: kinds of schools, tracks and levels -----------------------------------------------

class SchoolType(Labeled):
    """Kind of lycée."""

    LEGT = "LEGT", "Lycée d'enseignement général et technologique"
    LPO = "LPO", "Lycée polyvalent"
    LP = "LP", "Lycée professionnel"
    LGT = "LGT", "Lycée général et technologique"
    EREA = "EREA", "Établissement régional d'enseignement adapté"
    LA = "LA", "Lycée agricole"


# The tracks a kind of lycée teaches when nothing else is known (a new school from the official list, R-SCH-4).
TYPE_TRACKS: dict[str, tuple[str, ...]] = {
    "LEGT": ("generale", "technologique"), "LGT": ("generale", "technologique"),
    "LPO": ("generale", "technologique", "professionnelle"), "LP": ("professionnelle",),
    "EREA": ("professionnelle",), "LA": ("generale", "technologique", "professionnelle"),
}


class Mode(Labeled):
    """Digital (textbooks and laptops) or paper school (R-SCH-4)."""

    NUMERIQUE = "numerique", "Numérique"
    PAPIER = "papier", "Papier"


class Track(Labeled):
    """Voie (R-SCH-4)."""

    GENERALE = "generale", "Générale"
    TECHNOLOGIQUE = "technologique", "Technologique"
    PROFESSIONNELLE = "professionnelle", "Professionnelle"


class Level(Labeled):
    """Niveau (R-SCH-4)."""

    SECONDE = "2de", "2de"
    PREMIERE = "1re", "1re"
    TERMINALE = "Tle", "Terminale"
    BMA1 = "BMA1", "BMA 1re année"
    BMA2 = "BMA2", "BMA 2e année"
    CAP1 = "CAP1", "CAP 1re année"
    CAP2 = "CAP2", "CAP 2e année"
    TROISIEME_PM = "3PM", "3e prépa-métiers"
    MCFC = "MCFC", "MC / FC"


TRACK_LEVELS: dict[Track, tuple[Level, ...]] = {
    Track.GENERALE: (Level.SECONDE, Level.PREMIERE, Level.TERMINALE),
    Track.TECHNOLOGIQUE: (Level.SECONDE, Level.PREMIERE, Level.TERMINALE),
    Track.PROFESSIONNELLE: (Level.SECONDE, Level.PREMIERE, Level.TERMINALE, Level.BMA1, Level.BMA2,
                            Level.CAP1, Level.CAP2, Level.TROISIEME_PM, Level.MCFC),
}


def check_track_level(track: str, level: str) -> None:
    """Raise ValueError in French when a level does not exist in a track (R-SCH-4)."""
    t, lv = Track(track), Level(level)
    if lv not in TRACK_LEVELS[t]:
        allowed = ", ".join(Level.label_of(x.value) for x in TRACK_LEVELS[t])
        raise ValueError(f"Le niveau « {Level.label_of(lv.value)} » n'existe pas en voie {Track.label_of(t.value)} "
                         f"(niveaux possibles : {allowed}).")


# --- R-SCH-5: per-school roles ---------------------------------------------------------------------

class ContactRole(Labeled):
    """Roles a person holds in a school (R-SCH-5)."""

    CHEF = "chef_etablissement", "Chef d'établissement"
    COORDONNATEUR = "coordonnateur_numerique", "Coordonnateur numérique"
    ADML = "adml", "ADML (administrateur local Monlycee.net)"
    RESP_AFFECT_GAR = "resp_affect_gar", "RESP-AFFECT-GAR"
    LA_POSTE = "groupe_la_poste", "Groupe « La Poste »"
    CRRE_PRESCRIPTEUR = "crre_prescripteur", "CRRE-PRESCRIPTEUR"
    CRRE_VALIDEUR = "crre_valideur", "CRRE-VALIDEUR"
    RRUPN = "rrupn", "RRUPN"
    # R-TICKET-3: heads reach the maintenance tickets by default, coordinators once this right is granted to them.
    TICKETS = "acces_tickets", "Accès aux tickets de maintenance (accordé sur demande)"


_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


def normalize_email(raw: object) -> str:
    """Lower-cased e-mail address, or ValueError in French."""
    text = str(raw or "").strip().lower()
    if not _EMAIL.match(text):
        raise ValueError(f"Adresse e-mail « {raw} » invalide (attendu nom@domaine.fr).")
    return text


def _validate_uai_field(value: str) -> None:
    try:
        normalize_uai(value)
    except InvalidUAI as exc:
        raise ValidationError(str(exc)) from None


# --- Models ----------------------------------------------------------------------------------------

class School(Model):
    """A public lycée, identified by its UAI (R-SCH-1 … R-SCH-7)."""

    id = fields.IntField(primary_key=True)
    uai = fields.CharField(max_length=8, unique=True, validators=[_validate_uai_field])
    name = fields.CharField(max_length=200)
    type = fields.CharEnumField(SchoolType, max_length=8, default=SchoolType.LPO)
    departement = fields.CharField(max_length=2, db_index=True)
    academie = fields.CharEnumField(Academie, max_length=12, db_index=True)
    commune = fields.CharField(max_length=120, default="")
    postal_code = fields.CharField(max_length=5, default="")
    mode = fields.CharEnumField(Mode, max_length=10, default=Mode.NUMERIQUE)
    track_generale = fields.BooleanField(default=False)
    track_technologique = fields.BooleanField(default=False)
    track_professionnelle = fields.BooleanField(default=False)
    csn_deployed = fields.BooleanField(default=False)
    wifi_mdm_configured = fields.BooleanField(default=False)
    wifi_ssid = fields.CharField(max_length=64, default="")
    wifi_code_changed = fields.BooleanField(default=False)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "school"
        ordering = ["uai"]
        indexes = (("academie", "name"),)

    def __str__(self) -> str:
        return f"{self.uai} {self.name}"

    @property
    def generic_email(self) -> str:
        """ce.<uai>@ac-<académie>.fr (R-SCH-3)."""
        return generic_email(self.uai, self.academie)

    @property
    def wifi_needs_attention(self) -> bool:
        """Flag of R-SCH-7: Wi-Fi missing from the MDM, or its code changed after preparation."""
        return (not self.wifi_mdm_configured) or self.wifi_code_changed

    @property
    def tracks(self) -> list[Track]:
        """The tracks the school teaches (R-SCH-4)."""
        return [t for t, on in ((Track.GENERALE, self.track_generale),
                                (Track.TECHNOLOGIQUE, self.track_technologique),
                                (Track.PROFESSIONNELLE, self.track_professionnelle)) if on]

    async def save(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        """Normalise the UAI and derive département and académie before saving (R-SCH-1, R-SCH-2)."""
        self.uai = normalize_uai(self.uai)
        self.departement = self.uai[1:3]
        self.academie = academie_for_departement(self.departement)
        await super().save(*args, **kwargs)  # type: ignore[arg-type]


class Enrolment(Model):
    """Number of students of a school per track and level (for budgets, R-BASKET-1)."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField(
        "models.School", related_name="enrolments", on_delete=fields.CASCADE)
    track = fields.CharEnumField(Track, max_length=16)
    level = fields.CharEnumField(Level, max_length=8)
    students = fields.IntField(default=0)

    class Meta:
        table = "enrolment"
        unique_together = (("school", "track", "level"),)


class Contact(Model):
    """A person of a school with an e-mail (R-SCH-5), possibly also in another school (R-ORG-1)."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField(
        "models.School", related_name="contacts", on_delete=fields.CASCADE)
    full_name = fields.CharField(max_length=160)
    email = fields.CharField(max_length=254, db_index=True)
    until = fields.DateField(null=True)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "contact"
        unique_together = (("school", "email"),)

    async def save(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        """Normalise the e-mail before saving."""
        self.email = normalize_email(self.email)
        await super().save(*args, **kwargs)  # type: ignore[arg-type]


class ContactRoleAssignment(Model):
    """One role held by a contact in its school (R-SCH-5)."""

    id = fields.IntField(primary_key=True)
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="roles", on_delete=fields.CASCADE)
    role = fields.CharEnumField(ContactRole, max_length=32, db_index=True)
    version = fields.IntField(default=1)

    class Meta:
        table = "contact_role"
        unique_together = (("contact", "role"),)


class SupportDesk(Model):
    """A support desk of the directory (R-ORG-3), generic desks only, never a named person."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120, unique=True)
    topic = fields.CharField(max_length=200, default="")
    audience = fields.CharField(max_length=200, default="")
    hours = fields.CharField(max_length=120, default="")
    phone = fields.CharField(max_length=40, default="")
    email = fields.CharField(max_length=254, default="")
    address = fields.CharField(max_length=200, default="")
    do_not_share = fields.BooleanField(default=False)
    version = fields.IntField(default=1)

    class Meta:
        table = "support_desk"
        ordering = ["name"]


# --- Queries the pages use -------------------------------------------------------------------------

SCHOOL_SORTS: dict[str, str] = {
    "uai": "uai", "name": "name", "type": "type", "academie": "academie", "commune": "commune",
    "departement": "departement",
}


async def search_schools(query: str = "", *, sort: str = "uai", descending: bool = False,
                         offset: int = 0, limit: int = 50) -> tuple[list[School], int]:
    """One page of schools matching a free-text query (UAI, name, commune), with the total count."""
    qs = School.all()
    text = query.strip()
    if text:
        qs = qs.filter(Q(uai__icontains=text) | Q(name__icontains=text) | Q(commune__icontains=text))
    column = SCHOOL_SORTS.get(sort, "uai")
    total = await qs.count()
    rows = await qs.order_by(f"-{column}" if descending else column, "uai").offset(offset).limit(limit)
    return rows, total


async def get_school(uai: str) -> School | None:
    """The school of a UAI (already normalised), or None."""
    return await School.get_or_none(uai=uai)


async def school_contacts(school: School) -> list[tuple[Contact, list[str]]]:
    """The school's contacts, each with its role codes, sorted by name."""
    contacts = await Contact.filter(school=school).order_by("full_name").prefetch_related("roles")
    return [(c, sorted(r.role.value for r in c.roles)) for c in contacts]


async def contacts_with_role(school: School, role: ContactRole) -> list[Contact]:
    """Contacts of a school holding a role (e.g. the « La Poste » group for bookings)."""
    return await Contact.filter(school=school, roles__role=role).distinct().order_by("full_name")


async def school_overview() -> dict[str, object]:
    """Key figures of the registry for the home page: counts by académie and flags to look at."""
    by_academie = {row["academie"]: row["n"] for row in await School.all().group_by("academie")
                   .annotate(n=Count("id")).values("academie", "n")}
    return {
        "total": sum(by_academie.values()),
        "by_academie": {str(k): v for k, v in by_academie.items()},
        "wifi_attention": await School.filter(Q(wifi_mdm_configured=False) | Q(wifi_code_changed=True)).count(),
        "csn": await School.filter(csn_deployed=True).count(),
        "papier": await School.filter(mode=Mode.PAPIER).count(),
    }


async def wifi_attention_schools(limit: int = 10) -> list[School]:
    """Schools whose Wi-Fi is missing from the MDM or changed after preparation (R-SCH-7)."""
    return await School.filter(Q(wifi_mdm_configured=False) | Q(wifi_code_changed=True)).order_by(
        "uai").limit(limit)


async def support_desks() -> list[SupportDesk]:
    """The support directory (R-ORG-3)."""
    return await SupportDesk.all().order_by("name")
