"""'Was this helpful?' on a help-centre article: one vote per browser, per article and language.

A browser is a random cookie (only its hash is stored); it may change its answer, and the
primary key keeps it at one vote however often it posts. A script that drops the cookie and
votes again is bounded per network instead: VOTES_PER_NETWORK new votes an article a day.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatserver.auth import Signer
from chatserver.store import Store, now_ms
from chatserver.store.schema import article_votes

VOTER_COOKIE = "help_voter"
# Two years: a browser that voted should still see its answer when it comes back.
VOTER_MAX_AGE = 2 * 365 * 24 * 3600
# An office or a school shares one address: twenty people voting on one article in a day is
# plausible, a thousand is a script.
VOTES_PER_NETWORK = 20
DAY_MS = 24 * 3600 * 1000

Outcome = Literal["counted", "changed", "flood"]


def new_voter() -> str:
    return secrets.token_urlsafe(18)


def valid_voter(cookie: str | None) -> bool:
    """Tell whether a cookie looks like one new_voter made (24 URL-safe characters)."""
    return cookie is not None and len(cookie) == 24 and cookie.replace("-", "").replace("_", "").isalnum()


def form_token(signer: Signer, voter: str) -> str:
    """Return the token a vote form carries: a post from another site cannot know it."""
    return signer.csrf_token(voter, "help-vote")


def token_matches(signer: Signer, voter: str, token: str) -> bool:
    return hmac.compare_digest(form_token(signer, voter), token)


def _voter_hash(voter: str) -> str:
    return hashlib.sha256(voter.encode()).hexdigest()


def network_key(signer: Signer, network: str) -> str:
    """Return a keyed hash of the sender's network: comparable, but no address is stored."""
    # The CSRF HMAC is a keyed hash under the instance secret; a distinct prefix keeps its
    # values apart from every form token.
    return signer.csrf_token(f"vote-network|{network}", None)[:64]


async def cast(
    store: Store, site_id: str, locale: str, slug: str, voter: str, helpful: bool, network: str
) -> Outcome:
    """Store a browser's vote, or change it; "flood" when its network voted too often today."""
    key = (article_votes.c.site_id == site_id, article_votes.c.locale == locale,
           article_votes.c.slug == slug, article_votes.c.voter == _voter_hash(voter))
    now = now_ms()
    try:
        async with store.write() as conn:
            changed = await conn.execute(
                update(article_votes).where(*key).values(helpful=helpful, updated_at=now)
            )
            if changed.rowcount:
                return "changed"
            # A bound, not a decision: two votes racing past it by one are harmless.
            recent = (await conn.execute(
                select(func.count()).select_from(article_votes).where(
                    *key[:3], article_votes.c.network == network,
                    article_votes.c.created_at > now - DAY_MS,
                )
            )).scalar_one()
            if recent >= VOTES_PER_NETWORK:
                return "flood"
            await conn.execute(insert(article_votes).values(
                site_id=site_id, locale=locale, slug=slug, voter=_voter_hash(voter), helpful=helpful,
                network=network, created_at=now, updated_at=now,
            ))
    except IntegrityError:
        # The same browser's other tab voted first: the key kept it at one vote; this is a change.
        async with store.write() as conn:
            await conn.execute(update(article_votes).where(*key).values(helpful=helpful, updated_at=now))
        return "changed"
    return "counted"


async def mine(store: Store, site_id: str, locale: str, slug: str, voter: str) -> bool | None:
    """Return this browser's answer for the article, or None when it has not voted."""
    async with store.read() as conn:
        row = (await conn.execute(select(article_votes.c.helpful).where(
            article_votes.c.site_id == site_id, article_votes.c.locale == locale,
            article_votes.c.slug == slug, article_votes.c.voter == _voter_hash(voter),
        ))).first()
    return None if row is None else bool(row.helpful)
