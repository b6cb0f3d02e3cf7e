"""Accounts pages: « Mon compte » (password, TOTP, API tokens), user management and the security journal."""

from __future__ import annotations

from typing import Any

from nicegui import ui

import settings as settings_module
from models.accounts import (
    ACCOUNT_ROLES,
    DEFAULT_ORGANISATION,
    STAFF_ROLES,
    AccountError,
    ApiToken,
    EventKind,
    Role,
    User,
    change_role,
    create_token,
    create_user,
    password_due,
    reset_password,
    reset_totp,
    revoke_token,
    search_events,
    set_active,
)
from pages.auth import client_ip, confirm_step_up, current_user, fr_datetime, live_session, page
from pages.components.frame import frame
from pages.fmt import fr_number
from sheets.engine.declaration import Nav

ROLE_OPTIONS: dict[str, str] = {r.value: Role.label_of(r.value) for r in ACCOUNT_ROLES}


def show_secret_once(title: str, secret: str, hint: str) -> None:
    """A dialog that shows a secret (password, token) once, with a copy button."""
    with ui.dialog().props("persistent") as dialog, ui.card().classes("w-[36rem] gap-3"):
        ui.label(title).classes("text-lg font-semibold")
        ui.label(hint).classes("text-grey-8")
        ui.label(secret).classes("font-mono text-lg bg-grey-2 rounded p-2 select-all break-all").props(
            'data-testid="secret"')
        with ui.row().classes("w-full justify-end"):
            ui.button("Copier", icon="content_copy",
                      on_click=lambda: ui.clipboard.write(secret)).props("flat")
            ui.button("J'ai noté : fermer", on_click=dialog.close)
    dialog.open()


# --- Mon compte ------------------------------------------------------------------------------------

def token_rows(tokens: list[ApiToken]) -> list[dict[str, Any]]:
    """API tokens as table rows (never the secret)."""
    return [{"id": t.id, "name": t.name, "prefix": f"{t.prefix}…", "created": fr_datetime(t.created_at),
             "used": fr_datetime(t.last_used_at), "status": "Révoqué" if t.revoked_at else "Actif"}
            for t in tokens]


TOKEN_COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Nom", "field": "name", "align": "left"},
    {"name": "prefix", "label": "Début", "field": "prefix", "align": "left"},
    {"name": "created", "label": "Créé le", "field": "created", "align": "left"},
    {"name": "used", "label": "Dernier usage", "field": "used", "align": "left"},
    {"name": "status", "label": "État", "field": "status", "align": "left"},
    {"name": "actions", "label": "", "field": "id", "align": "right"},
]


def tokens_table(owner: User, actor: User, *, allow_create: bool = True) -> Any:
    """The tokens of a user with « Révoquer », and « Créer » when allowed; await the result."""

    @ui.refreshable
    async def table() -> None:
        rows = token_rows(await ApiToken.filter(user_id=owner.id))
        if not rows:
            ui.label("Aucun jeton d'API.").classes("text-grey-7")
            return
        t = ui.table(columns=TOKEN_COLUMNS, rows=rows, row_key="id").props("flat dense bordered").classes("w-full")
        t.add_slot("body-cell-actions", r'''
            <q-td :props="props">
              <q-btn v-if="props.row.status === 'Actif'" flat dense color="negative" label="Révoquer"
                     @click="$parent.$emit('revoke', props.row.id)" />
            </q-td>''')

        @live_session
        async def revoke(e: Any) -> None:
            token = await ApiToken.get_or_none(id=int(e.args), user_id=owner.id)
            if token is not None:
                await revoke_token(token, actor=actor, ip=client_ip())
                ui.notify(f"Jeton « {token.name} » révoqué.", type="positive")
            table.refresh()

        t.on("revoke", revoke)

    if not allow_create:
        return table()
    with ui.row().classes("items-center gap-3"):
        name = ui.input("Nom du jeton (ex. script d'export)").props("outlined dense").classes("w-72")

        @live_session
        async def create() -> None:
            _token, secret = await create_token(owner, name.value or "jeton", actor=actor, ip=client_ip())
            name.value = ""
            show_secret_once("Nouveau jeton d'API", secret,
                             "Copiez ce jeton maintenant : il ne sera plus jamais affiché. Envoyez-le dans l'en-tête "
                             "« Authorization: Bearer … ». Il donne les mêmes droits que le compte.")
            table.refresh()

        ui.button("Créer un jeton", icon="key", on_click=create)
    return table()


@page("/compte", roles=STAFF_ROLES)
async def account_page() -> None:
    """My account: identity, password, TOTP and API tokens."""
    user = await current_user()
    assert user is not None
    due = password_due(user, settings_module.get().password_max_age_days)
    with frame("Mon compte"):
        with ui.row().classes("w-full gap-4 items-stretch flex-wrap"):
            with ui.card().classes("flex-1 min-w-80"):
                ui.label("Identité").classes("text-lg font-semibold")
                with ui.grid(columns="auto 1fr").classes("gap-x-6 gap-y-1"):
                    for label, value in (("Nom", user.full_name), ("E-mail", user.email),
                                         ("Rôle", Role.label_of(Role(user.role).value)),
                                         ("Organisation", user.organisation or "—"),
                                         ("Dernière connexion", fr_datetime(user.last_login_at))):
                        ui.label(label).classes("text-grey-7")
                        ui.label(value).classes("font-medium")
            with ui.card().classes("flex-1 min-w-80"):
                ui.label("Sécurité").classes("text-lg font-semibold")
                ui.label(f"Mot de passe à renouveler avant le {fr_datetime(due)[:10]}." if due else
                         "Mot de passe à définir.")
                ui.link("Changer mon mot de passe", "/compte/mot-de-passe")
                if user.totp_enabled:
                    with ui.row().classes("items-center gap-2 text-green-8"):
                        ui.icon("verified_user")
                        ui.label("Double authentification active.")
                else:
                    ui.label("Double authentification inactive.").classes("text-orange-9")
                    ui.link("Activer la double authentification", "/compte/double-authentification")
        with ui.card().classes("w-full gap-3"):
            ui.label("Jetons d'API").classes("text-lg font-semibold")
            ui.label("Pour les scripts et les partenaires : un jeton porte les droits de votre compte et se révoque "
                     "ici.").classes("text-grey-8 text-sm")
            await tokens_table(user, user)


# --- Utilisateurs ------------------------------------------------------------------------------------

USER_COLUMNS: list[dict[str, Any]] = [
    {"name": "email", "label": "E-mail", "field": "email", "sortable": True, "align": "left"},
    {"name": "full_name", "label": "Nom", "field": "full_name", "sortable": True, "align": "left"},
    {"name": "role", "label": "Rôle", "field": "role", "sortable": True, "align": "left"},
    {"name": "organisation", "label": "Organisation", "field": "organisation", "sortable": True, "align": "left"},
    {"name": "active", "label": "Actif", "field": "active", "align": "center"},
    {"name": "totp", "label": "Double auth.", "field": "totp", "align": "center"},
    {"name": "last_login", "label": "Dernière connexion", "field": "last_login", "align": "left"},
    {"name": "actions", "label": "", "field": "id", "align": "right"},
]


def user_row(u: User) -> dict[str, Any]:
    """A user as a row of the management table."""
    return {"id": u.id, "email": u.email, "full_name": u.full_name, "role": Role.label_of(Role(u.role).value),
            "organisation": u.organisation, "active": "Oui" if u.is_active else "Non",
            "totp": "Oui" if u.totp_enabled else "Non", "last_login": fr_datetime(u.last_login_at)}


@page("/utilisateurs", roles={Role.ADMIN}, nav=Nav("Administration", "manage_accounts", 10, "Utilisateurs"))
async def users_page() -> None:
    """User management (admins): create, change role, disable, reset password or TOTP, tokens."""
    admin = await current_user()
    assert admin is not None
    with frame("Utilisateurs", active="/utilisateurs"):
        ui.label("Chaque modification demande un code de double authentification récent (moins de 5 minutes) "
                 "et est inscrite au journal de sécurité.").classes("text-grey-8 text-sm")
        with ui.row().classes("w-full items-center"):
            count = ui.label().classes("text-grey-8")
            ui.space()
            ui.button("Ajouter un utilisateur", icon="person_add", on_click=lambda: add_dialog())
        table = ui.table(columns=USER_COLUMNS, rows=[], row_key="id",
                         pagination={"rowsPerPage": 50, "sortBy": "email"}).props(
            "flat bordered dense").classes("w-full")
        table.add_slot("body-cell-actions", r'''
            <q-td :props="props">
              <q-btn flat dense icon="edit" color="primary" aria-label="Modifier"
                     @click="$parent.$emit('edit', props.row.id)" />
            </q-td>''')
        table.add_slot("body-cell-active", r'''
            <q-td :props="props">
              <q-badge :color="props.value === 'Oui' ? 'green-7' : 'grey-6'">{{ props.value }}</q-badge>
            </q-td>''')

    async def load() -> None:
        users = await User.all().order_by("email")
        table.rows = [user_row(u) for u in users]
        count.text = f"{fr_number(len(users))} compte(s)"

    @live_session
    async def add_dialog() -> None:
        with ui.dialog() as dialog, ui.card().classes("w-[32rem] gap-2"):
            ui.label("Nouvel utilisateur").classes("text-lg font-semibold")
            email = ui.input("E-mail (identifiant)").props("outlined dense").classes("w-full")
            name = ui.input("Nom complet").props("outlined dense").classes("w-full")
            role = ui.select(ROLE_OPTIONS, label="Rôle", value=Role.AGENT.value).props("outlined dense").classes(
                "w-full")
            organisation = ui.input("Organisation", value=DEFAULT_ORGANISATION["agent"]).props(
                "outlined dense").classes("w-full")
            role.on_value_change(lambda e: organisation.set_value(DEFAULT_ORGANISATION.get(e.value, "")))
            error = ui.label().classes("text-negative")

            @live_session
            async def save() -> None:
                if not await confirm_step_up(admin, "créer un compte"):
                    return
                try:
                    _user, one_time = await create_user(email.value or "", name.value or "", role.value,
                                                        organisation=organisation.value or "", actor=admin,
                                                        ip=client_ip())
                except AccountError as exc:
                    error.text = str(exc)
                    return
                dialog.close()
                show_secret_once("Compte créé", one_time,
                                 "Mot de passe provisoire, à transmettre à la personne par un canal sûr : il ne sera "
                                 "plus affiché et devra être changé à la première connexion.")
                await load()

            with ui.row().classes("w-full justify-end"):
                ui.button("Annuler", on_click=dialog.close).props("flat")
                ui.button("Créer le compte", on_click=save)
        dialog.open()

    @live_session
    async def edit_dialog(e: Any) -> None:
        target = await User.get_or_none(id=int(e.args))
        if target is None:
            return
        with ui.dialog() as dialog, ui.card().classes("w-[40rem] gap-2"):
            ui.label(f"{target.full_name} · {target.email}").classes("text-lg font-semibold")
            role = ui.select(ROLE_OPTIONS, label="Rôle", value=Role(target.role).value).props(
                "outlined dense").classes("w-full")
            active = ui.switch("Compte actif", value=target.is_active)
            error = ui.label().classes("text-negative")

            @live_session
            async def guarded(action: str, work: Any) -> None:
                if not await confirm_step_up(admin, action):
                    return
                fresh = await User.get(id=target.id)
                try:
                    await work(fresh)
                except AccountError as exc:
                    error.text = str(exc)
                    return
                await load()

            async def save(user: User) -> None:
                await change_role(user, role.value, actor=admin, ip=client_ip())
                await set_active(user, bool(active.value), actor=admin, ip=client_ip())
                ui.notify("Compte enregistré.", type="positive")
                dialog.close()

            async def new_password(user: User) -> None:
                one_time = await reset_password(user, actor=admin, ip=client_ip())
                show_secret_once("Mot de passe provisoire", one_time,
                                 "À transmettre par un canal sûr : il devra être changé à la prochaine connexion.")

            async def drop_totp(user: User) -> None:
                await reset_totp(user, actor=admin, ip=client_ip())
                ui.notify("Double authentification réinitialisée : la personne l'activera à nouveau.",
                          type="positive")

            async def token(user: User) -> None:
                _t, secret = await create_token(user, f"jeton de {user.email}", actor=admin, ip=client_ip())
                show_secret_once("Jeton d'API", secret,
                                 "À transmettre au partenaire par un canal sûr : il ne sera plus affiché. Il se "
                                 "révoque depuis la page « Mon compte » de la personne ou en ligne de commande.")

            with ui.row().classes("w-full gap-2 flex-wrap"):
                ui.button("Nouveau mot de passe provisoire", icon="password",
                          on_click=lambda: guarded("réinitialiser un mot de passe", new_password)).props("outline")
                ui.button("Réinitialiser la double authentification", icon="phonelink_erase",
                          on_click=lambda: guarded("réinitialiser une double authentification", drop_totp)).props(
                    "outline")
                ui.button("Créer un jeton d'API", icon="key",
                          on_click=lambda: guarded("créer un jeton d'API", token)).props("outline")
            ui.label("Jetons d'API").classes("font-semibold mt-2")
            await tokens_table(target, admin, allow_create=False)
            with ui.row().classes("w-full justify-end"):
                ui.button("Fermer", on_click=dialog.close).props("flat")
                ui.button("Enregistrer", on_click=lambda: guarded("modifier un compte", save))
        dialog.open()

    table.on("edit", edit_dialog)
    await load()


# --- Journal de sécurité ----------------------------------------------------------------------------

JOURNAL_COLUMNS: list[dict[str, Any]] = [
    {"name": "created_at", "label": "Date", "field": "created_at", "sortable": True, "align": "left"},
    {"name": "kind", "label": "Événement", "field": "kind", "sortable": True, "align": "left"},
    {"name": "email", "label": "Compte", "field": "email", "sortable": True, "align": "left"},
    {"name": "ip", "label": "Adresse", "field": "ip", "sortable": True, "align": "left"},
    {"name": "actor_email", "label": "Par", "field": "actor_email", "sortable": True, "align": "left"},
    {"name": "detail", "label": "Détail", "field": "detail", "align": "left"},
]


@page("/securite/journal", roles={Role.ADMIN},
      nav=Nav("Administration", "policy", 20, "Journal de sécurité"))
async def journal_page() -> None:
    """The security journal (admins): server-side paging, sorting and search."""
    with frame("Journal de sécurité", active="/securite/journal"):
        state: dict[str, str] = {"q": ""}
        with ui.row().classes("w-full items-center gap-4"):
            search = ui.input("Rechercher (e-mail, adresse, détail)").props(
                "clearable outlined dense debounce=300").classes("w-96")
            count = ui.label().classes("text-grey-8")
        table = ui.table(columns=JOURNAL_COLUMNS, rows=[], row_key="id", pagination={
            "rowsPerPage": 50, "sortBy": "created_at", "descending": True, "page": 1, "rowsNumber": 0,
        }).props("flat bordered dense :rows-per-page-options=[25,50,100]").classes("w-full")

        async def load(pagination: dict[str, Any]) -> None:
            per_page = int(pagination.get("rowsPerPage") or 50)
            page = max(1, int(pagination.get("page") or 1))
            rows, total = await search_events(state["q"], sort=pagination.get("sortBy") or "created_at",
                                              descending=bool(pagination.get("descending")),
                                              offset=(page - 1) * per_page, limit=per_page)
            table.rows = [{"id": r.id, "created_at": fr_datetime(r.created_at), "kind": EventKind.label_of(r.kind),
                           "email": r.email, "ip": r.ip, "actor_email": r.actor_email, "detail": r.detail}
                          for r in rows]
            table.pagination = {**pagination, "page": page, "rowsPerPage": per_page, "rowsNumber": total}
            count.text = f"{fr_number(total)} événement(s)"

        @live_session
        async def on_request(e: Any) -> None:
            await load(e.args["pagination"])

        @live_session
        async def on_search(e: Any) -> None:
            state["q"] = e.value or ""
            await load({**table.pagination, "page": 1})

        table.on("request", on_request)
        search.on_value_change(on_search)
        await load(table.pagination)
