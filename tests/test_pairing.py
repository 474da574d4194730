"""Who gets the next chat."""

from chatserver.chat.pairing import Candidate, pick


def test_fewest_open_chats_wins() -> None:
    chosen = pick([Candidate("a", 5, 3), Candidate("b", 5, 1), Candidate("c", 5, 2)])
    assert chosen is not None and chosen.id == "b"


def test_agents_at_their_cap_get_nothing() -> None:
    assert pick([Candidate("a", 2, 2), Candidate("b", 1, 1)]) is None
    assert pick([]) is None
    chosen = pick([Candidate("a", 2, 2), Candidate("b", 3, 2)])
    assert chosen is not None and chosen.id == "b"


def test_ties_go_to_most_room_then_lowest_id() -> None:
    chosen = pick([Candidate("a", 2, 1), Candidate("b", 6, 1)])
    assert chosen is not None and chosen.id == "b"
    chosen = pick([Candidate("z", 3, 0), Candidate("m", 3, 0)])
    assert chosen is not None and chosen.id == "m"
