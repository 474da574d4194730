"""JSON from strangers: parse a request body and refuse what the rest of the server cannot hold.

Python's json module accepts more than the store and the handlers can take, and fails in ways
that are not ValueError: 5,000 `[` raise RecursionError, `"\\ud800"` becomes a string that no
UTF-8 encoder (SQLite, PostgreSQL, a log line) accepts, 2**63 overflows a BIGINT column and
`NaN` or `1e400` are no JSON at all. Every one of those was a 500; here they are a reason.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Our bodies are at most a few levels deep ({"identity": {...}}, {"tags": [...]}).
MAX_DEPTH = 20
# The range of a signed 64-bit column, which every integer we store must fit.
MIN_INT, MAX_INT = -(2**63), 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class BadJson(ValueError):
    """A body that is not a JSON object the server can take; the message says why."""


def _no_constant(name: str) -> Any:
    raise BadJson(f"{name} is not a JSON number")


def loads(raw: bytes | str) -> dict[str, Any]:
    """Parse a JSON object, UTF-8 if bytes (empty means {}); raise BadJson naming the problem.

    A str (a WebSocket text frame) is checked the same way.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise BadJson("request body is not valid JSON: it must be UTF-8") from None
    if not text.strip():
        return {}
    _check_depth(text)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except BadJson:
        raise
    except ValueError:
        raise BadJson("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadJson("request body must be a JSON object")
    _check_values(data)
    return data


def _check_depth(text: str) -> None:
    """Refuse nesting past MAX_DEPTH before the parser recurses into it."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return  # the common case, counted in C
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise BadJson(f"request body is nested deeper than {MAX_DEPTH} levels")
        elif char in "]}":
            depth -= 1


def _check_values(data: Any) -> None:
    """Refuse numbers no column holds and strings no encoder takes, at any depth."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if _SURROGATE.search(value):
                raise BadJson("request body has a lone surrogate (\\ud800-\\udfff) in a string")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not MIN_INT <= value <= MAX_INT:
                raise BadJson("request body has an integer outside the signed 64-bit range")
        elif isinstance(value, float) and not math.isfinite(value):
            raise BadJson("request body has a number too large to represent")
