"""The OpenAPI document covers every /api/v2 route the application serves, and nothing else."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from chatserver import config
from chatserver.app import create_app
from chatserver.public_api import idempotency, routes
from conftest import Server

PREFIX = "/api/v2"


def served(tmp_path: Path) -> set[tuple[str, str]]:
    """Every (method, path) under /api/v2 in the application's own route table."""
    app = create_app(config.load(str(tmp_path)))
    found: set[tuple[str, str]] = set()
    for route in app.web.routes:  # type: ignore[attr-defined]
        assert isinstance(route, Route) or not getattr(route, "path", "").startswith(PREFIX), route
        if isinstance(route, Route) and route.path.startswith(PREFIX):
            found |= {(m.lower(), route.path) for m in route.methods or () if m != "HEAD"}
    return found


def test_every_route_is_documented_and_every_documented_one_served(tmp_path: Path) -> None:
    documented = {(method, path) for path, methods in routes.DOCUMENT["paths"].items() for method in methods}
    assert served(tmp_path) == documented
    assert len(documented) >= 20


def test_every_operation_says_its_scope_input_answers_and_errors() -> None:
    for path, methods in routes.DOCUMENT["paths"].items():
        for method, op in methods.items():
            assert op["summary"] and op["operationId"] and op["responses"], (method, path)
            if path in (f"{PREFIX}/openapi.json", f"{PREFIX}/docs"):
                continue
            assert op["x-scope"] in ("read", "write", "admin") and op["security"] == [{"bearer": []}]
            assert {"401", "403"} <= set(op["responses"]), (method, path)
            names = [p["name"] for p in op["parameters"]]
            assert names[: path.count("{")] == [s.split("}")[0] for s in path.split("{")[1:]]
            if method == "post" and "201" in op["responses"]:
                assert idempotency.HEADER in names, (method, path)
            if method in ("post", "patch") and "requestBody" in op:
                assert op["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"
    ids = [op["operationId"] for methods in routes.DOCUMENT["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))


def test_docs_api_md_names_every_operation() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    for op in routes.OPERATIONS:
        assert f"{op.method} {op.full_path}" in text, f"docs/api.md does not name {op.method} {op.full_path}"


@pytest.mark.shared_server
async def test_the_server_serves_the_document_and_a_readable_page(server: Server) -> None:
    async with httpx.AsyncClient() as http:
        doc = await http.get(f"{server.http}{PREFIX}/openapi.json")
        page = await http.get(f"{server.http}{PREFIX}/docs")
    assert doc.status_code == 200 and doc.json()["openapi"].startswith("3.1")
    assert doc.json()["paths"].keys() == routes.DOCUMENT["paths"].keys()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for path, methods in routes.DOCUMENT["paths"].items():
        for method in methods:
            assert f"{method.upper()}</span>{path}" in page.text.replace("<code>", "").replace("</code>", "")
    assert "<script" not in page.text and "https://" not in page.text  # no CDN, nothing fetched
