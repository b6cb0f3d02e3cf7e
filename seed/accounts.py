"""Demo accounts: one per role, created once on an empty accounts table; credentials printed once (demo only)."""

from __future__ import annotations

import secrets
from pathlib import Path

from models.accounts import ACCOUNT_ROLES, Role, User, create_user, new_totp_secret, set_totp_secret

DEMO_DOMAIN = "demo.rentree.fr"
DEMO_NAMES: dict[str, str] = {
    "admin": "Alice Admin", "agent": "Bruno Agent", "lecteur": "Chloé Lectrice",
    "laposte": "Denis Postier", "unowhy": "Emma Unowhy", "maintenance": "Fabien Maintenance",
}


def demo_email(role: Role | str) -> str:
    """The demo account's e-mail of a role."""
    return f"{Role(role).value}@{DEMO_DOMAIN}"


async def seed_demo_users() -> list[dict[str, str]]:
    """Create one demo account per role when there is no account yet; return their credentials (else [])."""
    if await User.exists():
        return []
    created: list[dict[str, str]] = []
    for role in ACCOUNT_ROLES:
        password = "demo-" + secrets.token_urlsafe(12)
        user, _ = await create_user(demo_email(role), DEMO_NAMES[role.value], role, password=password)
        entry = {"email": user.email, "role": role.value, "label": Role.label_of(role.value), "password": password,
                 "totp_secret": ""}
        if role == Role.ADMIN:  # R-SEC-1: the demo admin comes enrolled, its key printed once
            secret = new_totp_secret()
            set_totp_secret(user, secret)  # stored encrypted, printed once in clear
            user.totp_enabled = True
            await user.save(update_fields=["totp_secret", "totp_enabled"])
            entry["totp_secret"] = secret
        created.append(entry)
    return created


def credentials_text(created: list[dict[str, str]]) -> str:
    """The block printed once at first start: one line per demo account."""
    lines = ["", "=" * 78, "Comptes de démonstration (affichés une seule fois, notez-les) :"]
    for c in created:
        lines.append(f"  {c['label']:<28} {c['email']:<28} mot de passe : {c['password']}")
        if c["totp_secret"]:
            lines.append(f"  {'':<28} clé TOTP (à saisir dans une application d'authentification) : "
                         f"{c['totp_secret']}")
    lines += ["=" * 78, ""]
    return "\n".join(lines)


def keep_credentials(data_dir: str | Path, created: list[dict[str, str]]) -> Path:
    """Write the demo credentials to data/demo-accounts.txt, readable by the owner only (demo only)."""
    target = Path(data_dir) / "demo-accounts.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(mode=0o600, exist_ok=True)
    target.chmod(0o600)
    target.write_text(credentials_text(created).strip() + "\n", encoding="utf-8")
    return target
