"""Who calls the engine: every read and write names its caller (user, school contact, job or command line)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace

from models.audit import Source


class SessionEnded(Exception):
    """The page's session ended (logout elsewhere, account disabled, role changed): nothing is done."""

    def __init__(self, message: str = "Votre session a pris fin : reconnectez-vous.") -> None:
        super().__init__(message)


SYSTEM = "system"  # a scheduled job or an effect of an allowed move: no role check, still audited and scoped
ECOLE = "ecole"  # a school's own person, signed in by an e-mail link (school access)
# The Région's own team, as the sheets' rights name it (one place: who counts as the team is decided here).
REGION_EDITORS = frozenset({"admin", "agent"})  # the team members who change things
REGION_READERS = frozenset({"admin", "agent", "lecteur"})  # and those who only read


@dataclass(frozen=True)
class Caller:
    """The author of a read or a write: name for the audit, role for the rights, scope, source and address.

    `scope`: the UAIs of the schools the caller may see and touch (None: every school). `grants`: for a school
    contact, the (UAI, contact role) pairs it holds; a sheet, a move or an action opens to them by naming
    `ecole:<contact role>` (or `ecole` for any contact) among its roles. `verify`: re-checks, before acting,
    that the page's session is still alive (logout elsewhere, account disabled, role changed).
    """

    actor: str
    role: str | None = None
    source: Source = Source.API
    address: str = ""
    scope: frozenset[str] | None = None
    grants: frozenset[tuple[str, str]] = frozenset()
    verify: Callable[[], Awaitable[object]] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def job(cls, name: str) -> Caller:
        """A scheduled job: acts with the system's rights, audited as job:<name>."""
        return cls(actor=f"job:{name}", role=SYSTEM, source=Source.JOB)

    def using(self, source: Source) -> Caller:
        """The same caller through another path (grid, bulk, paste, import…). A school contact's changes keep the
        source « lien e-mail » whatever the path (their undo stays an undo)."""
        if source == self.source or (self.source == Source.SCHOOL and source != Source.UNDO):
            return self
        return replace(self, source=source)

    def elevated(self) -> Caller:
        """The same author with the system's rights (the effects of a move the caller was allowed to make)."""
        return replace(self, role=SYSTEM)

    @classmethod
    def school(cls, actor: str, scope: frozenset[str], grants: frozenset[tuple[str, str]], *, address: str = "",
               verify: Callable[[], Awaitable[object]] | None = None) -> Caller:
        """A school's own person (signed in by an e-mail link): role `ecole`, its schools, its contact roles."""
        return cls(actor=actor, role=ECOLE, source=Source.SCHOOL, address=address, scope=frozenset(scope),
                   grants=frozenset(grants), verify=verify)

    @property
    def is_school(self) -> bool:
        """True for a school's own person (role `ecole`)."""
        return self.role == ECOLE

    @property
    def is_system(self) -> bool:
        """True for jobs and effects: role checks pass, scope still applies."""
        return self.role == SYSTEM

    def allowed(self, roles: Iterable[str], uai: str | None = None) -> bool:
        """Whether the caller holds one of `roles` (for the school `uai` when a contact's role is named)."""
        roles = frozenset(roles)
        if self.is_system or "*" in roles:
            return True
        if self.role is None:
            return False
        if self.role in roles:
            return True
        if self.role != ECOLE:
            return False
        return any(f"{ECOLE}:{contact_role}" in roles and (uai is None or school == uai)
                   for school, contact_role in self.grants)

    def in_scope(self, uai: str | None) -> bool:
        """Whether a school (by UAI) is within the caller's scope; a row without a school is outside any scope."""
        return self.scope is None or (uai is not None and uai in self.scope)

    async def check(self) -> None:
        """Before acting: the page's session must still be alive (raises when it ended)."""
        if self.verify is not None:
            await self.verify()
