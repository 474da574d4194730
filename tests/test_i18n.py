"""The catalogues: every key the code uses is in every language and translated (chatserver/i18n.py)."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from chatserver import i18n

ROOT = Path(__file__).resolve().parent.parent
# The keywords ARCHITECTURE.md gives `pybabel extract`, beside jinja2's _, gettext, ngettext.
KEYWORDS = {**DEFAULT_KEYWORDS, "t": None, "N_": None, "tn": (1, 1)}
# Words Dutch borrows as they are; any other Dutch text equal to the English is untranslated.
SAME_IN_DUTCH = {
    "agent_sites", "article_slug", "channel_chat", "chat_label", "filter_status", "nav_inbox",
    "nav_label", "nav_sites", "nav_tickets", "webhooks", "offline", "online", "report_chat",
    "report_col_chat", "report_col_chats", "report_col_conversation", "report_col_tickets",
    "report_kind_chat", "report_unit_d", "report_unit_min", "report_unit_s", "report_volume",
    "site", "status", "ticket_status_open", "tickets_label", "wait_minutes", "wait_seconds",
    "widget_chat",
}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _catalogue(locale: str) -> Catalog:
    with i18n.catalogue_path(locale).open("rb") as po:
        return read_po(po, locale=locale)


def _used() -> dict[str, bool]:
    """Return every key babel.cfg extracts from the code, and whether it is counted (plural)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    used: dict[str, bool] = {}
    for _, _, message, _, _ in extract_from_dir(ROOT, method_map, options_map, keywords=KEYWORDS):
        key = message if isinstance(message, str) else message[0]
        used[key] = used.get(key, False) or not isinstance(message, str)
    return used


def _key(message_id: str | tuple[str, ...]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def _names(text: str | tuple[str, ...]) -> set[str]:
    """Return the placeholders of a text, or of all its plural forms together."""
    return set(PLACEHOLDER.findall(" ".join(text) if isinstance(text, tuple) else text))


def test_every_key_the_code_uses_is_translated_in_every_language() -> None:
    used = _used()
    assert len(used) > 300 and "nav_inbox" in used and "widget_send" in used and "mail_marker" in used
    for key in i18n.BUILT_KEYS:
        used.setdefault(key, False)
    for locale in i18n.LOCALES:
        catalogue = _catalogue(locale)
        entries = {_key(m.id): m for m in catalogue if m.id}
        missing = sorted(set(used) - set(entries))
        assert not missing, f"{locale} lacks {missing}"
        unused = sorted(set(entries) - set(used))
        assert not unused, f"{locale} has keys nothing uses: {unused}"
        for key, counted in used.items():
            message = entries[key]
            forms = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(forms) and not message.fuzzy, f"{locale}: {key} is not translated"
            assert counted == isinstance(message.id, tuple), f"{locale}: {key} plural forms"
            assert len(forms) == (catalogue.num_plurals if counted else 1), f"{locale}: {key}"


def test_dutch_is_translated_and_keeps_every_placeholder() -> None:
    english = {_key(m.id): m.string for m in _catalogue("en") if m.id}
    for message in _catalogue("nl"):
        if not message.id:
            continue
        key = _key(message.id)
        if message.string == english[key]:
            assert key in SAME_IN_DUTCH, f"nl: {key} is still English: {message.string!r}"
        assert _names(message.string) == _names(english[key]), f"nl: {key} placeholders"
        assert "Met jij" not in str(message.string)


def test_templates_get_gettext_with_values_escaped() -> None:
    env = i18n.install(jinja2.Environment(autoescape=True))
    page = env.from_string(
        "{{ _('with_agent', name=who) }} | {{ ngettext('chat_transcript', 'chat_transcript', 1) }}"
        " | {{ ngettext('chat_transcript', 'chat_transcript', 3) }} | {{ _('report_surge') }}"
    )
    assert page.render(locale="nl", who="<b>Bo</b>") == (
        "Met &lt;b&gt;Bo&lt;/b&gt; | De chat waar het uit kwam (1 bericht)"
        " | De chat waar het uit kwam (3 berichten) | Piek %"
    )
    assert page.render(locale="fr", who="Bo").startswith("With Bo | The chat it came from (1 message)")


def test_python_lookups_fall_back_to_english_then_to_the_key() -> None:
    assert i18n.translator("nl")("typing", name="Bo") == "Bo typt…"
    assert i18n.translator("de")("typing", name="Bo") == "Bo is typing…"
    assert i18n.translator("nl")("no_such_key") == "no_such_key"
    assert i18n.plural("en", "signin_locked", 1).endswith("in 1 minute.")


def test_a_language_is_picked_from_tags_and_headers() -> None:
    assert i18n.pick(None, "", "nl-BE", "en") == "nl"
    assert i18n.pick("de") == i18n.DEFAULT == "en"
    assert i18n.from_header("de-DE,de;q=0.9,nl;q=0.8,en;q=0.5") == "nl"


def test_scripts_get_their_own_strings_only() -> None:
    widget = i18n.strings("nl", i18n.WIDGET_PREFIX)
    assert widget["widget_send"] == "Versturen" and widget["widget_unread"] == ["%(num)s ongelezen"] * 2
    assert all(key.startswith("widget_") for key in widget)
    console = i18n.strings("nl", console=True)
    assert console["with_you"] == "Met jou" and console["sla_breached"] == "SLA overschreden"
    assert not any(key.startswith(("widget_", "mail_", "help_", "report_")) for key in console)
    assert "<" not in i18n.strings_json("en", console=True)
