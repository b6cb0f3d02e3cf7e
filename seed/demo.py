"""Demo data: plausible schools over the 8 départements, their contacts and enrolments, the support desks.

Generated from a fixed random seed (same data on every machine); it copies no real list.
Idempotent: rows are matched on their natural keys (UAI, desk name, school + e-mail).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tortoise.transactions import in_transaction

from models.schools import (
    TRACK_LEVELS,
    Contact,
    ContactRole,
    ContactRoleAssignment,
    Enrolment,
    Mode,
    School,
    SchoolType,
    SupportDesk,
    Track,
    academie_for_departement,
    uai_letter,
)

Progress = Callable[[str], None]

SCHOOLS_PER_DEPARTEMENT: dict[str, int] = {
    "75": 93, "77": 50, "78": 58, "91": 50, "92": 55, "93": 62, "94": 54, "95": 48,
}

COMMUNES: dict[str, list[tuple[str, str]]] = {
    "75": [(f"Paris {n}e arrondissement" if n > 1 else "Paris 1er arrondissement", f"750{n:02d}")
           for n in range(1, 21)],
    "77": [("Meaux", "77100"), ("Melun", "77000"), ("Chelles", "77500"), ("Pontault-Combault", "77340"),
           ("Savigny-le-Temple", "77176"), ("Champs-sur-Marne", "77420"), ("Fontainebleau", "77300"),
           ("Provins", "77160"), ("Torcy", "77200"), ("Coulommiers", "77120")],
    "78": [("Versailles", "78000"), ("Sartrouville", "78500"), ("Mantes-la-Jolie", "78200"),
           ("Saint-Germain-en-Laye", "78100"), ("Poissy", "78300"), ("Conflans-Sainte-Honorine", "78700"),
           ("Rambouillet", "78120"), ("Trappes", "78190"), ("Les Mureaux", "78130")],
    "91": [("Évry-Courcouronnes", "91000"), ("Corbeil-Essonnes", "91100"), ("Massy", "91300"),
           ("Savigny-sur-Orge", "91600"), ("Palaiseau", "91120"), ("Étampes", "91150"),
           ("Draveil", "91210"), ("Brunoy", "91800"), ("Les Ulis", "91940")],
    "92": [("Nanterre", "92000"), ("Boulogne-Billancourt", "92100"), ("Colombes", "92700"),
           ("Asnières-sur-Seine", "92600"), ("Rueil-Malmaison", "92500"), ("Courbevoie", "92400"),
           ("Antony", "92160"), ("Clichy", "92110"), ("Montrouge", "92120"), ("Sèvres", "92310")],
    "93": [("Saint-Denis", "93200"), ("Montreuil", "93100"), ("Aubervilliers", "93300"),
           ("Aulnay-sous-Bois", "93600"), ("Drancy", "93700"), ("Noisy-le-Grand", "93160"),
           ("Bobigny", "93000"), ("Pantin", "93500"), ("Bondy", "93140"), ("Saint-Ouen-sur-Seine", "93400")],
    "94": [("Créteil", "94000"), ("Vitry-sur-Seine", "94400"), ("Champigny-sur-Marne", "94500"),
           ("Saint-Maur-des-Fossés", "94100"), ("Ivry-sur-Seine", "94200"), ("Villejuif", "94800"),
           ("Vincennes", "94300"), ("Choisy-le-Roi", "94600"), ("Cachan", "94230")],
    "95": [("Argenteuil", "95100"), ("Cergy", "95000"), ("Sarcelles", "95200"), ("Garges-lès-Gonesse", "95140"),
           ("Pontoise", "95300"), ("Franconville", "95130"), ("Goussainville", "95190"),
           ("Ermont", "95120"), ("Gonesse", "95500")],
}

PATRONS = [
    "Victor Hugo", "Marie Curie", "Jean Jaurès", "Louise Michel", "Jules Ferry", "Condorcet", "Voltaire",
    "Paul Éluard", "Albert Camus", "George Sand", "Simone Weil", "Gustave Eiffel", "Jean Moulin",
    "Lucie Aubrac", "Olympe de Gouges", "Émile Zola", "Colette", "Jacques Prévert", "Paul Langevin",
    "Frédéric Joliot-Curie", "Henri Wallon", "Louis Armand", "Camille Claudel", "Rosa Parks",
    "Nelson Mandela", "Aimé Césaire", "Alexandre Dumas", "Arthur Rimbaud", "Guillaume Apollinaire",
    "Claude Monet", "Eugène Delacroix", "Blaise Pascal", "René Descartes", "Évariste Galois",
    "Sophie Germain", "Antoine de Saint-Exupéry", "Jean Rostand", "Pablo Picasso", "Hélène Boucher",
    "Maurice Ravel", "Honoré de Balzac", "Molière", "Jean de La Fontaine", "Gaston Bachelard",
    "Marcel Pagnol", "Paul Bert", "Charles de Gaulle", "Germaine Tillion", "Geneviève de Gaulle-Anthonioz",
    "Joséphine Baker", "Simone Veil", "Léonard de Vinci", "Galilée", "Jean Monnet", "Robert Doisneau",
    "Marc Bloch", "Édouard Branly", "Henri Matisse", "Auguste Renoir", "Denis Diderot",
]
FIRST_NAMES = [
    "Camille", "Claire", "Nicolas", "Sophie", "Karim", "Nadia", "Julien", "Isabelle", "Thomas", "Fatou",
    "Mathieu", "Aurélie", "Olivier", "Samia", "Pierre", "Hélène", "Yann", "Léa", "Antoine", "Chloé",
    "David", "Mélanie", "Hugo", "Inès", "Bruno", "Valérie", "Sébastien", "Amina", "Laurent", "Émilie",
]
LAST_NAMES = [
    "Martin", "Bernard", "Dubois", "Durand", "Lefebvre", "Moreau", "Laurent", "Simon", "Michel", "Garcia",
    "Roux", "Fournier", "Girard", "Bonnet", "Mercier", "Blanc", "Guérin", "Boyer", "Chevalier", "Diallo",
    "Benali", "Nguyen", "Lambert", "Faure", "Rousseau", "Vincent", "Muller", "Lemoine", "Perrin", "Morel",
]

TYPE_WORDS = {SchoolType.LEGT: "Lycée", SchoolType.LPO: "Lycée polyvalent", SchoolType.LP: "Lycée professionnel"}

SUPPORT_DESKS: list[dict[str, object]] = [
    {"name": "Tchat Unowhy", "topic": "PC individuels : dépannage, retours, S.A.V.",
     "audience": "Élèves, enseignants et personnels dotés d'un PC Unowhy",
     "hours": "Lun.–ven. 9h–12h et 13h30–18h", "address": "Tchat depuis le PC", "do_not_share": False},
    {"name": "Assistance Unowhy (direction)", "topic": "PC individuels, MDM, réassort",
     "audience": "Proviseurs et coordonnateurs numériques", "hours": "Lun.–ven. 9h–12h et 13h30–18h",
     "phone": "09 70 25 28 14", "email": "assistanceidf@unowhy.com", "do_not_share": True},
    {"name": "Support Monlycee.net", "topic": "ENT Monlycee.net, comptes, double authentification",
     "audience": "Personnels de direction et administrateurs locaux", "hours": "Lun.–ven. 9h–19h",
     "phone": "09 71 10 02 76", "email": "support.monlycee.net@worldline.com", "do_not_share": True},
    {"name": "N° vert maintenance", "topic": "Infrastructures : Wi-Fi, serveurs, réseau (ouvre un ticket)",
     "audience": "Personnels de direction et coordonnateurs numériques", "hours": "Lun.–ven. 8h–18h",
     "phone": "0800 711 194", "do_not_share": True},
    {"name": "Césame", "topic": "Tickets d'incidents d'infrastructure",
     "audience": "Personnels de direction (coordonnateurs sur demande)", "hours": "En ligne",
     "email": "cesame@iledefrance.fr", "address": "Plateforme Monlycee.net", "do_not_share": False},
    {"name": "S.A.V. écrans numériques interactifs", "topic": "Maintenance des ENI",
     "audience": "Proviseurs et coordonnateurs numériques", "hours": "",
     "phone": "01 42 85 37 39", "email": "sav@signal.fr", "do_not_share": True},
    {"name": "Manuels scolaires (Région)", "topic": "Manuels et ressources numériques, dotations",
     "audience": "Établissements", "hours": "", "email": "manuelsscolaires@iledefrance.fr",
     "do_not_share": False},
]


def _school_type(rng: random.Random) -> SchoolType:
    roll = rng.random()
    return SchoolType.LEGT if roll < 0.38 else SchoolType.LPO if roll < 0.77 else SchoolType.LP


def generate_schools(seed: int = 2024) -> list[dict[str, object]]:
    """Plausible schools (valid UAIs, names, communes, tracks, flags) from a fixed seed."""
    rng = random.Random(seed)
    schools: list[dict[str, object]] = []
    used: set[str] = set()
    for dep, count in SCHOOLS_PER_DEPARTEMENT.items():
        for _ in range(count):
            while True:
                digits = f"0{dep}{rng.randint(0, 9999):04d}"
                if digits not in used:
                    used.add(digits)
                    break
            kind = _school_type(rng)
            commune, postal = rng.choice(COMMUNES[dep])
            patron = rng.choice(PATRONS)
            schools.append({
                "uai": digits + uai_letter(digits),
                "name": f"{TYPE_WORDS[kind]} {patron}",
                "type": kind,
                "departement": dep,
                "academie": academie_for_departement(dep),
                "commune": commune,
                "postal_code": postal,
                "mode": Mode.PAPIER if rng.random() < 0.08 else Mode.NUMERIQUE,
                "track_generale": kind in (SchoolType.LEGT, SchoolType.LPO),
                "track_technologique": kind == SchoolType.LPO or (kind == SchoolType.LEGT and rng.random() < 0.6),
                "track_professionnelle": kind in (SchoolType.LP, SchoolType.LPO),
                "csn_deployed": rng.random() < 0.55,
                "wifi_mdm_configured": rng.random() < 0.8,
                "wifi_code_changed": rng.random() < 0.05,
            })
    for s in schools:
        s["wifi_ssid"] = f"LYC-{s['uai']}" if s["wifi_mdm_configured"] else ""
    return schools


def generate_enrolments(school: dict[str, object], rng: random.Random) -> list[tuple[Track, str, int]]:
    """Students per track and level for one generated school."""
    rows: list[tuple[Track, str, int]] = []
    for track, flag in ((Track.GENERALE, "track_generale"), (Track.TECHNOLOGIQUE, "track_technologique"),
                        (Track.PROFESSIONNELLE, "track_professionnelle")):
        if not school[flag]:
            continue
        for level in TRACK_LEVELS[track]:
            if track is Track.PROFESSIONNELLE and level.value in ("BMA1", "BMA2", "MCFC") and rng.random() < 0.7:
                continue
            size = {Track.GENERALE: (120, 420), Track.TECHNOLOGIQUE: (30, 140),
                    Track.PROFESSIONNELLE: (20, 110)}[track]
            rows.append((track, level.value, rng.randint(*size)))
    return rows


ROLE_PLAN: list[list[ContactRole]] = [
    [ContactRole.CHEF],
    [ContactRole.COORDONNATEUR, ContactRole.ADML, ContactRole.LA_POSTE],
    [ContactRole.RESP_AFFECT_GAR, ContactRole.CRRE_VALIDEUR],
    [ContactRole.CRRE_PRESCRIPTEUR, ContactRole.LA_POSTE],
    [ContactRole.RRUPN],
]


async def seed_demo(progress: Progress | None = None, seed: int = 2024) -> dict[str, int]:
    """Create the demo data that is missing; return how many rows of each kind were created."""
    say = progress or (lambda _msg: None)
    created = {"schools": 0, "enrolments": 0, "contacts": 0, "support_desks": 0}
    rng = random.Random(seed + 1)
    generated = generate_schools(seed)
    existing = set(await School.all().values_list("uai", flat=True))
    async with in_transaction():
        for desk in SUPPORT_DESKS:
            _, was_created = await SupportDesk.get_or_create(name=desk["name"], defaults=desk)
            created["support_desks"] += int(was_created)
        say(f"Annuaire support : {created['support_desks']} guichet(s) ajouté(s).")
        missing = [s for s in generated if s["uai"] not in existing]
        await School.bulk_create([School(**s) for s in missing], batch_size=500)
        created["schools"] = len(missing)
        say(f"Établissements : {len(missing)} ajouté(s), {len(existing)} déjà présent(s).")
        if not missing:
            return created
        by_uai = {s.uai: s for s in await School.filter(uai__in=[s["uai"] for s in missing])}
        enrolments: list[Enrolment] = []
        contacts: list[Contact] = []
        plans: list[list[ContactRole]] = []
        people: list[tuple[str, str]] = []
        for i, data in enumerate(missing):
            school = by_uai[str(data["uai"])]
            for track, level, students in generate_enrolments(data, rng):
                enrolments.append(Enrolment(school=school, track=track, level=level, students=students))
            academie = school.academie.value
            for j, roles in enumerate(ROLE_PLAN):
                if j >= 3 and rng.random() < 0.4:
                    continue
                # R-ORG-1: from time to time the coordinator of the previous school also serves here.
                if j == 1 and people and rng.random() < 0.05:
                    full_name, email = people[-1]
                else:
                    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                    full_name = f"{first} {last}"
                    email = (f"{first}.{last}{rng.randint(1, 99)}@ac-{academie}.fr").lower()
                    email = email.translate(str.maketrans("éèêëàâîïôöûüç", "eeeeaaiioouuc"))
                    if j == 1:
                        people.append((full_name, email))
                contacts.append(Contact(school=school, full_name=full_name, email=email))
                plans.append(roles)
            if (i + 1) % 100 == 0:
                say(f"  {i + 1}/{len(missing)} établissements préparés…")
        await Enrolment.bulk_create(enrolments, batch_size=1000)
        created["enrolments"] = len(enrolments)
        for c in contacts:
            c.email = c.email.lower()
        await Contact.bulk_create(contacts, batch_size=1000, ignore_conflicts=True)
        saved = {(c.school_id, c.email): c for c in await Contact.filter(school_id__in=[s.id for s in by_uai.values()])}
        assignments: list[ContactRoleAssignment] = []
        seen: set[tuple[int, str]] = set()
        for c, roles in zip(contacts, plans, strict=True):
            contact = saved[(c.school.id, c.email)]
            for role in roles:
                if (contact.id, role.value) not in seen:
                    seen.add((contact.id, role.value))
                    assignments.append(ContactRoleAssignment(contact=contact, role=role))
        await ContactRoleAssignment.bulk_create(assignments, batch_size=1000)
        created["contacts"] = len(saved)
    say(f"Effectifs : {created['enrolments']} lignes ; contacts : {created['contacts']}.")
    return created


ORDER = 10


async def seed_area(progress: Progress | None = None) -> dict[str, int]:
    """The schools, contacts, enrolments and support desks of the demo (discovered by seed.seed_everything)."""
    return await seed_demo(progress=progress)
