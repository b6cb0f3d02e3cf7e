"""Rules of the schools registry: R-SCH-1 … R-SCH-7, R-ORG-1, R-ORG-3."""

from __future__ import annotations

import csv

import pytest
from tortoise.exceptions import IntegrityError

from models.schools import (
    Academie,
    Contact,
    ContactRole,
    InvalidUAI,
    School,
    academie_for_departement,
    check_track_level,
    contacts_with_role,
    generic_email,
    normalize_uai,
    uai_letter,
)
from tests.conftest import shared_file
from tests.factories import make_contact, make_school

# --- R-SCH-1 ---------------------------------------------------------------------------------------

def test_r_sch_1_control_letter_of_known_uais() -> None:
    assert uai_letter("0750650") == "Z"  # 750650 % 23 == 22
    assert normalize_uai("0750650Z") == "0750650Z"
    # Real UAIs of public lycées (open data): the rule gives their letters.
    for uai in ("0750419Y", "0750428H", "0750436S", "0750463W"):
        assert uai_letter(uai[:7]) == uai[7]


def test_r_sch_1_lower_case_and_outer_spaces_are_normalised() -> None:
    assert normalize_uai("0750650z") == "0750650Z"
    assert normalize_uai("  0750650Z\t") == "0750650Z"


@pytest.mark.parametrize(
    ("raw", "expected_in_message"),
    [
        ("0750650W", "la lettre de contrôle doit être « Z »"),
        ("0750650", "il manque la lettre de contrôle, qui doit être « Z »"),
        ("0750 650Z", "ne doit pas contenir d'espace"),
        ("075065Z", "attendu 7 chiffres suivis d'une lettre"),
        ("07506500Z", "9 caractère(s)"),
        ("075065OZ", "attendu 7 chiffres"),
        ("", "UAI manquant"),
        (None, "UAI manquant"),
    ],
)
def test_r_sch_1_wrong_uais_are_refused_with_a_french_message(raw: object, expected_in_message: str) -> None:
    with pytest.raises(InvalidUAI) as info:
        normalize_uai(raw)
    assert expected_in_message in str(info.value)


def test_r_sch_1_letters_i_o_q_are_never_control_letters() -> None:
    letters = {uai_letter(f"{n:07d}") for n in range(0, 23 * 50)}
    assert letters == set("ABCDEFGHJKLMNPRSTUVWXYZ")
    assert not {"I", "O", "Q"} & letters


def test_r_sch_1_r_sch_2_real_lycees_of_ile_de_france_validate() -> None:
    """The 452 real public lycées: every UAI validates and the académie derived from the département matches."""
    path = shared_file("data/idf_lycees_publics_2021-2022.csv")
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 452
    names = {"PARIS": Academie.PARIS, "CRETEIL": Academie.CRETEIL, "VERSAILLES": Academie.VERSAILLES}
    for row in rows:
        assert normalize_uai(row["uai"]) == row["uai"], row
        assert academie_for_departement(row["code_departement"]) is names[row["academie"]], row
        assert row["uai"][1:3] == row["code_departement"].zfill(2), row
        assert generic_email(row["uai"]).endswith(f"@ac-{names[row['academie']].value}.fr")


# --- R-SCH-2 / R-SCH-3 ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("dep", "academie"),
    [("75", "paris"), ("77", "creteil"), ("93", "creteil"), ("94", "creteil"), ("78", "versailles"),
     ("91", "versailles"), ("92", "versailles"), ("95", "versailles")],
)
def test_r_sch_2_academie_from_departement(dep: str, academie: str) -> None:
    assert academie_for_departement(dep).value == academie


def test_r_sch_2_departement_outside_idf_is_refused() -> None:
    with pytest.raises(ValueError, match="hors Île-de-France"):
        academie_for_departement("69")


def test_r_sch_3_generic_address() -> None:
    assert generic_email("0750650Z") == "ce.0750650z@ac-paris.fr"
    digits = "0932000"
    assert generic_email(digits + uai_letter(digits)) == f"ce.{digits}{uai_letter(digits).lower()}@ac-creteil.fr"


async def test_r_sch_1_r_sch_2_r_sch_3_school_save_normalises_and_derives(db: str) -> None:
    digits = "0910001"
    school = School(uai=(digits + uai_letter(digits)).lower(), name="Lycée test")
    await school.save()
    fresh = await School.get(id=school.id)
    assert fresh.uai == digits + uai_letter(digits)
    assert fresh.departement == "91"
    assert fresh.academie is Academie.VERSAILLES
    assert fresh.generic_email == f"ce.{fresh.uai.lower()}@ac-versailles.fr"


async def test_r_sch_1_school_with_wrong_uai_is_not_saved(db: str) -> None:
    with pytest.raises(InvalidUAI, match="lettre de contrôle"):
        await School(uai="0750650W", name="X").save()
    assert await School.all().count() == 0


async def test_r_sch_1_uai_is_unique(db: str) -> None:
    await School(uai="0750650Z", name="A").save()
    with pytest.raises(IntegrityError):
        await School(uai="0750650z", name="B").save()


# --- R-SCH-4 … R-SCH-7 ------------------------------------------------------------------------------

def test_r_sch_4_levels_belong_to_tracks() -> None:
    check_track_level("professionnelle", "CAP1")
    check_track_level("generale", "Tle")
    with pytest.raises(ValueError, match="n'existe pas en voie Générale"):
        check_track_level("generale", "CAP1")


async def test_r_sch_6_r_sch_7_flags(db: str) -> None:
    ok = await make_school(csn_deployed=True, wifi_mdm_configured=True, wifi_ssid="LYC")
    missing = await make_school(wifi_mdm_configured=False)
    changed = await make_school(wifi_mdm_configured=True, wifi_code_changed=True)
    assert ok.csn_deployed and not ok.wifi_needs_attention
    assert missing.wifi_needs_attention
    assert changed.wifi_needs_attention


# --- R-SCH-5 / R-ORG-1 ------------------------------------------------------------------------------

async def test_r_sch_5_contacts_hold_roles(db: str) -> None:
    school = await make_school()
    poste = await make_contact(school, [ContactRole.LA_POSTE, ContactRole.COORDONNATEUR])
    await make_contact(school, [ContactRole.CHEF])
    found = await contacts_with_role(school, ContactRole.LA_POSTE)
    assert [c.id for c in found] == [poste.id]


async def test_r_org_1_a_person_may_hold_roles_in_two_schools(db: str) -> None:
    a, b = await make_school(), await make_school(departement="93")
    await make_contact(a, [ContactRole.COORDONNATEUR], email="Claire.Martin@ac-paris.fr")
    await make_contact(b, [ContactRole.COORDONNATEUR], email="claire.martin@ac-paris.fr")
    assert await Contact.filter(email="claire.martin@ac-paris.fr").count() == 2
    with pytest.raises(IntegrityError):
        await make_contact(a, [], email="claire.martin@ac-paris.fr")


async def test_contact_email_is_validated(db: str) -> None:
    school = await make_school()
    with pytest.raises(ValueError, match="Adresse e-mail"):
        await make_contact(school, [], email="pas-une-adresse")
