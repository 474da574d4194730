"""The pure protocol core, without sockets, and the document that describes it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chatserver import protocol
from chatserver.protocol import ProtocolError

LIMIT = 16 * 1024
DOC = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text()


def refused(frame: object) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        protocol.parse(frame, LIMIT)  # type: ignore[arg-type]
    return caught.value


def test_parses_each_message_and_drops_unknown_keys() -> None:
    frame = json.dumps(
        {"type": "message", "conversation": "c1", "client_id": "m1", "text": "hi", "extra": 1}
    )
    assert protocol.parse(frame, LIMIT) == {
        "type": "message", "conversation": "c1", "client_id": "m1", "text": "hi",
    }
    assert protocol.parse('{"type":"hello","token":"t"}', LIMIT) == {"type": "hello", "token": "t"}
    assert protocol.parse('{"type":"hello"}', LIMIT) == {"type": "hello"}
    assert protocol.parse('{"type":"presence","status":"away"}', LIMIT)["type"] == "presence"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        (b'{"type":"ping"}', "invalid_json"),
        (None, "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ('{"type":"shout"}', "unknown_type"),
        ('{"text":"no type"}', "unknown_type"),
        ('{"type":"message","conversation":"c1","text":"hi"}', "invalid_message"),
        ('{"type":"message","conversation":"c 1","client_id":"m","text":"hi"}', "invalid_message"),
        ('{"type":"message","conversation":"c1","client_id":"m","text":"   "}', "invalid_message"),
        ('{"type":"message","conversation":"c1","client_id":"m","text":7}', "invalid_message"),
        ('{"type":"receipt","conversation":"c1","seq":-1,"status":"read"}', "invalid_message"),
        ('{"type":"receipt","conversation":"c1","seq":true,"status":"read"}', "invalid_message"),
        ('{"type":"receipt","conversation":"c1","seq":1,"status":"seen"}', "invalid_message"),
        ('{"type":"typing","conversation":"c1","active":"yes"}', "invalid_message"),
        ('{"type":"presence","status":"asleep"}', "invalid_message"),
        ('{"type":"hello","token":""}', "invalid_message"),
        ("[" * 5000 + "]" * 5000, "invalid_json"),
        ('{"type":"message","conversation":"c1","client_id":"m","text":"\\ud800"}', "invalid_json"),
        ('{"type":"receipt","conversation":"c1","seq":9223372036854775808,"status":"read"}',
         "invalid_json"),
        ('{"type":"message","conversation":"c1","client_id":"m","text":"\u202e\u202c"}',
         "invalid_message"),
        ("", "invalid_json"),
    ],
)
def test_refuses_bad_frames_with_a_code(frame: object, code: str) -> None:
    assert refused(frame).code == code


def test_refusal_names_the_client_id_it_is_about() -> None:
    error = refused('{"type":"message","conversation":"c1","client_id":"m9"}')
    assert error.ref == "m9"
    assert protocol.error(error.code, error.message, error.ref) == {
        "type": "error", "code": "invalid_message", "message": "'message' needs 'text'", "ref": "m9",
    }


def test_size_limits() -> None:
    big = json.dumps({"type": "message", "conversation": "c", "client_id": "m", "text": "x" * LIMIT})
    assert refused(big).code == "too_large"
    # Multi-byte characters count in bytes, not characters.
    wide = json.dumps({"type": "ping", "pad": "€" * 6000}, ensure_ascii=False)
    assert len(wide) < LIMIT < len(wide.encode())
    assert refused(wide).code == "too_large"
    long_text = json.dumps(
        {"type": "message", "conversation": "c", "client_id": "m",
         "text": "x" * (protocol.MAX_TEXT_CHARS + 1)}
    )
    assert refused(long_text).code == "too_large"


def _documented_types(direction: str) -> set[str]:
    rows = re.findall(r"^\| `(\w+)` \| (client → server|server → client) \|", DOC, re.M)
    return {kind for kind, way in rows if way == direction}


def test_every_message_type_in_code_is_documented() -> None:
    assert set(protocol.CLIENT_TYPES) == _documented_types("client → server")
    assert set(protocol.SERVER_TYPES) == _documented_types("server → client")
    for kind in protocol.CLIENT_TYPES | set(protocol.SERVER_TYPES):
        assert f"### {kind}\n" in DOC, f"no section for {kind}"


def test_every_error_code_in_code_is_documented() -> None:
    source = "".join(
        p.read_text() for p in (Path(__file__).parent.parent / "chatserver").rglob("*.py")
    )
    codes = set(re.findall(r'ProtocolError\(\s*"(\w+)"', source))
    codes |= set(re.findall(r'ApiError\(\s*\d+,\s*"(\w+)"', source))
    codes |= set(re.findall(r'_refuse\(\s*websocket,\s*"(\w+)"', source))
    assert codes, "the pattern found no error codes"
    documented = set(re.findall(r"^\| `(\w+)` \| ", DOC.split("## Errors")[1], re.M))
    assert codes <= documented, codes - documented


def test_each_side_may_send_only_its_own_types() -> None:
    assert protocol.VISITOR_TYPES | protocol.AGENT_TYPES == protocol.CLIENT_TYPES
    assert "accept" not in protocol.VISITOR_TYPES and "start" not in protocol.AGENT_TYPES


def test_text_loses_bidi_controls_that_would_reorder_what_agents_read() -> None:
    frame = json.dumps({"type": "message", "conversation": "c1", "client_id": "m",
                        "text": "invoice\u202egnp.exe"})
    assert protocol.parse(frame, LIMIT)["text"] == "invoicegnp.exe"  # type: ignore[typeddict-item]
