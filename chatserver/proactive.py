"""Proactive chat: site rules that show a message in the widget's preview bubble, capped per visitor.

A rule fires after some seconds on a page (`time`), on pages whose path matches a pattern
(`url`, `*` for any text), or when the host page reports an event (`event`, through
`chatserver('track', name)`). The widget evaluates the triggers; the server decides whether
the visitor may see the message once more (the rule's cap) and records each show, so reports
can count how many led to a chat (docs/metrics.md).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver import customers, sites
from chatserver.api import ApiError, json_body, widget_endpoint
from chatserver.runtime import Runtime
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import proactive_rules, proactive_shows

log = logging.getLogger("chatserver.proactive")

TRIGGERS = ("time", "url", "event")
MAX_NAME_CHARS = 100
MAX_MESSAGE_CHARS = 300  # as long as a greeting: an opener, not a letter
MAX_PATTERN_CHARS = 500
MAX_SECONDS = 3600
# Ten shows of one message to one visitor is pestering whatever the site intends.
MAX_CAP = 10
_EVENT = re.compile(r"[A-Za-z0-9_.:-]{1,40}")


class RuleError(ValueError):
    """A rule that cannot be saved; the message says which field and what it needs."""


@dataclass(frozen=True)
class Rule:
    id: str
    site_id: str
    name: str
    trigger: str
    value: str
    message: str
    cap: int
    enabled: bool


def check(name: str, trigger: str, value: str, message: str, cap: int) -> tuple[str, str, str, str, int]:
    """Return a rule's fields cleaned; raise RuleError on the first bad one."""
    name, value, message = name.strip(), value.strip(), message.strip()
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise RuleError(f"the name must be 1-{MAX_NAME_CHARS} characters")
    if trigger not in TRIGGERS:
        raise RuleError(f"the trigger must be one of {', '.join(TRIGGERS)}")
    if trigger == "time" and not (value.isdigit() and 1 <= int(value) <= MAX_SECONDS):
        raise RuleError(f"a time trigger needs whole seconds from 1 to {MAX_SECONDS}")
    if trigger == "url" and not (value.startswith(("/", "*")) and len(value) <= MAX_PATTERN_CHARS):
        raise RuleError("a url trigger needs a path pattern like /checkout* (at most 500 characters)")
    if trigger == "event" and not _EVENT.fullmatch(value):
        raise RuleError("an event trigger needs a name of 1-40 letters, digits, _ . : or -")
    if not 1 <= len(message) <= MAX_MESSAGE_CHARS:
        raise RuleError(f"the message must be 1-{MAX_MESSAGE_CHARS} characters")
    if not 1 <= cap <= MAX_CAP:
        raise RuleError(f"the cap must be from 1 to {MAX_CAP} shows per visitor")
    return name, trigger, value, message, cap


def _rule(row: Any) -> Rule:
    return Rule(row.id, row.site_id, row.name, row.trigger, row.value, row.message, row.cap, row.enabled)


async def add(store: Store, site_id: str, name: str, trigger: str, value: str, message: str,
              cap: int = 1) -> Rule:
    """Store a new rule (checked first)."""
    name, trigger, value, message, cap = check(name, trigger, value, message, cap)
    rule = Rule(new_id(), site_id, name, trigger, value, message, cap, True)
    async with store.write() as conn:
        await conn.execute(insert(proactive_rules).values(
            id=rule.id, site_id=site_id, name=name, trigger=trigger, value=value, message=message,
            cap=cap, enabled=True, created_at=now_ms()))
    return rule


async def change(store: Store, site_id: str, rule_id: str, name: str, trigger: str, value: str,
                 message: str, cap: int, enabled: bool) -> Rule:
    """Save new fields for a rule of the site (checked first); LookupError if there is none.

    Rules are switched off, never deleted: their shows stay counted in the reports.
    """
    name, trigger, value, message, cap = check(name, trigger, value, message, cap)
    async with store.write() as conn:
        done = await conn.execute(update(proactive_rules).where(
            proactive_rules.c.id == rule_id, proactive_rules.c.site_id == site_id
        ).values(name=name, trigger=trigger, value=value, message=message, cap=cap, enabled=enabled))
    if done.rowcount != 1:
        raise LookupError(rule_id)
    return Rule(rule_id, site_id, name, trigger, value, message, cap, enabled)


async def rules(store: Store, site_id: str, enabled_only: bool = False) -> list[Rule]:
    query = select(proactive_rules).where(proactive_rules.c.site_id == site_id)
    if enabled_only:
        query = query.where(proactive_rules.c.enabled.is_(True))
    async with store.read() as conn:
        return [_rule(r) for r in await conn.execute(query.order_by(proactive_rules.c.created_at))]


async def record_show(store: Store, rule: Rule, contact_id: str) -> bool:
    """Record that the rule showed its message to this visitor; False once the cap is reached.

    Shows are numbered per rule and visitor under a unique key, so two tabs firing at once
    cannot both take the last one.
    """
    for _ in range(rule.cap):
        async with store.read() as conn:
            shown = (await conn.execute(
                select(func.count()).select_from(proactive_shows).where(
                    proactive_shows.c.rule_id == rule.id, proactive_shows.c.contact_id == contact_id)
            )).scalar_one()
        if shown >= rule.cap:
            return False
        try:
            async with store.write() as conn:
                await conn.execute(insert(proactive_shows).values(
                    id=new_id(), rule_id=rule.id, site_id=rule.site_id, contact_id=contact_id,
                    nth=shown + 1, shown_at=now_ms()))
        except IntegrityError:
            continue  # another tab took that number: count again
        log.info("event=proactive_shown site=%s rule=%s contact=%s n=%d", rule.site_id, rule.id,
                 contact_id, shown + 1)
        return True
    return False


# HTTP: what the widget calls ---------------------------------------------------------------


async def _site_rules(request: Request, rt: Runtime, site: sites.Site) -> Response:
    """List a site's enabled rules for its widget: what triggers them and what they say."""
    listed = [{"id": r.id, "trigger": r.trigger, "value": int(r.value) if r.trigger == "time" else r.value,
               "message": r.message} for r in await rules(rt.store, site.id, enabled_only=True)]
    return JSONResponse({"rules": listed}, headers={"Cache-Control": "no-store"})


async def _shown(request: Request, rt: Runtime, site: sites.Site) -> Response:
    """Ask to show a rule's message to this visitor: {"show": true} and recorded, or false at the cap."""
    body = await json_body(request)
    token = body.get("token")
    visitor = rt.signer.visitor(token) if isinstance(token, str) else None
    if visitor is None or visitor.site_id != site.id or not await customers.belongs(
            rt.store, visitor.contact_id, site.id):
        raise ApiError(401, "unauthorized", "a valid visitor token of this site is needed")
    rule = next((r for r in await rules(rt.store, site.id, enabled_only=True)
                 if r.id == request.path_params["rule"]), None)
    if rule is None:
        raise ApiError(404, "not_found", "no such rule")
    return JSONResponse({"show": await record_show(rt.store, rule, visitor.contact_id)},
                        headers={"Cache-Control": "no-store"})


def routes() -> list[Route]:
    return [
        Route("/api/v1/sites/{key}/proactive", widget_endpoint(_site_rules), methods=["GET", "OPTIONS"]),
        Route("/api/v1/sites/{key}/proactive/{rule}/shown", widget_endpoint(_shown),
              methods=["POST", "OPTIONS"]),
    ]
