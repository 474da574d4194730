"""Tell whether a visitor's text asks for a human rather than for an answer, in English or Dutch.

Pure word rules, no I/O: a visitor who types "agent" or "ik wil iemand spreken" wants a
person, and showing them articles first is the self-service that drives people away. A topic
alongside ("I want to talk to someone about my refund") does not change that.
"""

from __future__ import annotations

import re
import unicodedata

# Words naming a human on our side. "someone"/"iemand" name nobody in particular ("someone gave
# me this"), so they count only beside a verb of talking, or in a message of nothing else.
_PEOPLE = frozenset("""
    human humans person persons people agent agents representative rep operator staff employee
    employees manager supervisor colleague customerservice helpdesk
    mens mensen persoon personen medewerker medewerkers werknemer leidinggevende menselijke
    klantenservice servicedesk
""".split())
_ANYONE = frozenset("someone somebody anyone anybody iemand".split())
# Verbs of talking or getting through: beside anyone at all, on either side (Dutch puts them
# last: "kan ik iemand spreken", "een medewerker aan de lijn krijgen"), they ask for a person.
_TALK = frozenset("""
    talk speak speaking talking chat chatting call contact reach lijn
    spreken praten chatten bellen spreek praat krijgen doorverbinden doorverbonden
""".split())
# Verbs of wanting and being handed over: they ask for a person only before a word for one
# ("give me a human", "ik wil een medewerker"), never with "someone" ("I want someone to...").
_HANDOVER = frozenset("""
    want need get give let transfer connect put escalate
    wil willen wilt geef verbind
""".split())
# Nothing a question is about: what is left of a message made of only these and a word for a
# person ("human please", "MEDEWERKER!!!", "is anyone there? a real human?") asks for one.
_FILLER = frozenset("""
    i im me my a an the to with of can could may please pls plz now right just real actual
    actually live really is are there here hello hi hey would like id be through help urgent
    urgently asap thanks you your yours
    ik me mij mijn een de het met van aub alsjeblieft alstublieft svp nu echt echte even mag
    kan kun kunt is er daar hallo hoi goeiendag goedendag dag hulp nodig jullie u toch nou
    dringend snel graag ook iets
""".split()) | _TALK | _HANDOVER
# Asked for by name: "medewerker aub, mijn retour is zoek", "human please, my order is late".
_PLEASE = frozenset("please pls plz now asap aub svp alsjeblieft alstublieft graag nu".split())
# "Not a bot": refusing the machine is asking for the other thing.
_MACHINE = frozenset("bot bots robot chatbot".split())
_REFUSAL = frozenset("not no dont stop instead geen niet stop ipv".split())
# Someone other than us: "someone else's parcel", "iemand anders" is not a person to talk to.
_OTHER = frozenset("else elses anders".split())
# Phrases that are one word for a person.
_PHRASES = (
    (re.compile(r"\bcustomer (?:service|support|care)\b"), "customerservice"),
    (re.compile(r"\bhelp ?desk\b"), "helpdesk"),
    (re.compile(r"\bmember of (?:your |the )?staff\b"), "staff"),
    (re.compile(r"\bservice ?desk\b"), "servicedesk"),
)
# How many words apart a talking verb and a person may stand, fillers not counted ("kan ik
# met een echte medewerker van jullie praten": medewerker, praten are neighbours).
_NEAR = 3
# A typo is one edit in a word of five letters or more ("humen", "mederwerker"); these real
# words are one edit from a key word and are not typos of it.
_TYPO_MIN_CHARS = 5
_NOT_TYPOS = frozenset("stuff manage managed employed speck spear sperm chant".split())
_KEYS = _PEOPLE | _TALK | _HANDOVER


def asks_for_person(text: str) -> bool:
    """Return True when the text asks to be put through to a human."""
    words = [_correct(word) for word in _words(text)]
    people = [i for i, word in enumerate(words) if word in _PEOPLE]
    anyone = [i for i, word in enumerate(words) if word in _ANYONE and not _followed_by_other(words, i)]
    if not people and not anyone:
        return _refuses_machine(words)
    if all(word in _FILLER or word in _PEOPLE or word in _ANYONE for word in words):
        return True
    if any(
        word in _PEOPLE and _PLEASE.intersection(words[max(0, i - 1) : i + 2]) for i, word in enumerate(words)
    ):
        return True
    content = [word for word in words if word not in _FILLER or word in _TALK or word in _HANDOVER]
    for i, word in enumerate(content):
        if word not in _PEOPLE and word not in _ANYONE:
            continue
        if any(other in _TALK for other in content[max(0, i - _NEAR) : i + _NEAR + 1]):
            return True
        # Handing over comes first in both languages ("give me a human", "ik wil een mens"),
        # which keeps "your staff was rude, I want my money back" a question.
        if word in _PEOPLE and any(other in _HANDOVER for other in content[max(0, i - _NEAR) : i]):
            return True
    return _refuses_machine(words)


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).replace("'", "")
    for pattern, word in _PHRASES:
        folded = pattern.sub(word, folded)
    return re.findall(r"[a-z]+", folded)


def _followed_by_other(words: list[str], i: int) -> bool:
    return i + 1 < len(words) and words[i + 1] in _OTHER


def _refuses_machine(words: list[str]) -> bool:
    return any(word in _MACHINE for word in words) and any(word in _REFUSAL for word in words)


def _correct(word: str) -> str:
    """Return the key word one edit away from a longer word that is none, else the word."""
    if word in _KEYS or len(word) < _TYPO_MIN_CHARS or word in _NOT_TYPOS:
        return word
    return next((key for key in sorted(_KEYS) if len(key) >= _TYPO_MIN_CHARS and _one_edit(word, key)), word)


def _one_edit(a: str, b: str) -> bool:
    """Tell whether b is one insertion, deletion, substitution or swap of neighbours from a."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) == 2:
            i, j = diff
            return j == i + 1 and a[i] == b[j] and a[j] == b[i]
        return len(diff) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
