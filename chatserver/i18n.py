"""Every word a person reads, in every language: gettext catalogues read with Babel.

One catalogue a language, chatserver/locales/<lang>/LC_MESSAGES/messages.po. The msgids are
keys ("nav_inbox"), not English text: scripts and templates build keys from data
('status_' + status), the widget ships one language's table, and a key stays translated when
the English wording changes. English is a catalogue like the others, and the fallback.

Placeholders are Python's %(name)s everywhere, also in the scripts; counts use plural forms
with %(num)s (jinja2's ngettext convention), and a plural's msgid_plural is its key again.
`pybabel extract -F babel.cfg` collects the keys (ARCHITECTURE.md); tests/test_i18n.py fails
when a key used anywhere is missing or untranslated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("en", "nl")
DEFAULT = LOCALES[0]
LOCALE_DIR = Path(__file__).resolve().parent / "locales"
# The widget's keys start with this; its table is served to host pages (widget.py).
WIDGET_PREFIX = "widget_"
# Keys the console's own scripts never read: their pages or mails are rendered on the server.
_NOT_FOR_CONSOLE_SCRIPTS = (WIDGET_PREFIX, "mail_", "help_", "report_", "form_")


def N_(key: str) -> str:  # noqa: N802 (gettext's name for "mark, translate later")
    """Mark a key for extraction where it is chosen; it is translated where it is shown."""
    return key


# Keys that templates and scripts build from data ('status_' + c.status), written out so that
# `pybabel extract` keeps them and the catalogue test checks them.
BUILT_KEYS = (
    N_("status_new"), N_("status_queued"), N_("status_assigned"), N_("status_closed"),
    N_("ticket_status_new"), N_("ticket_status_open"), N_("ticket_status_pending"),
    N_("ticket_status_solved"), N_("ticket_status_closed"),
    N_("priority_low"), N_("priority_normal"), N_("priority_high"), N_("priority_urgent"),
    N_("fact_email"), N_("fact_verified"), N_("fact_page"), N_("fact_referrer"), N_("fact_device"),
    N_("fact_language"), N_("fact_local_time"), N_("verified_yes"), N_("verified_no"),
    N_("channel_chat"), N_("channel_email"), N_("channel_form"), N_("said_chat"), N_("said_email"),
    N_("said_form"), N_("held_channel_off"), N_("rating_good"), N_("rating_bad"),
    N_("online"), N_("away"), N_("offline"), N_("role_admin"), N_("role_agent"),
    N_("prechat_off"), N_("prechat_optional"), N_("prechat_required"),
    N_("day_mon"), N_("day_tue"), N_("day_wed"), N_("day_thu"), N_("day_fri"), N_("day_sat"),
    N_("day_sun"), N_("report_day_mon"), N_("report_day_tue"), N_("report_day_wed"),
    N_("report_day_thu"), N_("report_day_fri"), N_("report_day_sat"), N_("report_day_sun"),
    N_("held_unknown_sender"), N_("held_bad_token"), N_("held_no_ticket"), N_("held_bad_sender"),
    N_("held_automatic"), N_("held_unauthenticated"), N_("report_chat"), N_("report_email"),
    N_("sla_nearing"), N_("sla_breached"), N_("sla_alert_nearing"), N_("sla_alert_breached"),
    N_("widget_sending"), N_("widget_queued"), N_("widget_sent"), N_("widget_delivered"),
    N_("widget_read"), N_("widget_good"), N_("widget_bad"), N_("widget_bad_email"),
    N_("widget_bad_name"),
    N_("blocks_kind_contact"), N_("blocks_kind_network"), N_("held_blocked"),
    N_("widget_err_rate_limited"), N_("widget_err_blocked"), N_("widget_err_unproven_address"),
    N_("widget_err_channel_off"), N_("widget_err_wrong_code"),
)


def catalogue_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


def pick(*wanted: str | None) -> str:
    """Return the first supported language among tags like "nl-BE", else the default."""
    for tag in wanted:
        code = (tag or "").strip().lower()[:2]
        if code in LOCALES:
            return code
    return DEFAULT


def from_header(accept_language: str) -> str:
    """Return the first supported language an Accept-Language header asks for."""
    return pick(*(part.split(";")[0] for part in accept_language.split(",")), DEFAULT)


@cache
def translations(locale: str) -> Translations:
    """Return a language's catalogue, read from its .po once a process; English behind it."""
    locale = pick(locale)
    with catalogue_path(locale).open("rb") as po:
        catalog = read_po(po, locale=locale)
    mo = BytesIO()
    # Compiled in memory: a checkout runs without a build step, and no .mo goes stale.
    write_mo(mo, catalog)
    mo.seek(0)
    found = Translations(mo)
    if locale != DEFAULT:
        found.add_fallback(translations(DEFAULT))
    return found


def translator(locale: str) -> Callable[..., str]:
    """Return t(key, **values) for Python code; a key missing everywhere shows as itself."""
    gettext = translations(locale).gettext

    def t(key: str, **values: Any) -> str:
        return gettext(key) % values

    return t


def plural(locale: str, key: str, num: int, **values: Any) -> str:
    """Return the form of a counted key for num, with %(num)s filled in."""
    return translations(locale).ngettext(key, key, num) % {"num": num, **values}


def strings(locale: str, prefix: str = "", console: bool = False) -> dict[str, str | list[str]]:
    """Return a language's table for a script: key to text, or to its plural forms."""
    return _strings(pick(locale), prefix, console)


@cache
def _strings(locale: str, prefix: str, console: bool) -> dict[str, str | list[str]]:
    table: dict[str, str | list[str]] = {}
    for lang in dict.fromkeys((DEFAULT, locale)):  # English first, so a gap shows English
        with catalogue_path(lang).open("rb") as po:
            catalog = read_po(po, locale=lang)
        # The scripts choose a plural form with n == 1; a language with other rules must
        # export its rule too before it can be added.
        assert catalog.plural_expr == "(n != 1)", f"{lang}: the scripts know only n != 1"
        for message in catalog:
            key = message.id if isinstance(message.id, str) else message.id[0]
            if not key or not key.startswith(prefix) or not message.string or message.fuzzy:
                continue
            if console and key.startswith(_NOT_FOR_CONSOLE_SCRIPTS):
                continue
            text = message.string
            table[key] = text if isinstance(text, str) else list(text)
    return table


def strings_json(locale: str, prefix: str = "", console: bool = False) -> str:
    """Return strings() as compact JSON, safe inside a <script> element."""
    text = json.dumps(strings(locale, prefix, console), ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c")


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, key: str) -> str:
    return translations(context.get("locale") or DEFAULT).gettext(key)


@jinja2.pass_context
def _ngettext(context: jinja2.runtime.Context, singular: str, plural_key: str, num: int) -> str:
    return translations(context.get("locale") or DEFAULT).ngettext(singular, plural_key, num)


def install(env: jinja2.Environment) -> jinja2.Environment:
    """Give a jinja2 environment _(), gettext() and ngettext() in the page's `locale`.

    With autoescape on, jinja2 treats the catalogue's text as markup and escapes the values
    put into it, as it does for the template's own text.
    """
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env

