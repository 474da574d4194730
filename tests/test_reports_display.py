"""Report tables as a person reads them (chatserver/reports/display.py): pure, no server."""

from __future__ import annotations

import datetime as dt

import pytest

from chatserver import i18n
from chatserver.reports import api, display
from chatserver.reports.metrics import Table
from chatserver.sites import Site

EN, NL = i18n.translator("en"), i18n.translator("nl")


def test_durations_read_as_the_two_largest_units() -> None:
    assert display.duration(45, EN) == "45 s"
    assert display.duration(200, EN) == "3 min 20 s"
    assert display.duration(3600, EN) == "1 h"
    assert display.duration(7500, NL) == "2 u 5 min"
    assert display.duration(3 * 86400 + 4 * 3600 + 59, EN) == "3 d 4 h"


def test_a_table_has_human_headings_and_values_in_the_readers_language() -> None:
    table = Table("times", ("kind", "metric", "count", "median_s", "p90_s", "target_s",
                            "within_target", "breaches"),
                  [("chat", "first_response", 12, 95.0, 600.0, 60, 0.8533, 2),
                   ("ticket", "resolution", 0, None, None, 86400, None, 0)])
    shown = display.readable(table, NL, "nl")
    assert [heading for heading, _ in shown.columns] == [
        "Kanaal", "Meting", "Beantwoord", "Mediaan", "9 op 10 binnen", "Doel", "Binnen het doel",
        "Over het doel"]
    assert [cell.text for cell in shown.rows[0]] == [
        "Chat", "Eerste reactie", "12", "1 min 35 s", "10 min", "1 min", "85,3%", "2"]
    assert [cell.text for cell in shown.rows[1]][:4] == ["E-mailticket", "Afhandeling", "0", "—"]
    assert [numeric for _, numeric in shown.columns] == [False, False, True, True, True, True, True, True]
    english = display.readable(table, EN, "en")
    assert english.rows[0][6].text == "85.3%" and english.columns[3][0] == "Median"


def test_conversations_tickets_and_articles_are_links() -> None:
    breaches = Table("breaches", ("kind", "metric", "id", "target_s", "elapsed_s", "clock"),
                     [("chat", "first_response", "c1", 60, 120, "stopped"),
                      ("ticket", "resolution", "t1", 3600, 7200, "running")])
    rows = display.readable(breaches, EN, "en").rows
    assert (rows[0][2].text, rows[0][2].href) == ("Open chat", "/console#c=c1")
    assert (rows[1][2].text, rows[1][2].href) == ("Open ticket", "/console/tickets#t1")
    assert rows[1][5].text == "Still open"
    articles = Table("articles", ("locale", "slug", "views", "in_self_served_chats"),
                     [("nl", "retourtermijn", 1234, 3)])
    row = display.readable(articles, NL, "nl").rows[0]
    assert row[0].text == "Nederlands" and row[1].href == "/help/nl/retourtermijn"
    assert row[2].text == "1.234"


def test_days_and_hours_are_named() -> None:
    volume = display.readable(Table("volume", ("day", "chat", "email"), [("2026-11-16", 3, 1)]), NL, "nl")
    assert volume.rows[0][0].text == "ma 16 nov"
    forecast = display.readable(Table("forecast", ("weekday", "hour"), [("wed", 9)]), NL, "nl")
    assert [c.text for c in forecast.rows[0]] == ["woensdag", "09:00"]
    assert display.time_unit(90) == (1, "report_axis_seconds")
    assert display.time_unit(600) == (60, "report_axis_minutes")
    assert display.time_unit(3 * 86400) == (86400, "report_axis_days")


def test_a_bad_range_or_figure_says_what_to_fix_without_field_names() -> None:
    site = Site("s", "key", "Shop", (), {})
    with pytest.raises(api.ParameterError) as bad:
        api.parse_range(site, "2026-11-20", "2026-11-01", dt.date(2026, 11, 30))
    assert NL(bad.value.key, **bad.value.values) == "De begindatum ligt na de einddatum: draai ze om."
    assert bad.value.message == "from must not be after to"  # the API's words stay
    with pytest.raises(api.ParameterError) as bad:
        api.parse_range(site, "2025-01-01", "2026-12-31", dt.date(2026, 12, 31))
    assert EN(bad.value.key, **bad.value.values).startswith("A report covers at most")
