"""The site admin page's API tokens: made with the secret shown once, listed, revoked."""

from __future__ import annotations

import re

import httpx
from test_console import csrf_of, sign_in

from conftest import Server


async def test_an_admin_makes_lists_and_revokes_a_token(server: Server) -> None:
    await server.add_agent("admin@example.com", role="admin")
    site = await server.add_site("Acme")
    path = f"/console/admin/sites/{site.id}"
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as browser:
        await sign_in(browser, "admin@example.com")
        page = await browser.get(path)
        assert "No API tokens yet." in page.text
        bad = await browser.post(f"{path}/api-tokens", data={"csrf": csrf_of(page.text), "name": "",
                                                              "scope": "read"})
        assert bad.status_code == 400 and "a token needs a name" in bad.text
        made = await browser.post(f"{path}/api-tokens", data={"csrf": csrf_of(page.text), "name": "CRM",
                                                               "scope": "write"})
        found = re.search(r'id="api-secret" class="code" readonly value="(csk_[^"]+)"', made.text)
        assert made.status_code == 200 and found, made.text
        secret = found.group(1)

        async with httpx.AsyncClient(base_url=server.http) as api:
            auth = {"Authorization": f"Bearer {secret}"}
            assert (await api.post("/api/v2/contacts", json={"name": "Ann"}, headers=auth)).status_code == 201
            listed = await browser.get(path)
            assert secret not in listed.text and secret[:12] + "…" in listed.text
            row = re.search(r'<tr data-token="([^"]+)">(.*?)</tr>', listed.text, re.S)
            assert row and "<td>CRM</td>" in row.group(2) and "<td>write</td>" in row.group(2)
            assert "never" not in row.group(2)  # last used: just now

            revoked = await browser.post(f"{path}/api-tokens/{row.group(1)}/revoke",
                                         data={"csrf": csrf_of(listed.text)})
            assert revoked.status_code == 303
            assert "revoked" in (await browser.get(path)).text
            gone = await api.get("/api/v2/contacts", headers=auth)
            assert gone.status_code == 401 and gone.json()["code"] == "unauthorized"
        # Without the page's CSRF token nothing is made.
        forged = await browser.post(f"{path}/api-tokens", data={"name": "Evil", "scope": "admin"})
        assert forged.status_code in (400, 403) and "Evil" not in (await browser.get(path)).text
