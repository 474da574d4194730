"""A help-centre page exported as HTML, turned into the Markdown the help articles are written in.

An export (Zendesk Guide, a static help site) is a folder of whole pages: site chrome around
one article. What is kept is the article's text and its shape (headings, lists, code, links);
scripts, styles, forms, frames, navigation and every attribute but a link's address are
dropped, so nothing active in a page survives into the help centre. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Whole subtrees that are page chrome or active content, never article text.
_DROPPED = frozenset({
    "script", "style", "noscript", "template", "iframe", "frame", "frameset", "object", "embed",
    "applet", "canvas", "svg", "math", "form", "button", "select", "textarea", "input", "nav",
    "header", "footer", "aside", "head", "title", "dialog", "audio", "video",
})
# Where a title is looked for: a page's own <header> often holds the article's <h1>.
_NOT_TITLES = frozenset({"head", "script", "style", "template", "nav", "footer", "aside", "form"})
_VOID = frozenset({"area", "base", "br", "col", "hr", "img", "input", "link", "meta", "source",
                   "track", "wbr", "embed", "param"})
# Elements a new one of the same kind closes when left open, as browsers do.
_SELF_CLOSING = {"p": {"p"}, "li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"},
                 "tr": {"tr"}, "td": {"td", "th"}, "th": {"td", "th"}}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_INLINE_MARKS = {"strong": "**", "b": "**", "em": "*", "i": "*"}
_SAFE_LINK = re.compile(r"(?:https?://|mailto:)[^\s<>()]+$", re.I)
# An article in the same export, linked by its file name: it lands at /help/<locale>/<slug>.
_EXPORT_LINK = re.compile(r"^(?:\.{0,2}/)*(?:[\w.-]+/)*([\w.-]+?)\.html?(?:#.*)?$", re.I)
# Markdown would read these as markup in text that was plain in the page.
_ESCAPE = re.compile(r"([\\`*_\[\]<>])")
# At the start of a block, "# " would be a heading, "- " or "1. " a list: the mark is escaped.
_BLOCK_START = re.compile(r"^(\d*)([#>+=.)-])")
_SPACE = re.compile(r"\s+")
# A page title usually ends with the site's name: "Returns – Help Center".
_TITLE_SUFFIX = re.compile(r"\s+[|–—]\s+[^|–—]*$")


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Node | str] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    """What an HTML page holds: its title, its article as Markdown, its language if declared."""

    title: str
    body: str
    lang: str


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#document")
        self.stack = [self.root]
        self.title = ""
        self.lang = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = (dict(attrs).get("lang") or "").strip()
        self._in_title = tag == "title"
        closes = _SELF_CLOSING.get(tag)
        if closes and self.stack[-1].tag in closes:
            self.stack.pop()
        node = _Node(tag, {name: value or "" for name, value in attrs if name in ("href", "alt")})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack[-1].tag == tag:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.stack[-1].children.append(data)


def _find(node: _Node, tags: frozenset[str], skip: frozenset[str] = _DROPPED) -> _Node | None:
    for child in node.children:
        if isinstance(child, _Node) and child.tag not in skip:
            if child.tag in tags:
                return child
            found = _find(child, tags, skip)
            if found is not None:
                return found
    return None


def _text(node: _Node) -> str:
    return _SPACE.sub(" ", "".join(
        child if isinstance(child, str) else _text(child) for child in node.children
        if not (isinstance(child, _Node) and child.tag in _DROPPED)
    )).strip()


def _raw(node: _Node) -> str:
    return "".join(child if isinstance(child, str) else _raw(child) for child in node.children)


def _href(raw: str) -> str | None:
    href = raw.strip()
    if _SAFE_LINK.match(href):
        return href
    exported = _EXPORT_LINK.match(href)
    return slug_of(exported.group(1)) or None if exported else None


class _Writer:
    """Render the tree as Markdown blocks."""

    def __init__(self, skip: _Node | None) -> None:
        self.skip = skip  # the <h1> that became the title

    def inline(self, node: _Node) -> str:
        out: list[str] = []
        for child in node.children:
            if isinstance(child, str):
                out.append(_ESCAPE.sub(r"\\\1", child))
            elif child.tag in _DROPPED or child is self.skip:
                continue
            elif child.tag == "br":
                out.append("\n")
            elif child.tag == "img":
                out.append(_ESCAPE.sub(r"\\\1", child.attrs.get("alt", "")))
            elif child.tag == "code":
                code = _text(child).replace("`", "'")
                out.append(f"`{code}`" if code else "")
            elif child.tag == "a":
                words = self.inline(child).strip()
                href = _href(child.attrs.get("href", ""))
                out.append(f"[{words}]({href})" if words and href else words)
            elif child.tag in _INLINE_MARKS:
                words = self.inline(child).strip()
                mark = _INLINE_MARKS[child.tag]
                out.append(f"{mark}{words}{mark}" if words else "")
            else:
                out.append(self.inline(child))
        lines = (_SPACE.sub(" ", line).strip() for line in "".join(out).split("\n"))
        return "\n".join(line for line in lines if line)

    def blocks(self, node: _Node) -> list[str]:
        found: list[str] = []
        run: list[_Node | str] = []  # inline content between blocks: an implied paragraph

        def paragraph() -> None:
            text = self.inline(_Node("p", children=run[:]))
            run.clear()
            if text:
                found.append(_BLOCK_START.sub(r"\1\\\2", text))

        for child in node.children:
            if isinstance(child, str) or child.tag not in _BLOCKS:
                if not (isinstance(child, _Node) and (child.tag in _DROPPED or child is self.skip)):
                    run.append(child)
                continue
            paragraph()
            found.extend(_BLOCKS[child.tag](self, child))
        paragraph()
        return found

    def heading(self, node: _Node) -> list[str]:
        if node is self.skip:
            return []
        text = self.inline(node).replace("\n", " ")
        return [f"{'#' * max(2, _HEADINGS[node.tag])} {text}"] if text else []

    def listing(self, node: _Node) -> list[str]:
        items: list[str] = []
        number = 0
        for child in node.children:
            if not isinstance(child, _Node) or child.tag != "li":
                continue
            number += 1
            marker = f"{number}. " if node.tag == "ol" else "- "
            inner = "\n\n".join(self.blocks(child))
            if inner:
                indent = " " * len(marker)
                items.append(marker + inner.replace("\n", "\n" + indent).replace(indent + "\n", "\n"))
        return ["\n".join(items)] if items else []

    def pre(self, node: _Node) -> list[str]:
        code = _raw(node).strip("\n")
        fence = "```"
        return [f"{fence}\n{code.replace(fence, chr(39) * 3)}\n{fence}"] if code.strip() else []

    def quote(self, node: _Node) -> list[str]:
        inner = "\n\n".join(self.blocks(node))
        return ["\n".join("> " + line if line else ">" for line in inner.split("\n"))] if inner else []

    def table(self, node: _Node) -> list[str]:
        rows: list[str] = []

        def walk(parent: _Node) -> None:
            for child in parent.children:
                if isinstance(child, _Node) and child.tag == "tr":
                    cells = [self.inline(c).replace("\n", " ") for c in child.children
                             if isinstance(c, _Node) and c.tag in ("td", "th")]
                    if any(cells):
                        rows.append(" · ".join(cell for cell in cells if cell))
                elif isinstance(child, _Node) and child.tag not in _DROPPED:
                    walk(child)

        walk(node)
        return ["\n".join(f"- {row}" for row in rows)] if rows else []

    def rule(self, node: _Node) -> list[str]:
        return []

    def container(self, node: _Node) -> list[str]:
        return self.blocks(node)


_BLOCKS = {
    **{tag: _Writer.heading for tag in _HEADINGS},
    "ul": _Writer.listing, "ol": _Writer.listing, "pre": _Writer.pre, "blockquote": _Writer.quote,
    "table": _Writer.table, "hr": _Writer.rule,
    **{tag: _Writer.container for tag in (
        "p", "div", "section", "article", "main", "body", "html", "figure", "figcaption", "dl",
        "dt", "dd", "details", "summary", "address", "center", "li",
    )},
}


def slug_of(name: str) -> str:
    """Return a file name as a slug: "360001234567-How-do-I-return" becomes "how-do-i-return"."""
    # Zendesk names each exported article after its numeric id and title.
    name = re.sub(r"^\d{6,}-(?=.)", "", name)
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))


def parse_page(html: str) -> Page:
    """Return a page's title, its main content as Markdown and its declared language."""
    parser = _Tree()
    parser.feed(html)
    parser.close()
    document = parser.root
    main = _find(document, frozenset({"article"})) or _find(document, frozenset({"main"}))
    main = main or _find(document, frozenset({"body"})) or document
    h1 = frozenset({"h1"})
    heading = _find(main, h1, _NOT_TITLES) or _find(document, h1, _NOT_TITLES)
    title = _text(heading) if heading else ""
    if not title:
        heading = None
        title = _TITLE_SUFFIX.sub("", _SPACE.sub(" ", parser.title).strip())
    body = "\n\n".join(_Writer(heading).blocks(main))
    return Page(title=title, body=body, lang=parser.lang.split("-")[0].lower())
