"""A visitor proves an email address inside the widget (issue 17): the panel menu or an email
form, a code mailed to a real SMTP sink (aiosmtpd), one code field, then the history of the
contact that owns the address. Chromium on a host page of another origin."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from browser import HostSite, expect
from mail_fixtures import MailServer, Sink, code_in, prove

from conftest import Client, visitor

SEEN_TIMEOUT_MS = 8000
EMAIL = "kim@example.com"
# The mails these tests cause for one address exceed what one person wants in an hour.
LIFTED = {"mail": {"recipient": [20, 3600], "network": [50, 3600]}}


@pytest.fixture
def host(mail_server: MailServer) -> Iterator[HostSite]:
    with HostSite(mail_server).running() as site:
        yield site


async def _site(server: MailServer, host: HostSite, **settings: Any) -> Any:
    site = await server.add_site("Acme", origins=[host.origin])
    await server.set_site(site, limits=LIFTED, **settings)
    host.site_key = site.public_key
    return site


async def _codes(sink: Sink, count: int) -> str:
    """Return the code in the count-th code mail to EMAIL."""
    for _ in range(300):
        codes = [r for r in sink.received
                 if EMAIL in r.rcpt_tos and "code" in str(r.message["Subject"]).lower()]
        if len(codes) >= count:
            return code_in(codes[count - 1])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no code mail number {count} to {EMAIL}")


async def test_verify_my_email_from_the_menu_shows_the_owners_conversations(
    mail_server: MailServer, sink: Sink, host: HostSite, browser: Any, clients: list[Client]
) -> None:
    site = await _site(mail_server, host, locale="en")
    # Kim chatted before, on another device, and proved the address there.
    kim = await visitor(mail_server, site, origin=host.origin)
    clients.append(kim)
    await prove(kim, sink, EMAIL)
    await kim.send(type="start", client_id="k", text="zxqv where is parcel 4411")
    await kim.expect("ack", ref="k")

    page = await browser.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    # Nothing of Kim's before the proof.
    await expect(page.locator(".cs-sub")).not_to_have_text("", timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator(".cs-log")).not_to_contain_text("parcel 4411")
    await page.get_by_role("button", name="More options").click()
    await page.get_by_role("menuitem", name="Verify my email").click()
    notice = page.locator(".cs-notice")
    await expect(notice.locator("p").first).to_have_text(
        "We mail you a code to confirm this address is yours. Your earlier conversations with us "
        "then show here too.")
    await notice.get_by_label("Email address").fill(EMAIL)
    await notice.get_by_role("button", name="Send code").click()
    await expect(notice.locator("p").first).to_have_text(
        f"We sent a 6-digit code to {EMAIL}. It works for 10 minutes.", timeout=SEEN_TIMEOUT_MS)
    field = notice.get_by_label("6-digit code")
    await expect(field).to_have_attribute("inputmode", "numeric")
    await expect(field).to_have_attribute("autocomplete", "one-time-code")
    code = await _codes(sink, 2)

    # A wrong code: said plainly, and the field takes a new try.
    wrong = "000000" if code != "000000" else "111111"
    await field.fill(wrong)  # six digits send themselves
    await expect(notice.locator(".cs-err")).to_have_text(
        "That code is not right. Check the latest mail from us, or ask for a new code.",
        timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator(".cs-log")).not_to_contain_text("parcel 4411")
    # Pasted as the mail shows it, with a space: the digits are kept.
    await field.fill("")
    await field.focus()
    await page.keyboard.insert_text(f"{code[:3]} {code[3:]}")
    await expect(page.locator(".cs-sys .cs-bubble").last).to_have_text(
        f"{EMAIL} is verified.", timeout=SEEN_TIMEOUT_MS)
    # Joined Kim's contact: Kim's conversation is this visitor's now.
    await expect(page.locator(".cs-log")).to_contain_text("zxqv where is parcel 4411",
                                                          timeout=SEEN_TIMEOUT_MS)
    await expect(field).to_have_count(0)
    await page.locator(".cs-input").fill("zxqv it came, thanks")
    await page.keyboard.press("Enter")
    await kim.expect("message", text="zxqv it came, thanks")


async def test_an_offline_form_proves_its_address_in_dutch(
    mail_server: MailServer, sink: Sink, host: HostSite, browser: Any
) -> None:
    await _site(mail_server, host, locale="nl")
    context = await browser.new_context(locale="nl-NL")
    page = await context.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await page.locator(".cs-input").fill("zxqv mijn tentstok is geknapt")
    await page.keyboard.press("Enter")
    form = page.locator(".cs-notice form")
    await form.get_by_label("E-mailadres").fill(EMAIL, timeout=SEEN_TIMEOUT_MS)
    notice = page.locator(".cs-notice")
    await notice.get_by_role("button", name="Mijn e-mailadres bevestigen").click()
    await expect(notice.get_by_label("E-mailadres")).to_have_value(EMAIL)
    await notice.get_by_role("button", name="Code versturen").click()
    await expect(notice.locator("p").first).to_have_text(
        f"We hebben een code van 6 cijfers gestuurd naar {EMAIL}. Die is 10 minuten geldig.",
        timeout=SEEN_TIMEOUT_MS)
    code = await _codes(sink, 1)
    field = notice.get_by_label("Code van 6 cijfers")
    await field.fill("000000" if code != "000000" else "111111")
    await expect(notice.locator(".cs-err")).to_have_text(
        "Die code klopt niet. Kijk in de laatste mail van ons, of vraag een nieuwe code aan.",
        timeout=SEEN_TIMEOUT_MS)
    # A new code replaces the first: the first no longer works, the new one does.
    await notice.get_by_role("button", name="Nieuwe code sturen").click()
    await notice.get_by_role("button", name="Code versturen").click()
    second = await _codes(sink, 2)
    await field.fill(second)
    await expect(page.locator(".cs-sys .cs-bubble").last).to_have_text(
        f"{EMAIL} is bevestigd.", timeout=SEEN_TIMEOUT_MS)
    # Back to the chat: the question is still there, the form has the proven address.
    await expect(page.locator(".cs-log")).to_contain_text("zxqv mijn tentstok is geknapt")
    await expect(page.locator(".cs-notice form").get_by_label("E-mailadres")).to_have_value(EMAIL)
    await expect(notice.get_by_role("button", name="Mijn e-mailadres bevestigen")).to_have_count(0)
