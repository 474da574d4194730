"""A site's settings: their defaults, their validation at save, what visitors may see.

Settings live as JSON on the site (sites.settings); the identity-verification secret does
not: it is in site_secrets, since the widget receives the public part of the settings.
"""

from __future__ import annotations

import re
import secrets
import zoneinfo
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from chatserver import channels, i18n, sites
from chatserver.mail.addresses import AddressError, check_address
from chatserver.store import Store, now_ms
from chatserver.store.schema import site_secrets
from chatserver.store.schema import sites as sites_table

LOCALES = i18n.LOCALES
POSITIONS = ("right", "left")
PRECHAT = ("off", "optional", "required")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# What the widget reads; everything else (SLA targets) stays with the console and reports.
PUBLIC_KEYS = ("color", "greeting", "locale", "position", "prechat", "hours")
MAX_GREETING_CHARS = 300
MAX_NAME_CHARS = 200
MAX_ORIGINS = 50
# A day, in minutes: an SLA target past it is a typo, not a target.
MAX_CHAT_TARGET_MINUTES = 24 * 60
MAX_TICKET_TARGET_HOURS = 30 * 24

DEFAULTS: dict[str, Any] = {
    **sites.DEFAULT_SETTINGS,
    "position": "right",
    "prechat": "off",
    # No business hours: always open. Otherwise {"timezone", "days": {"mon": ["09:00", "17:00"]}}.
    "hours": None,
    "sla": {
        "chat_first_response_seconds": 60,
        "chat_resolution_seconds": 30 * 60,
        "ticket_first_response_seconds": 8 * 3600,
        "ticket_resolution_seconds": 3 * 24 * 3600,
    },
    # Which channels take new conversations (chatserver/channels.py).
    "channels": channels.DEFAULTS,
}

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


class SettingsError(ValueError):
    """A setting that cannot be saved; the message names the field and what it needs."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def with_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    """Return settings with every key present."""
    merged = {**DEFAULTS, **settings}
    merged["sla"] = {**DEFAULTS["sla"], **(settings.get("sla") or {})}
    merged["channels"] = channels.switches(settings)
    return merged


def kept(settings: dict[str, Any]) -> dict[str, Any]:
    """Return the settings the admin form does not edit, which saving it keeps."""
    return {key: settings[key] for key in ("limits",) if key in settings}


def public(settings: dict[str, Any]) -> dict[str, Any]:
    """Return the part of the settings a visitor's widget may see."""
    merged = with_defaults(settings)
    return {key: merged[key] for key in PUBLIC_KEYS}


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise SettingsError("name", f"the name must be 1-{MAX_NAME_CHARS} characters")
    return name


def check_origins(lines: str) -> list[str]:
    """Return the origins of a text with one per line, normalised; raise on a bad one."""
    origins: list[str] = []
    for line in lines.splitlines():
        if line.strip():
            try:
                origins.append(sites.normalize_origin(line))
            except ValueError as bad:
                raise SettingsError("origins", str(bad)) from None
    if len(origins) > MAX_ORIGINS:
        raise SettingsError("origins", f"at most {MAX_ORIGINS} origins")
    return list(dict.fromkeys(origins))


def _minutes(form: dict[str, str], key: str, limit: int, unit: int) -> int:
    raw = form.get(key, "").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= limit:
        raise SettingsError(key, f"must be a whole number from 1 to {limit}")
    return int(raw) * unit


def check(form: dict[str, str]) -> dict[str, Any]:
    """Build settings from the admin form's fields; raise SettingsError on the first bad one."""
    color = form.get("color", "").strip()
    if not _COLOR.fullmatch(color):
        raise SettingsError("color", "the colour must look like #2563eb")
    greeting = form.get("greeting", "").strip()
    if len(greeting) > MAX_GREETING_CHARS:
        raise SettingsError("greeting", f"the greeting must be at most {MAX_GREETING_CHARS} characters")
    choices = {"locale": LOCALES, "position": POSITIONS, "prechat": PRECHAT}
    picked = {}
    for key, allowed in choices.items():
        if form.get(key) not in allowed:
            raise SettingsError(key, f"must be one of {', '.join(allowed)}")
        picked[key] = form[key]
    return {
        "color": color.lower(),
        "greeting": greeting or DEFAULTS["greeting"],
        **picked,
        **_mail(form),
        **_channels(form),
        "hours": _hours(form),
        "sla": {
            "chat_first_response_seconds": _minutes(
                form, "sla_chat_first_response", MAX_CHAT_TARGET_MINUTES, 60),
            "chat_resolution_seconds": _minutes(
                form, "sla_chat_resolution", MAX_CHAT_TARGET_MINUTES, 60),
            "ticket_first_response_seconds": _minutes(
                form, "sla_ticket_first_response", MAX_TICKET_TARGET_HOURS, 3600),
            "ticket_resolution_seconds": _minutes(
                form, "sla_ticket_resolution", MAX_TICKET_TARGET_HOURS, 3600),
        },
    }


def _mail(form: dict[str, str]) -> dict[str, Any]:
    """Return the ticket-mail settings: who is told of new tickets, who may open one by mail."""
    address = form.get("support_email", "").strip()
    if address:
        try:
            # It goes into a To header of every new-ticket notice: no header tricks.
            address = check_address(address).lower()
        except AddressError as bad:
            raise SettingsError("support_email", f"support address: {bad}") from None
    return {
        "support_email": address or None,
        "tickets_from_new_senders": form.get("tickets_from_new_senders") == "on",
    }


def _channels(form: dict[str, str]) -> dict[str, Any]:
    """Return {"channels": switches} from a checkbox `channel:<name>` per channel listed.

    The form lists the channels it shows (`channels_listed`), so a switch the page showed
    unticked is saved off. A form without the list (a script, an older page) changes no
    switch: save() keeps the stored ones.
    """
    if "channels_listed" not in form:
        return {}
    listed = [name for name in form["channels_listed"].split(",") if name.strip()]
    try:
        shown = {channels.parse(name) for name in [*channels.BUILT_IN, *listed]}
    except channels.ChannelError as bad:
        raise SettingsError("channels", str(bad)) from None
    return {"channels": {name: form.get(f"channel:{name}") == "on" for name in sorted(shown)}}


def _hours(form: dict[str, str]) -> dict[str, Any] | None:
    if form.get("hours_enabled") != "on":
        return None
    timezone = form.get("timezone", "").strip()
    try:
        zoneinfo.ZoneInfo(timezone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise SettingsError("timezone", f"{timezone!r} is not a time zone like Europe/Amsterdam") from None
    days: dict[str, list[str]] = {}
    for day in DAYS:
        if form.get(f"{day}_open") != "on":
            continue
        start, end = form.get(f"{day}_start", ""), form.get(f"{day}_end", "")
        if not _TIME.fullmatch(start) or not _TIME.fullmatch(end) or start >= end:
            raise SettingsError(f"{day}_start", f"{day}: opening hours must be HH:MM with start before end")
        days[day] = [start, end]
    if not days:
        raise SettingsError("hours_enabled", "business hours need at least one open day")
    return {"timezone": timezone, "days": days}


async def save(store: Store, site_id: str, name: str, origins: list[str], settings: dict[str, Any]) -> None:
    """Store a site's name, origins and settings (already checked).

    Settings without channel switches keep the stored ones.
    """
    async with store.write() as conn:
        if "channels" not in settings:
            stored = (await conn.execute(
                select(sites_table.c.settings).where(sites_table.c.id == site_id)
            )).scalar() or {}
            if "channels" in stored:
                settings = {**settings, "channels": stored["channels"]}
        await conn.execute(
            update(sites_table)
            .where(sites_table.c.id == site_id)
            .values(name=name, allowed_origins=origins, settings=settings)
        )
    sites.forget()


async def set_channels(
    store: Store, site_id: str, on: list[str] | tuple[str, ...] = (),
    off: list[str] | tuple[str, ...] = (),
) -> dict[str, bool]:
    """Switch a site's channels on and off (names checked); return every switch now.

    Read and written in one transaction, so two switches at once both hold. An integration
    calls this with on=[channels.api(name)] when it is set up.
    """
    async with store.write() as conn:
        stored = (await conn.execute(
            select(sites_table.c.settings).where(sites_table.c.id == site_id)
        )).scalar()
        if stored is None:
            raise LookupError(site_id)
        switches = channels.switched(stored, on, off)
        await conn.execute(update(sites_table).where(sites_table.c.id == site_id)
                           .values(settings={**stored, "channels": switches}))
    sites.forget()
    return switches


@dataclass(frozen=True)
class Identity:
    """A site's identity verification: whether a secret exists, and whether it is enforced."""

    has_secret: bool
    enforced: bool


async def identity(store: Store, site_id: str) -> Identity:
    """Return the site's identity-verification state; enforced unless turned off."""
    async with store.read() as conn:
        row = (
            await conn.execute(select(site_secrets).where(site_secrets.c.site_id == site_id))
        ).first()
    if row is None:
        return Identity(False, True)
    return Identity(row.identity_secret is not None, row.identity_enforced)


async def identity_secret(store: Store, site_id: str) -> str | None:
    """Return the secret that signs the site's identity hashes, or None."""
    async with store.read() as conn:
        return (
            await conn.execute(
                select(site_secrets.c.identity_secret).where(site_secrets.c.site_id == site_id)
            )
        ).scalar()


async def set_identity(
    store: Store, site_id: str, *, enforced: bool, new_secret: bool = False
) -> str | None:
    """Store whether identity is enforced; with new_secret, replace the secret and return it."""
    secret = secrets.token_urlsafe(32) if new_secret else None
    values: dict[str, Any] = {"identity_enforced": enforced, "updated_at": now_ms()}
    if secret:
        values["identity_secret"] = secret
    async with store.write() as conn:
        changed = (
            await conn.execute(
                update(site_secrets).where(site_secrets.c.site_id == site_id).values(**values)
            )
        ).rowcount
        if not changed:
            await conn.execute(
                insert(site_secrets).values(site_id=site_id, **{"identity_secret": None, **values})
            )
    return secret
