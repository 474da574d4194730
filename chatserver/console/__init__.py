"""The agent console: sign-in, the inbox, admin pages; jinja2 pages plus one WebSocket."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from chatserver.console import (
    account,
    admin,
    articles_admin,
    chatview,
    held_mail,
    inbox,
    pages,
    proactive_page,
    reports,
    signin,
    tickets_page,
    visitors_page,
    webhooks_page,
)


def routes() -> list[BaseRoute]:
    """Return the console's routes, to mount on the application."""
    return [
        Route("/console", inbox.inbox),
        Route("/console/signin", signin.signin_page, methods=["GET"]),
        Route("/console/signin", signin.signin, methods=["POST"]),
        Route("/console/signout", signin.signout, methods=["POST"]),
        Route("/console/preferences", inbox.preferences, methods=["POST"]),
        Route("/console/account", account.account_page, methods=["GET"]),
        Route("/console/account", account.account_save, methods=["POST"]),
        Route("/console/api/agents", inbox.site_agents),
        Route("/console/api/canned", inbox.site_canned),
        Route("/console/api/contacts/{contact_id}", inbox.contact),
        Route("/console/api/articles", chatview.search_articles),
        Route("/console/tickets", tickets_page.tickets),
        Route("/console/reports", reports.reports_page),
        *articles_admin.routes(),
        *visitors_page.routes(),
        *proactive_page.routes(),
        Route("/console/admin/sites", admin.site_list, methods=["GET"]),
        Route("/console/admin/sites", admin.site_add, methods=["POST"]),
        Route("/console/admin/sites/{site_id}", admin.site_edit, methods=["GET"]),
        Route("/console/admin/sites/{site_id}", admin.site_save, methods=["POST"]),
        Route("/console/admin/sites/{site_id}/identity", admin.site_identity, methods=["POST"]),
        Route("/console/admin/sites/{site_id}/api-tokens", admin.api_token_create, methods=["POST"]),
        Route("/console/admin/sites/{site_id}/api-tokens/{token_id}/revoke", admin.api_token_revoke,
              methods=["POST"]),
        Route("/console/admin/sites/{site_id}/webhooks", webhooks_page.webhooks_page, methods=["GET"]),
        Route("/console/admin/sites/{site_id}/webhooks", webhooks_page.webhooks_post, methods=["POST"]),
        Route("/console/admin/agents", admin.agent_list, methods=["GET"]),
        Route("/console/admin/agents", admin.agent_add, methods=["POST"]),
        Route("/console/admin/agents/{agent_id}", admin.agent_change, methods=["POST"]),
        Route("/console/admin/canned", admin.canned_list, methods=["GET"]),
        Route("/console/admin/canned", admin.canned_add, methods=["POST"]),
        Route("/console/admin/canned/{canned_id}", admin.canned_save, methods=["POST"]),
        Route("/console/admin/canned/{canned_id}/delete", admin.canned_delete, methods=["POST"]),
        Route("/console/admin/held", held_mail.held_list, methods=["GET"]),
        Route("/console/admin/held/{held_id}/release", held_mail.held_release, methods=["POST"]),
        Route("/console/admin/held/{held_id}/delete", held_mail.held_delete, methods=["POST"]),
        Route("/console/static/{name}", pages.static_file),
    ]
