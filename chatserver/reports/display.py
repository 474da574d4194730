"""Report tables as a person reads them: column names and values in their language. Pure.

The CSV and JSON keep the machine's names (`median_s`, 0.853); the page shows "Median" and
"3 min 20 s", "85.3%" or "85,3%", "Tuesday", and links a conversation or ticket to the
console page that opens it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

from chatserver.i18n import N_
from chatserver.reports.metrics import Cell, Table

Translate = Callable[..., str]

# Every column a report has, as the page names it (the key is report_col_<column>).
COLUMN_KEYS = {
    name: f"report_col_{name}" for name in (
        "day", "chat", "email", "kind", "metric", "count", "median_s", "p90_s", "target_s",
        "within_target", "breaches", "id", "elapsed_s", "clock", "rated", "good", "bad",
        "share_good", "comments", "conversation", "rating", "comment", "chats", "self_served",
        "to_a_person", "share_self_served", "locale", "slug", "views", "in_self_served_chats",
        "question", "agent", "tickets", "chat_first_response_median_s",
        "ticket_first_response_median_s", "rule", "shown", "conversion", "weekday", "hour",
        "chats_per_hour", "agents_needed", "surge_chats_per_hour", "surge_agents_needed",
        "surge_service_level", "agents_scheduled", "title", "helpful", "not_helpful", "share_helpful",
    )
}
# Written out so that `pybabel extract` keeps them and the catalogue test checks them.
_KEYS = (
    N_("report_col_day"), N_("report_col_chat"), N_("report_col_email"), N_("report_col_kind"),
    N_("report_col_metric"), N_("report_col_count"), N_("report_col_median_s"),
    N_("report_col_p90_s"), N_("report_col_target_s"), N_("report_col_within_target"),
    N_("report_col_breaches"), N_("report_col_id"), N_("report_col_elapsed_s"),
    N_("report_col_clock"), N_("report_col_rated"), N_("report_col_good"), N_("report_col_bad"),
    N_("report_col_share_good"), N_("report_col_comments"), N_("report_col_conversation"),
    N_("report_col_rating"), N_("report_col_comment"), N_("report_col_chats"),
    N_("report_col_self_served"), N_("report_col_to_a_person"),
    N_("report_col_share_self_served"), N_("report_col_locale"), N_("report_col_slug"),
    N_("report_col_views"), N_("report_col_in_self_served_chats"), N_("report_col_question"),
    N_("report_col_agent"), N_("report_col_tickets"),
    N_("report_col_chat_first_response_median_s"),
    N_("report_col_ticket_first_response_median_s"), N_("report_col_rule"),
    N_("report_col_shown"), N_("report_col_conversion"), N_("report_col_weekday"),
    N_("report_col_hour"), N_("report_col_chats_per_hour"), N_("report_col_agents_needed"),
    N_("report_col_surge_chats_per_hour"), N_("report_col_surge_agents_needed"),
    N_("report_col_surge_service_level"), N_("report_col_agents_scheduled"), N_("report_col_title"),
    N_("report_col_helpful"), N_("report_col_not_helpful"), N_("report_col_share_helpful"),
    N_("report_kind_chat"), N_("report_kind_ticket"), N_("report_metric_first_response"),
    N_("report_metric_resolution"), N_("report_clock_running"), N_("report_clock_stopped"),
    N_("report_weekday_mon"), N_("report_weekday_tue"), N_("report_weekday_wed"),
    N_("report_weekday_thu"), N_("report_weekday_fri"), N_("report_weekday_sat"),
    N_("report_weekday_sun"), N_("report_lang_en"), N_("report_lang_nl"),
    N_("report_param_surge"), N_("report_param_weeks"),
)
_SECONDS = {"median_s", "p90_s", "target_s", "elapsed_s", "chat_first_response_median_s",
            "ticket_first_response_median_s"}
_SHARES = {"within_target", "share_good", "share_self_served", "conversion", "surge_service_level",
           "share_helpful"}
# Columns whose values are words from a short list, each with its own key.
_WORDS = {"kind": "report_kind_", "metric": "report_metric_", "clock": "report_clock_",
          "weekday": "report_weekday_", "rating": "rating_", "locale": "report_lang_"}


def word(prefix: str, value: object, t: Translate) -> str:
    """Return the word for a value from a short list ("report_kind_" + "chat")."""
    key = prefix + str(value)
    return t(key)


def time_unit(longest: float) -> tuple[int, str]:
    """Return the unit a chart of durations up to `longest` seconds counts in, and its axis label.

    One unit a chart keeps its ticks round (0, 5, 10, 15 min) rather than "3 min 20 s".
    """
    for size, key in ((86400 * 2, N_("report_axis_days")), (3600 * 2, N_("report_axis_hours")),
                      (120, N_("report_axis_minutes"))):
        if longest >= size:
            return size // 2, key
    return 1, N_("report_axis_seconds")


@dataclass(frozen=True)
class Shown:
    """One cell as the page shows it: its text, a link if it opens something, and alignment."""

    text: str
    href: str | None = None
    numeric: bool = False


def duration(seconds: float, t: Translate) -> str:
    """Return seconds as the two largest units: "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h"."""
    whole = round(seconds)
    if whole < 60:
        return t("report_unit_s", n=whole)
    units = ((86400, N_("report_unit_d")), (3600, N_("report_unit_h")), (60, N_("report_unit_min")),
             (1, N_("report_unit_s")))
    parts = []
    for i, (size, key) in enumerate(units):
        if whole >= size:
            parts.append(t(key, n=whole // size))
            rest = whole % size
            small_size, small_key = units[i + 1]
            if rest // small_size:
                parts.append(t(small_key, n=rest // small_size))
            break
    return " ".join(parts)


def cell(column: str, value: Cell, row: dict[str, Cell], t: Translate, locale: str) -> Shown:
    """Return one value of a report as the page shows it."""
    if value is None or value == "":
        return Shown("—")
    if column in _SECONDS:
        return Shown(duration(float(value), t), numeric=True)
    if column in _SHARES:
        return Shown(format_percent(float(value), "#,##0.#%", locale=locale), numeric=True)
    if column in _WORDS:
        return Shown(word(_WORDS[column], value, t))
    if column == "day":
        return Shown(format_date(dt.date.fromisoformat(str(value)), "EEE d MMM", locale=locale))
    if column == "hour":
        return Shown(f"{int(value):02d}:00", numeric=True)
    if column == "conversation" or (column == "id" and row.get("kind") == "chat"):
        return Shown(t("report_open_chat"), href=f"/console#c={value}")
    if column == "id":
        return Shown(t("report_open_ticket"), href=f"/console/tickets#{value}")
    if column == "slug":
        return Shown(str(value), href=f"/help/{row.get('locale') or 'en'}/{value}")
    if isinstance(value, float):
        return Shown(format_decimal(value, "#,##0.##", locale=locale), numeric=True)
    if isinstance(value, int):
        return Shown(format_decimal(value, locale=locale), numeric=True)
    return Shown(str(value))


@dataclass(frozen=True)
class Readable:
    """A report table ready for the page: column names and rows of shown cells."""

    name: str
    columns: list[tuple[str, bool]]  # (heading, numeric)
    rows: list[list[Shown]]


def readable(table: Table, t: Translate, locale: str) -> Readable:
    """Return the table with headings and values in the reader's language."""
    rows = []
    for raw in table.rows:
        named = dict(zip(table.columns, raw, strict=True))
        rows.append([cell(c, v, named, t, locale) for c, v in named.items()])
    numeric = [bool(rows) and all(r[i].numeric or r[i].text == "—" for r in rows)
               for i in range(len(table.columns))]
    headings = [t(COLUMN_KEYS.get(c, c)) for c in table.columns]
    return Readable(table.name, list(zip(headings, numeric, strict=True)), rows)
