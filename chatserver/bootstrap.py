"""First start: the schema, the default help centre, a demo site and an admin agent whose
password is shown once."""

from __future__ import annotations

from dataclasses import dataclass

from chatserver import agents, auth, sites, suggestions
from chatserver.store import Store

ADMIN_EMAIL = "admin@chatserver.local"


@dataclass(frozen=True)
class Started:
    site: sites.Site
    admin_email: str
    admin_password: str | None  # set only on the start that created the admin
    problems: list[str]  # help-centre files that could not be imported


async def prepare(store: Store) -> Started:
    """Migrate the store, then create the demo site and admin if there are none."""
    # Processes started at once on one PostgreSQL store take turns: the first creates the
    # demo site and admin, the others find them (these are check-then-insert steps).
    async with store.exclusive("bootstrap"):
        return await _prepare(store)


async def _prepare(store: Store) -> Started:
    await store.migrate()
    await auth.instance_secret(store)
    problems = await suggestions.seed(store)
    existing = await sites.all_sites(store)
    site = existing[0] if existing else await sites.create(store, "Demo shop", [])
    password = None
    admins = [a for a in await agents.all_agents(store) if a.role == "admin"]
    if not admins:
        password = auth.new_password()
        admin = await agents.create(store, ADMIN_EMAIL, "Admin", password, role="admin")
        admins = [admin]
    return Started(site, admins[0].email, password, problems)
