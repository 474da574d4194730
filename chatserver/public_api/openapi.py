"""The OpenAPI 3.1 document, made from the operations themselves, and a readable page of it.

Nothing is written twice: paths, parameters, bodies, answers and scopes come from each
Operation's declaration, which is also what the door enforces (operations.py).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from chatserver import __version__
from chatserver.public_api import idempotency, shapes
from chatserver.public_api.operations import PREFIX, Operation, Page

_REASONS = {400: "Bad input: malformed JSON, a wrong field, an unknown parameter",
            401: "No token, or an unknown or revoked one", 403: "The token's scopes do not allow this",
            404: "Not found, or not the token's site's", 409: "Conflicts with the current state",
            413: "Too large", 422: "The Idempotency-Key was used for another request",
            429: "Too many calls with this token; wait Retry-After seconds"}


def _operation(op: Operation) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 200}}
        for name in op.path_params
    ]
    parameters += [
        {"name": p.name, "in": "query", "required": p.required, "description": p.description,
         "schema": p.schema} for p in op.query
    ]
    if op.create:
        parameters.append({
            "name": idempotency.HEADER, "in": "header", "required": False,
            "description": "sent again with the same body, answers with the first answer "
            "(and Idempotent-Replayed: true); with another body, 422",
            "schema": {"type": "string", "maxLength": idempotency.MAX_KEY_CHARS},
        })
    responses: dict[str, Any] = {str(op.status): {
        "description": "Created" if op.create else "OK",
        "content": {"application/json": {"schema": op.response}},
    }}
    for status in sorted({*op.errors, 401, 403, 429}):
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    described: dict[str, Any] = {
        "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
        "description": (op.description + "\n\n" if op.description else "") + f"Scope: `{op.scope}`.",
        "security": [{"bearer": []}], "x-scope": op.scope, "parameters": parameters,
        "responses": responses,
    }
    if op.body is not None:
        described["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": op.body}}}
    return described


def document(operations: Sequence[Operation], pages: Sequence[Page]) -> dict[str, Any]:
    """Return the OpenAPI document of these operations and public pages."""
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.full_path, {})[op.method.lower()] = _operation(op)
    for page in pages:
        paths.setdefault(page.full_path, {})["get"] = {
            "operationId": "get_" + page.path.strip("/").replace(".", "_"), "summary": page.summary,
            "tags": ["about"], "security": [],
            "responses": {"200": {"description": "OK", "content": {page.media_type: {}}}},
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "chatserver public API", "version": f"2 (chatserver {__version__})",
                 "description": "A site's own systems reach its contacts, conversations, tickets, "
                 "articles and reports with a site API token. Errors have one shape; lists are "
                 "cursor-paged; creates take an Idempotency-Key. See docs/api.md."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a site API token, csk_..."}},
            "schemas": {"Error": shapes.ERROR},
            "responses": {
                f"E{status}": {"description": reason, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}}
                for status, reason in _REASONS.items()
            },
        },
    }


def _schema_text(schema: dict[str, Any] | None) -> str:
    return json.dumps(schema, indent=1) if schema is not None else ""


def page(doc: dict[str, Any]) -> str:
    """Render the document as one plain HTML page: every operation, its scope, input and answer."""
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(doc['info']['title'])}</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "code,pre{background:#f4f4f5;padding:.1rem .3rem}pre{padding:.6rem;overflow:auto;font-size:12px}"
        "section{border-top:1px solid #ddd;padding:.5rem 0}.m{font-weight:bold;display:inline-block;"
        "min-width:4rem}</style></head><body>",
        f"<h1>{e(doc['info']['title'])}</h1><p>{e(doc['info']['description'])}</p>",
        f"<p>Machine-readable: <a href='{PREFIX}/openapi.json'>{PREFIX}/openapi.json</a> "
        "(OpenAPI 3.1). Send <code>Authorization: Bearer csk_...</code> with every call.</p>",
        "<h2>Operations</h2><ul>",
    ]
    listed = [(path, method, op) for path, methods in doc["paths"].items() for method, op in methods.items()]
    for path, method, op in listed:
        parts.append(f"<li><a href='#{e(op['operationId'])}'><span class='m'>{e(method.upper())}</span>"
                     f"{e(path)}</a>: {e(op['summary'])}</li>")
    parts.append("</ul>")
    for path, method, op in listed:
        parts.append(f"<section id='{e(op['operationId'])}'><h3><span class='m'>{e(method.upper())}</span>"
                     f"<code>{e(path)}</code></h3><p>{e(op['summary'])}</p>")
        if op.get("description"):
            parts.append(f"<p>{e(op['description'])}</p>")
        params = op.get("parameters", [])
        if params:
            parts.append("<table><tr><th>parameter</th><th>in</th><th>about</th></tr>")
            for p in params:
                required = " (required)" if p.get("required") else ""
                parts.append(f"<tr><td><code>{e(p['name'])}</code>{required}</td>"
                             f"<td>{e(p['in'])}</td><td>{e(p.get('description', ''))}</td></tr>")
            parts.append("</table>")
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body:
            parts.append(f"<p>Body:</p><pre>{e(_schema_text(body))}</pre>")
        for status, answer in op["responses"].items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if status.startswith("2") and schema:
                parts.append(f"<p>{e(status)}:</p><pre>{e(_schema_text(schema))}</pre>")
        errors = [s for s in op["responses"] if not s.startswith("2")]
        if errors:
            parts.append(f"<p>Errors: {e(', '.join(errors))}, each <code>{{type: \"error\", code, "
                         "message}</code>.</p>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)
