"""The tables, as SQLAlchemy Core objects; migrations/ creates and changes them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Times are integer milliseconds since the epoch: one portable type on SQLite and PostgreSQL,
# and exactly what the JavaScript clients use.

instance = Table(
    "instance",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

sites = Table(
    "sites",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("public_key", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("allowed_origins", JSON, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

agents = Table(
    "agents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("max_chats", Integer, nullable=False),
    Column("availability", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # The console's language for this agent ("en", "nl"); NULL follows the browser.
    Column("locale", String(8)),
)

agent_sites = Table(
    "agent_sites",
    metadata,
    Column("agent_id", String(32), ForeignKey("agents.id"), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
)

agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("agent_id", String(32), ForeignKey("agents.id"), nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# One row per live agent socket, refreshed by the process that holds it; a row whose
# process died stops counting once seen_at is older than the presence TTL.
presence = Table(
    "presence",
    metadata,
    Column("socket_id", String(32), primary_key=True),
    Column("agent_id", String(32), ForeignKey("agents.id"), nullable=False, index=True),
    Column("process_id", String(32), nullable=False, index=True),
    Column("seen_at", BigInteger, nullable=False),
)

# Visitors on a site now: one row per widget socket, refreshed per process like `presence`.
# A row stays a while after its socket closes (left_at), so the next page of the same visit
# keeps the visit's start. No foreign key to contacts: a merge or an erasure deletes
# contacts, and a presence row is never worth refusing that for.
live_visitors = Table(
    "live_visitors",
    metadata,
    Column("socket_id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False),
    Column("contact_id", String(32), nullable=False, index=True),
    Column("process_id", String(32), nullable=False, index=True),
    Column("arrived_at", BigInteger, nullable=False),
    Column("seen_at", BigInteger, nullable=False),
    Column("left_at", BigInteger),
    Index("ix_live_visitors_site", "site_id", "seen_at"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False, index=True),
    Column("name", String(200)),
    Column("email", String(320)),
    Column("created_at", BigInteger, nullable=False),
    # The site's own user id, set only from an identity the site signed; one contact per id.
    Column("external_id", String(200)),
    # What the agent sidebar shows: where the visitor is now and with what.
    Column("locale", String(8)),
    Column("page_url", Text),
    Column("page_title", Text),
    Column("referrer", Text),
    Column("user_agent", Text),
    Column("last_seen_at", BigInteger),
    # The visitor's IANA time zone (Europe/Amsterdam), for the local time in the sidebar.
    Column("timezone", String(64)),
    # The network the visitor's last token was issued to, so an agent can block it.
    Column("last_address", String(64)),
    Index("uq_contacts_external_id", "site_id", "external_id", unique=True),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False),
    Column("contact_id", String(32), ForeignKey("contacts.id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("agent_id", String(32), ForeignKey("agents.id")),
    # The visitor's client id for the first message: a resent start opens no second chat.
    Column("client_id", String(64), nullable=False),
    Column("last_seq", Integer, nullable=False),
    Column("visitor_delivered_seq", Integer, nullable=False),
    Column("visitor_read_seq", Integer, nullable=False),
    Column("agent_delivered_seq", Integer, nullable=False),
    Column("agent_read_seq", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("queued_at", BigInteger),
    Column("assigned_at", BigInteger),
    Column("closed_at", BigInteger),
    # How it ended: "self_served" when a help article answered it, else NULL.
    Column("resolution", String(16)),
    # Where it came from (chatserver/channels.py): chat, or api:<integration>.
    Column("channel", String(64), nullable=False, server_default="chat"),
    UniqueConstraint("contact_id", "client_id", name="uq_conversations_client_id"),
    Index("ix_conversations_site_status", "site_id", "status"),
    Index("ix_conversations_agent_status", "agent_id", "status"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("author_kind", String(16), nullable=False),
    Column("author_id", String(32), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # The files the message carries, as JSON ([{id, name, type, size, inline}]); NULL for none.
    Column("files", Text),
    UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
    # A resend of the same client message id by the same author is the same message.
    UniqueConstraint(
        "conversation_id", "author_kind", "author_id", "client_id", name="uq_messages_client_id"
    ),
)

# Files and images sent in chats; the bytes live in the files storage (files/storage.py) under
# the id. The type is what the bytes showed (files/sniff.py), never what the uploader said.
files = Table(
    "files",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False),
    Column("conversation_id", String(32), ForeignKey("conversations.id"), nullable=False, index=True),
    Column("uploader_kind", String(16), nullable=False),
    Column("uploader_id", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("content_type", String(127), nullable=False),
    Column("inline", Boolean, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Failed sign-ins per email (hashed), kept in the store so a lockout holds across processes.
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_failed_at", BigInteger, nullable=False),
    Column("locked_until", BigInteger, nullable=False),
)

# What a site must never send to visitors: apart from sites.settings, which the widget reads.
site_secrets = Table(
    "site_secrets",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("identity_secret", Text),
    Column("identity_enforced", Boolean, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

canned_responses = Table(
    "canned_responses",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False),
    Column("shortcut", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("site_id", "shortcut", name="uq_canned_responses_shortcut"),
)

# The help centre. One set per installation, imported from Markdown and edited in the console;
# every process rebuilds its own search index from here.
articles = Table(
    "articles",
    metadata,
    Column("locale", String(8), primary_key=True),
    Column("slug", String(200), primary_key=True),
    Column("title", Text, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("synonyms", JSON, nullable=False),
    Column("body", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("updated_at", BigInteger, nullable=False, index=True),
    # Where the help centre lists the article ("" for none): from front matter or a folder.
    Column("category", String(80), nullable=False, server_default=""),
)

# "Was this helpful?" on help-centre pages: one vote per browser (a hashed cookie) per article
# and language, which that browser may change. The network is kept only as a keyed hash, to
# bound a flood of votes from one address that drops its cookie each time.
article_votes = Table(
    "article_votes",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("locale", String(8), primary_key=True),
    Column("slug", String(200), primary_key=True),
    Column("voter", String(64), primary_key=True),
    Column("helpful", Boolean, nullable=False),
    Column("network", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_article_votes_network", "site_id", "locale", "slug", "network", "created_at"),
    Index("ix_article_votes_updated_at", "site_id", "updated_at"),
)

# Articles a visitor opened, so the agent knows what they already read.
article_views = Table(
    "article_views",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("contact_id", String(32), ForeignKey("contacts.id"), nullable=False, index=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id")),
    Column("locale", String(8), nullable=False),
    Column("slug", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Private notes agents leave in a chat: never part of the visitor's transcript or sequence.
chat_notes = Table(
    "chat_notes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id"), nullable=False, index=True),
    Column("agent_id", String(32), ForeignKey("agents.id"), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # A resent note (same agent, same client id) is stored once.
    UniqueConstraint("conversation_id", "agent_id", "client_id", name="uq_chat_notes_client_id"),
)

# What a visitor typed into the help search before asking, for the agent's sidebar.
visitor_searches = Table(
    "visitor_searches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("contact_id", String(32), ForeignKey("contacts.id"), nullable=False, index=True),
    Column("query", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

ratings = Table(
    "ratings",
    metadata,
    Column("conversation_id", String(32), ForeignKey("conversations.id"), primary_key=True),
    Column("score", String(8), nullable=False),
    Column("comment", Text),
    Column("created_at", BigInteger, nullable=False),
)


# Tickets (issue 6): a chat handed over to email, or a mail that started a thread. Each mail
# goes through the outbox, written in the same transaction as the ticket event it tells about.
tickets = Table(
    "tickets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False),
    Column("contact_id", String(32), ForeignKey("contacts.id"), nullable=False, index=True),
    # One ticket per chat: a second convert or leave_email finds the first.
    Column("conversation_id", String(32), ForeignKey("conversations.id"), unique=True),
    # The visitor's id for an offline form, so a resent form opens no second ticket.
    Column("client_id", String(64)),
    Column("subject", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("assignee_id", String(32), ForeignKey("agents.id")),
    Column("source", String(32), nullable=False),
    # Where the customer came from (chatserver/channels.py): chat, email, form, api:<name>.
    Column("channel", String(64), nullable=False, server_default="chat"),
    Column("follow_up_of", String(32)),
    # Message-ID of the first mail to the customer: the root every later mail references.
    Column("thread_id", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("solved_at", BigInteger),
    UniqueConstraint("contact_id", "client_id", name="uq_tickets_client_id"),
    Index("ix_tickets_site_status", "site_id", "status", "updated_at"),
)

ticket_tags = Table(
    "ticket_tags",
    metadata,
    Column("ticket_id", String(32), ForeignKey("tickets.id"), primary_key=True),
    Column("tag", String(40), primary_key=True, index=True),
)

# What was said on a ticket: the customer's mails, agents' replies, private notes.
ticket_entries = Table(
    "ticket_entries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("ticket_id", String(32), ForeignKey("tickets.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("author_id", String(32)),
    Column("client_id", String(64)),
    Column("body", Text, nullable=False),
    Column("message_id", String(255)),
    Column("created_at", BigInteger, nullable=False),
    # A mail delivered twice (an SMTP retry) and a resent reply are stored once.
    UniqueConstraint("ticket_id", "message_id", name="uq_ticket_entries_message_id"),
    UniqueConstraint("ticket_id", "author_id", "client_id", name="uq_ticket_entries_client_id"),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("entry_id", String(32), ForeignKey("ticket_entries.id"), nullable=False, index=True),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(127), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("ticket_id", String(32), ForeignKey("tickets.id"), index=True),
    Column("kind", String(32), nullable=False),
    # Rendered once, sent as is: a retry after a crash carries the same Message-ID.
    Column("message_id", String(255), nullable=False, unique=True),
    Column("sender", String(320), nullable=False),
    Column("recipients", JSON, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    # A worker owns a row until then; past it, another worker may take it (crash window).
    Column("claimed_until", BigInteger),
    Column("last_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

# Inbound mail that was not appended: a bad or missing token, an unknown sender. Kept whole
# for an admin, never silently dropped.
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("ticket_id", String(32)),
    Column("reason", String(32), nullable=False),
    # What the reason code cannot say, e.g. which check failed: "DKIM signature did not verify".
    Column("detail", Text),
    Column("sender", String(320), nullable=False),
    Column("recipients", JSON, nullable=False),
    Column("subject", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("received_at", BigInteger, nullable=False, index=True),
)


# Reports, SLAs and proactive chat (issue 9). An SLA breach is recorded once per chat or
# ticket and clock, whichever process sees it first (the unique key settles the race).
sla_breaches = Table(
    "sla_breaches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False),
    Column("subject_kind", String(8), nullable=False),
    Column("subject_id", String(32), nullable=False),
    Column("metric", String(16), nullable=False),
    Column("target_seconds", Integer, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("agent_id", String(32)),
    Column("recorded_at", BigInteger, nullable=False),
    UniqueConstraint("subject_kind", "subject_id", "metric", name="uq_sla_breaches_subject"),
    Index("ix_sla_breaches_site", "site_id", "due_at"),
)

proactive_rules = Table(
    "proactive_rules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    # "time" (seconds on the page), "url" (a pattern of the page address), "event" (host page)
    Column("trigger", String(8), nullable=False),
    Column("value", String(500), nullable=False),
    Column("message", Text, nullable=False),
    Column("cap", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Each time a rule opened the widget for a visitor, numbered per visitor and rule: the unique
# number makes the cap hold even when two tabs fire at once.
proactive_shows = Table(
    "proactive_shows",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("rule_id", String(32), ForeignKey("proactive_rules.id"), nullable=False),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False),
    Column("contact_id", String(32), ForeignKey("contacts.id"), nullable=False),
    Column("nth", Integer, nullable=False),
    Column("shown_at", BigInteger, nullable=False),
    UniqueConstraint("rule_id", "contact_id", "nth", name="uq_proactive_shows_nth"),
    Index("ix_proactive_shows_site", "site_id", "shown_at"),
)

# Agents planned per hour of the week, for the forecast's needed-versus-scheduled chart.
staffing_schedule = Table(
    "staffing_schedule",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("weekday", Integer, primary_key=True),
    Column("hour", Integer, primary_key=True),
    Column("agents", Integer, nullable=False),
)


# The public REST API (issue 16). A token is shown once; only its SHA-256 is kept, with its
# first characters (prefix) so an admin can tell tokens apart.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("created_by", String(200)),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger),
    Column("revoked_at", BigInteger),
)

# The first answer to each create sent with an Idempotency-Key, per site; status NULL while
# the first request is still running. The primary key settles two requests racing.
api_idempotency = Table(
    "api_idempotency",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer),
    Column("response", Text),
    Column("created_at", BigInteger, nullable=False, index=True),
)

# Signed webhooks (issue 16). A subscription's secret signs its deliveries, so it is kept as
# is (it must be read to sign) and shown to the admin only when made.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False, index=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("events", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Networks a site's admin lets deliveries reach although they are private (an intranet CRM).
webhook_allow = Table(
    "webhook_allow",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("networks", JSON, nullable=False),
)

# The webhook outbox: one row per event and subscription, its body rendered once, so a retry
# sends the same bytes with the same event id (receivers dedupe on it).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("subscription_id", String(32), ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False),
    Column("event_id", String(32), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("claimed_until", BigInteger),
    Column("last_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger),
    UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_event"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_site", "site_id", "status", "created_at"),
)

# Visitors, addresses and networks an agent blocked (issue 15): refused at every door.
# hits and last_hit_at count what was refused, for the blocked-traffic report.
blocks = Table(
    "blocks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False, index=True),
    # "contact" (a visitor, all their tokens) or "network" (an address as /32 or /128, or a CIDR)
    Column("kind", String(16), nullable=False),
    Column("value", String(64), nullable=False),
    Column("note", String(200)),
    Column("created_by", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("hits", BigInteger, nullable=False),
    Column("last_hit_at", BigInteger),
    UniqueConstraint("site_id", "kind", "value", name="uq_blocks_target"),
)

# Addresses a visitor proved with a one-time code mailed to them; only a hash of the code.
email_proofs = Table(
    "email_proofs",
    metadata,
    Column("contact_id", String(32), ForeignKey("contacts.id"), primary_key=True),
    Column("email", String(320), primary_key=True),
    Column("code_hash", String(64), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("tries_left", Integer, nullable=False),
    Column("proven_at", BigInteger),
    Column("created_at", BigInteger, nullable=False),
)

# Who a contact is on a messaging platform an integration bridges (api:telegram's user 42):
# the key is (site, channel, platform id), so the same number on two platforms is two people.
channel_users = Table(
    "channel_users",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("channel", String(64), primary_key=True),
    Column("user_id", String(200), primary_key=True),
    Column("contact_id", String(32), ForeignKey("contacts.id"), nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),
)
