"""Erlang C against published reference values, and the forecast built on it."""

from __future__ import annotations

import math

import pytest

from chatserver.reports import erlang, forecast


def test_erlang_c_matches_the_closed_form() -> None:
    # Wolfram's ErlangC documentation, basic example: c = 3 servers, a = 2 erlangs -> 4/9.
    assert erlang.erlang_c(3, 2) == pytest.approx(4 / 9, abs=1e-12)
    # One server: an M/M/1 queue waits with probability rho.
    assert erlang.erlang_c(1, 0.7) == pytest.approx(0.7)


@pytest.mark.parametrize(("servers", "load", "waits", "level", "asa"), [
    # 360 calls per half hour, 4 minutes each, 55 agents, 15-second target (the widely
    # reproduced worked example of the Erlang-C formula): 48 erlangs, 23.9% wait,
    # 84.6% within 15 s, 8.2 s average speed of answer.
    (55, 48.0, 0.2387, 0.8459, 8.18),
    # Call Centre Helper's example: 10 erlangs, 3-minute calls, 20-second target.
    (11, 10.0, 0.6821, 0.3896, 122.8),
    (12, 10.0, 0.4494, 0.6402, 40.4),
    (13, 10.0, 0.2853, 0.7956, 17.1),
    (14, 10.0, 0.1741, 0.8884, 7.8),
])
def test_published_staffing_examples(
    servers: int, load: float, waits: float, level: float, asa: float
) -> None:
    handling, target = (240, 15) if servers == 55 else (180, 20)
    assert erlang.erlang_c(servers, load) == pytest.approx(waits, abs=5e-4)
    assert erlang.service_level(servers, load, handling, target) == pytest.approx(level, abs=5e-4)
    assert erlang.mean_wait(servers, load, handling) == pytest.approx(asa, abs=0.1)


def test_textbook_examples_of_servers_needed() -> None:
    # 120 customers an hour, 3 minutes each, 10 assistants: "about 0.10" wait (6 erlangs).
    assert erlang.erlang_c(10, 6) == pytest.approx(0.1013, abs=5e-4)
    # 30 calls an hour of 5 minutes; at least 90% must not wait: 6 people (C(5)=0.13, C(6)=0.047).
    needed = next(n for n in range(1, 20) if erlang.erlang_c(n, 2.5) <= 0.1)
    assert needed == 6
    # The 80/20 goal for 10 erlangs of 3-minute calls needs 13 (79.6%) -> 14 (88.8%).
    assert erlang.servers_needed(10, 180, 20, 0.8) == 14


def test_overload_and_empty_hours() -> None:
    assert erlang.erlang_c(5, 5) == 1.0 and erlang.service_level(4, 5, 60, 20) == 0.0
    assert math.isinf(erlang.mean_wait(4, 5, 60))
    assert erlang.servers_needed(0, 60, 20) == 0


def test_chat_concurrency_divides_the_servers_among_agents() -> None:
    # 60 chats an hour of 10 minutes each: 10 erlangs; a 60-second target at 80% needs 12 slots.
    one = erlang.agents_needed(60, 600, 60, concurrency=1)
    three = erlang.agents_needed(60, 600, 60, concurrency=3)
    assert one.load == pytest.approx(10) and one.agents == erlang.servers_needed(10, 600, 60)
    assert three.agents == math.ceil(one.agents / 3) and three.service_level >= 0.8
    with pytest.raises(ValueError, match="concurrency"):
        erlang.agents_needed(60, 600, 60, concurrency=0)


def test_forecast_table_with_a_surge() -> None:
    inputs = forecast.Inputs(weeks=4, arrivals={(0, 10): 4 * 30, (0, 11): 4 * 2},
                             handling_s=480, concurrency=2, target_s=60, scheduled={(0, 10): 3, (6, 3): 1})
    rows = {(r[0], r[1]): r for r in forecast.table(inputs, 40).rows}
    assert set(rows) == {("mon", 10), ("mon", 11), ("sun", 3)}
    mon10 = rows[("mon", 10)]
    assert mon10[2] == 30.0 and mon10[4] == 42.0 and mon10[7] == 3
    assert mon10[5] > mon10[3] == erlang.agents_needed(30, 480, 60, 2).agents
    assert rows[("sun", 3)][3] == 0  # scheduled, no chats: shown as over-staffed
    with pytest.raises(ValueError, match="surge"):
        forecast.table(inputs, -5)
