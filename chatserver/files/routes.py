"""The files' HTTP doors: upload and download, for visitors (widget) and agents (console)."""

from __future__ import annotations

from starlette.routing import Route

from chatserver.api import widget_endpoint
from chatserver.files import downloads, uploads


def routes() -> list[Route]:
    return [
        Route("/api/v1/sites/{key}/conversations/{conversation}/files",
              widget_endpoint(uploads.visitor_upload), methods=["POST", "OPTIONS"]),
        Route("/api/v1/conversations/{conversation}/files", uploads.agent_upload, methods=["POST"]),
        Route("/api/v1/sites/{key}/files/{id}", widget_endpoint(downloads.visitor_download),
              methods=["GET", "OPTIONS"]),
        Route("/api/v1/files/{id}", downloads.download, methods=["GET"]),
    ]
