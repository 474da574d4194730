"""The console's words in English and Dutch; templates and scripts look them up by key.

tests/test_console_i18n.py fails when a key used in a template or script is missing here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LOCALES = ("en", "nl")

EN: dict[str, str] = {
    # Frame and navigation
    "nav_label": "Console", "nav_inbox": "Inbox", "nav_sites": "Sites", "nav_agents": "Agents",
    "nav_canned": "Canned replies", "language": "Language", "signout": "Sign out", "save": "Save",
    "saved": "Saved.", "edit": "Edit", "delete": "Delete", "copy": "Copy", "copied": "Copied",
    "you": "you", "status": "Status", "email": "Email", "password": "Password", "site": "Site",
    # Sign in
    "signin_title": "Sign in", "signin_intro": "Sign in to answer your customers.",
    "signin_button": "Sign in", "signin_wrong": "Wrong email or password.",
    "signin_locked": "Too many failed sign-ins for this address. Try again in {minutes} minutes.",
    # Refusals
    "refused_title": "That did not work", "refused_back": "Back",
    "error_csrf": "This form expired or came from another site, so nothing was changed. "
    "Go back, reload the page and try again.",
    "error_foreign_origin": "This form was sent from another site, so nothing was changed.",
    "error_bad_form": "The form could not be read, so nothing was changed.",
    "error_form_too_large": "The form is too large, so nothing was changed.",
    "error_admins_only": "Only admins can open this page.",
    "error_no_site": "There is no such site.", "error_no_agent": "There is no such agent.",
    # Inbox
    "lists_label": "Conversations", "availability": "Your availability", "online": "Online",
    "away": "Away", "offline": "Offline", "alerts_enable": "Enable desktop alerts",
    "queue": "Queue", "queue_empty": "Nobody is waiting.", "mine": "My chats",
    "mine_empty": "You have no open chats.", "all_open": "All open", "all_empty": "No open chats.",
    "chat_label": "Chat", "pick_a_chat": "Pick a conversation from the list, or wait for the next one.",
    "accept": "Accept", "transfer_to": "Transfer to…", "transfer": "Transfer",
    "transfer_pick": "Pick an agent to transfer to.", "close": "Close chat",
    "close_confirm": "Close the chat with {name}?", "close_tab": "Close tab", "reply": "Reply",
    "reply_placeholder": "Type a reply, or / for a canned reply",
    "accept_to_reply": "Accept the chat to reply", "closed_no_reply": "This chat is closed",
    "composer_hint": "Enter sends · Shift+Enter adds a line", "send": "Send",
    "sending": "Sending…", "sent": "Sent", "delivered": "Delivered", "read": "Read",
    "typing": "{name} is typing…", "visitor_n": "Visitor {n}", "agent": "Agent",
    "with_agent": "With {name}", "status_new": "New", "status_queued": "Waiting",
    "status_assigned": "Assigned", "status_closed": "Closed",
    "wait_seconds": "{n} s", "wait_minutes": "{n} min", "there": "there",
    "alert_queued": "New chat: {name}", "alert_assigned": "{name} was assigned to you",
    "not_connected": "Not connected; trying again…",
    "reconnecting": "Connection lost. Reconnecting…",
    # Customer
    "customer_label": "Customer", "history": "Earlier conversations",
    "history_empty": "First time here.", "articles_read": "Help articles read",
    "fact_email": "Email", "fact_verified": "Identity", "fact_page": "Page",
    "fact_referrer": "Came from", "fact_device": "Device", "fact_language": "Language",
    "verified_yes": "Verified by the site", "verified_no": "Not verified",
    "channel_chat": "Chat", "channel_email": "Email", "rating_good": "Rated good",
    "rating_bad": "Rated bad",
    # Sites
    "site_name": "Name", "site_key": "Key", "site_origins": "Allowed origins",
    "site_origins_none": "only this server's pages",
    "site_origins_hint": "One per line, like https://shop.example. The widget works only there.",
    "site_add": "Add site", "site_created": "Site added. Paste the snippet into its pages.",
    "site_settings": "Settings", "snippet": "Snippet",
    "snippet_hint": "Paste this just before </body> on every page that should show the chat.",
    "color": "Colour", "greeting": "Greeting", "widget_language": "Widget language",
    "position": "Launcher position", "position_right": "Bottom right",
    "position_left": "Bottom left", "prechat": "Pre-chat form", "prechat_off": "Off",
    "prechat_optional": "Ask name and email (optional)",
    "prechat_required": "Require an email address", "hours": "Business hours",
    "hours_enabled": "Only open during business hours", "timezone": "Time zone", "days": "Days",
    "day_mon": "Monday", "day_tue": "Tuesday", "day_wed": "Wednesday", "day_thu": "Thursday",
    "day_fri": "Friday", "day_sat": "Saturday", "day_sun": "Sunday", "opens": "opens",
    "closes": "closes", "sla": "Service targets", "sla_chat_first": "Chat: first reply within",
    "sla_chat_resolution": "Chat: resolved within",
    "sla_ticket_first": "Email: first reply within",
    "sla_ticket_resolution": "Email: resolved within", "minutes": "minutes", "hours_unit": "hours",
    "identity": "Identity verification",
    "identity_hint": "Your site signs its signed-in users' ids with this secret, so agents can "
    "trust who they talk to.",
    "identity_secret": "Secret", "identity_secret_set": "A secret is set. It is never shown again.",
    "identity_secret_none": "No secret yet.",
    "identity_secret_once": "Copy it now: this is the only time it is shown.",
    "identity_enforced": "Refuse identities that are not signed",
    "identity_new_secret": "Generate a new secret",
    # Agents
    "agent_name": "Name", "role": "Role", "role_admin": "Admin", "role_agent": "Agent",
    "max_chats": "Chat cap", "enabled": "Active", "disabled": "Disabled", "enable": "Enable",
    "disable": "Disable", "new_password": "New password", "agent_add": "Add agent",
    "password_hint": "Leave empty to generate one. At least 10 characters.",
    "password_once": "Password for {email}. Copy it now: it is not shown again.",
    "password_confirm": "Give {name} a new password? They are signed out everywhere.",
    "disable_confirm": "Disable {name}? They are signed out everywhere at once.",
    "agent_added": "{name} was added.", "agent_saved": "{name} was saved.",
    "agent_disabled": "{name} was disabled and signed out everywhere.",
    "agent_enabled": "{name} can sign in again.",
    "agent_password": "{name} has a new password and was signed out everywhere.",
    # Canned replies
    "shortcut": "Shortcut", "canned_add": "Add canned reply",
    "canned_intro": "Agents type / and the shortcut in a chat to insert the reply.",
    "canned_none": "No canned replies yet.",
    "canned_placeholders": "{name}, {first_name} and {agent} are filled in when inserted.",
}

NL: dict[str, str] = {
    "nav_label": "Console", "nav_inbox": "Inbox", "nav_sites": "Sites", "nav_agents": "Medewerkers",
    "nav_canned": "Standaardantwoorden", "language": "Taal", "signout": "Afmelden",
    "save": "Opslaan", "saved": "Opgeslagen.", "edit": "Bewerken", "delete": "Verwijderen",
    "copy": "Kopiëren", "copied": "Gekopieerd", "you": "jij", "status": "Status",
    "email": "E-mail", "password": "Wachtwoord", "site": "Site",
    "signin_title": "Aanmelden", "signin_intro": "Meld je aan om je klanten te helpen.",
    "signin_button": "Aanmelden", "signin_wrong": "Verkeerd e-mailadres of wachtwoord.",
    "signin_locked": "Te vaak mislukt voor dit adres. Probeer het over {minutes} minuten opnieuw.",
    "refused_title": "Dat lukte niet", "refused_back": "Terug",
    "error_csrf": "Dit formulier is verlopen of kwam van een andere site; er is niets gewijzigd. "
    "Ga terug, herlaad de pagina en probeer het opnieuw.",
    "error_foreign_origin": "Dit formulier kwam van een andere site; er is niets gewijzigd.",
    "error_bad_form": "Het formulier kon niet worden gelezen; er is niets gewijzigd.",
    "error_form_too_large": "Het formulier is te groot; er is niets gewijzigd.",
    "error_admins_only": "Alleen beheerders kunnen deze pagina openen.",
    "error_no_site": "Deze site bestaat niet.", "error_no_agent": "Deze medewerker bestaat niet.",
    "lists_label": "Gesprekken", "availability": "Jouw beschikbaarheid", "online": "Online",
    "away": "Afwezig", "offline": "Offline", "alerts_enable": "Bureaubladmeldingen aanzetten",
    "queue": "Wachtrij", "queue_empty": "Er wacht niemand.", "mine": "Mijn chats",
    "mine_empty": "Je hebt geen open chats.", "all_open": "Alle open", "all_empty": "Geen open chats.",
    "chat_label": "Chat", "pick_a_chat": "Kies een gesprek uit de lijst, of wacht op het volgende.",
    "accept": "Aannemen", "transfer_to": "Doorzetten naar…", "transfer": "Doorzetten",
    "transfer_pick": "Kies een medewerker om naar door te zetten.", "close": "Chat sluiten",
    "close_confirm": "De chat met {name} sluiten?", "close_tab": "Tabblad sluiten",
    "reply": "Antwoord", "reply_placeholder": "Typ een antwoord, of / voor een standaardantwoord",
    "accept_to_reply": "Neem de chat aan om te antwoorden", "closed_no_reply": "Deze chat is gesloten",
    "composer_hint": "Enter verstuurt · Shift+Enter voor een nieuwe regel", "send": "Versturen",
    "sending": "Versturen…", "sent": "Verstuurd", "delivered": "Afgeleverd", "read": "Gelezen",
    "typing": "{name} typt…", "visitor_n": "Bezoeker {n}", "agent": "Medewerker",
    "with_agent": "Met {name}", "status_new": "Nieuw", "status_queued": "Wacht",
    "status_assigned": "Toegewezen", "status_closed": "Gesloten",
    "wait_seconds": "{n} s", "wait_minutes": "{n} min", "there": "daar",
    "alert_queued": "Nieuwe chat: {name}", "alert_assigned": "{name} is aan jou toegewezen",
    "not_connected": "Geen verbinding; we proberen het opnieuw…",
    "reconnecting": "Verbinding verbroken. Opnieuw verbinden…",
    "customer_label": "Klant", "history": "Eerdere gesprekken", "history_empty": "Voor het eerst hier.",
    "articles_read": "Gelezen helpartikelen", "fact_email": "E-mail", "fact_verified": "Identiteit",
    "fact_page": "Pagina", "fact_referrer": "Kwam van", "fact_device": "Apparaat",
    "fact_language": "Taal", "verified_yes": "Bevestigd door de site", "verified_no": "Niet bevestigd",
    "channel_chat": "Chat", "channel_email": "E-mail", "rating_good": "Positief beoordeeld",
    "rating_bad": "Negatief beoordeeld",
    "site_name": "Naam", "site_key": "Sleutel", "site_origins": "Toegestane origins",
    "site_origins_none": "alleen pagina's van deze server",
    "site_origins_hint": "Eén per regel, zoals https://winkel.example. Alleen daar werkt de widget.",
    "site_add": "Site toevoegen", "site_created": "Site toegevoegd. Plak de code in de pagina's.",
    "site_settings": "Instellingen", "snippet": "Code om te plakken",
    "snippet_hint": "Plak dit vlak voor </body> op elke pagina waar de chat moet verschijnen.",
    "color": "Kleur", "greeting": "Begroeting", "widget_language": "Taal van de widget",
    "position": "Positie van de knop", "position_right": "Rechtsonder",
    "position_left": "Linksonder", "prechat": "Formulier vooraf", "prechat_off": "Uit",
    "prechat_optional": "Vraag naam en e-mail (optioneel)",
    "prechat_required": "E-mailadres verplicht", "hours": "Openingstijden",
    "hours_enabled": "Alleen open tijdens openingstijden", "timezone": "Tijdzone", "days": "Dagen",
    "day_mon": "Maandag", "day_tue": "Dinsdag", "day_wed": "Woensdag", "day_thu": "Donderdag",
    "day_fri": "Vrijdag", "day_sat": "Zaterdag", "day_sun": "Zondag", "opens": "opent",
    "closes": "sluit", "sla": "Servicedoelen", "sla_chat_first": "Chat: eerste antwoord binnen",
    "sla_chat_resolution": "Chat: opgelost binnen",
    "sla_ticket_first": "E-mail: eerste antwoord binnen",
    "sla_ticket_resolution": "E-mail: opgelost binnen", "minutes": "minuten", "hours_unit": "uur",
    "identity": "Identiteitscontrole",
    "identity_hint": "Je site ondertekent de id's van ingelogde gebruikers met dit geheim, zodat "
    "medewerkers weten met wie ze praten.",
    "identity_secret": "Geheim",
    "identity_secret_set": "Er is een geheim ingesteld. Het wordt nooit meer getoond.",
    "identity_secret_none": "Nog geen geheim.",
    "identity_secret_once": "Kopieer het nu: dit is de enige keer dat het getoond wordt.",
    "identity_enforced": "Weiger identiteiten die niet ondertekend zijn",
    "identity_new_secret": "Nieuw geheim maken",
    "agent_name": "Naam", "role": "Rol", "role_admin": "Beheerder", "role_agent": "Medewerker",
    "max_chats": "Max. chats", "enabled": "Actief", "disabled": "Uitgeschakeld",
    "enable": "Inschakelen", "disable": "Uitschakelen", "new_password": "Nieuw wachtwoord",
    "agent_add": "Medewerker toevoegen",
    "password_hint": "Laat leeg om er een te laten maken. Minstens 10 tekens.",
    "password_once": "Wachtwoord voor {email}. Kopieer het nu: het wordt niet meer getoond.",
    "password_confirm": "{name} een nieuw wachtwoord geven? Diegene wordt overal afgemeld.",
    "disable_confirm": "{name} uitschakelen? Diegene wordt meteen overal afgemeld.",
    "agent_added": "{name} is toegevoegd.", "agent_saved": "{name} is opgeslagen.",
    "agent_disabled": "{name} is uitgeschakeld en overal afgemeld.",
    "agent_enabled": "{name} kan weer aanmelden.",
    "agent_password": "{name} heeft een nieuw wachtwoord en is overal afgemeld.",
    "shortcut": "Afkorting", "canned_add": "Standaardantwoord toevoegen",
    "canned_intro": "Medewerkers typen / en de afkorting in een chat om het antwoord in te voegen.",
    "canned_none": "Nog geen standaardantwoorden.",
    "canned_placeholders": "{name}, {first_name} en {agent} worden ingevuld bij het invoegen.",
}

STRINGS = {"en": EN, "nl": NL}


def translator(locale: str) -> Callable[..., str]:
    """Return t(key, **values) for a locale; a missing key shows as itself, never crashes."""
    words = STRINGS.get(locale, EN)

    def t(key: str, **values: Any) -> str:
        text = words.get(key) or EN.get(key) or key
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    return t


def script_strings(locale: str) -> dict[str, str]:
    """Return the words the inbox script uses (all of them: a few kilobytes)."""
    return {**EN, **STRINGS.get(locale, EN)}
