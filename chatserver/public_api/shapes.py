"""The JSON shapes of the API as JSON Schema: the OpenAPI document shows them, check() enforces them.

Only the part of JSON Schema the API's shapes use is checked (type, enum, lengths, bounds,
required, properties, additionalProperties, items); one declaration serves both ends.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),),
}


class ShapeError(ValueError):
    """A value that does not fit its declared shape; the message names where."""


def string(max_length: int, *, min_length: int = 1, description: str = "", **more: Any) -> Schema:
    return {"type": "string", "minLength": min_length, "maxLength": max_length,
            **({"description": description} if description else {}), **more}


def nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), *, closed: bool = True) -> Schema:
    """An object with these properties; a closed one refuses keys it does not name."""
    shape: Schema = {"type": "object", "properties": properties}
    if required:
        shape["required"] = list(required)
    if closed:
        shape["additionalProperties"] = False
    return shape


def array(items: Schema, max_items: int | None = None) -> Schema:
    return {"type": "array", "items": items, **({"maxItems": max_items} if max_items else {})}


def page(items: Schema) -> Schema:
    """A page of a list: its items and the cursor of the next page (null on the last)."""
    return obj({"data": array(items), "next_cursor": nullable(string(500, description=(
        "pass as ?cursor= for the next page; null on the last page")))}, ("data", "next_cursor"))


def _kind(value: Any) -> str:
    for name, types in _TYPES.items():
        # bool is an int in Python, and JSON keeps them apart.
        if isinstance(value, types) and not (name in ("integer", "number") and isinstance(value, bool)):
            return name
    return type(value).__name__


def check(schema: Schema, value: Any, where: str = "body") -> Any:
    """Return value if it fits schema; raise ShapeError naming the first place that does not."""
    allowed = schema.get("type")
    kinds = allowed if isinstance(allowed, list) else [allowed] if allowed else []
    kind = _kind(value)
    if kinds and kind not in kinds and not (kind == "integer" and "number" in kinds):
        raise ShapeError(f"{where} must be {' or '.join(kinds)}, not {kind}")
    if "enum" in schema and value not in schema["enum"]:
        raise ShapeError(f"{where} must be one of {', '.join(map(str, schema['enum']))}")
    if kind == "string":
        if len(value) < schema.get("minLength", 0):
            raise ShapeError(f"{where} must not be empty" if schema.get("minLength") == 1
                             else f"{where} is shorter than {schema['minLength']} characters")
        if len(value) > schema.get("maxLength", len(value)):
            raise ShapeError(f"{where} is longer than {schema['maxLength']} characters")
    if kind in ("integer", "number"):
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            raise ShapeError(f"{where} must be from {schema.get('minimum')} to {schema.get('maximum')}")
    if kind == "array":
        if len(value) > schema.get("maxItems", len(value)):
            raise ShapeError(f"{where} has more than {schema['maxItems']} items")
        for index, item in enumerate(value):
            check(schema.get("items", {}), item, f"{where}[{index}]")
    if kind == "object":
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise ShapeError(f"{where}.{name} is required")
        for name, item in value.items():
            if name in properties:
                check(properties[name], item, f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                raise ShapeError(f"{where}.{name} is not a field of this request")
    return value


ERROR = obj({
    "type": {"type": "string", "enum": ["error"]},
    "code": string(64, description="stable, for programs: not_found, forbidden, invalid_message, ..."),
    "message": string(1000, description="for people"),
    "ref": string(200),
    "retry_after": {"type": "number"},
}, ("type", "code", "message"), closed=False)
