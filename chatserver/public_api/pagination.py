"""Cursor pagination: keyset pages in a stable order, each cursor an opaque position.

A cursor holds the sort key of the last item given out, so the next page starts strictly
after it: items added meanwhile (newer, so later in the order) come on later pages, and none
is repeated or skipped, which offsets cannot promise.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, tuple_

from chatserver.api import ApiError
from chatserver.public_api.shapes import Schema

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Cursors are a client's to keep, not to edit: the version lets the format change later.
VERSION = 1

T = TypeVar("T")

LIMIT: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT,
                 "description": "items per page"}
CURSOR: Schema = {"type": "string", "maxLength": 500,
                  "description": "next_cursor of the previous page; leave out for the first"}


def encode(position: Sequence[Any]) -> str:
    raw = json.dumps([VERSION, *position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, types: Sequence[type]) -> tuple[Any, ...] | None:
    """Return the position a cursor holds, or None for the first page; 400 for a bad cursor."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, *position = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise ApiError(400, "invalid_parameter", "'cursor' is not a cursor this API gave out") from None
    if version != VERSION or len(position) != len(types) or not all(
        isinstance(p, t) and not isinstance(p, bool) for p, t in zip(position, types, strict=True)
    ):
        raise ApiError(400, "invalid_parameter", "'cursor' is not a cursor this API gave out")
    return tuple(position)


def keyset(
    query: Select[Any], columns: Sequence[ColumnElement[Any]], cursor: str | None, limit: int
) -> Select[Any]:
    """Order query by columns (the last one unique) and start after the cursor's position."""
    position = decode(cursor, [_python_type(c) for c in columns])
    if position is not None:
        query = query.where(tuple_(*columns) > tuple_(*position))
    # One more than asked tells whether another page follows.
    return query.order_by(*columns).limit(limit + 1)


def _python_type(column: ColumnElement[Any]) -> type:
    return int if column.type.python_type is int else str


def page(items: Sequence[T], limit: int, position: Callable[[T], Sequence[Any]],
         describe: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """Answer with up to limit items and the cursor after the last one, if more follow."""
    shown = items[:limit]
    more = len(items) > limit and bool(shown)
    return {"data": [describe(item) for item in shown],
            "next_cursor": encode(position(shown[-1])) if more else None}
