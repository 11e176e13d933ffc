"""HTML to text with the standard library's `html.parser`, keeping headings and paragraphs.

Used for .html documents (and meant for HTML email parts). Scripts, styles and templates are
dropped; block elements end a paragraph; `h1`–`h6` become headings. The parser keeps no element
tree (only a few counters), so deeply nested or unclosed markup costs nothing extra and cannot
exhaust the stack.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from assistant.cancel import CancelToken
from assistant.importers.chunking import Block

_SKIP = frozenset({"script", "style", "template", "title", "noscript", "svg", "math"})
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "br", "dd", "details", "div", "dl",
        "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary",
        "table", "td", "th", "tr", "ul", "caption", "head",
    }
)  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
FEED = 1 << 20  # characters per feed: cancel is checked between them
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:_-]*)")
_RAW_END = {
    name: re.compile(rf"</{name}[^>]*>", re.IGNORECASE) for name in ("script", "style")
}  # the elements html.parser reads as raw text
CHECK_EVERY = 1 << 16  # markup constructs between cancel checks


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.blocks: list[Block] = []
        self._length = 0  # characters in `pieces` so far
        self._current: list[str] = []
        self._skip = 0
        self._pre = 0
        self._heading = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag == "body":
            self._skip = 0  # an unclosed <title> or <style> in the head ends here
        if tag in _BLOCK:
            self._end_block()
        if tag in _HEADINGS:
            self._heading = _HEADINGS[tag]
        elif tag == "pre":
            self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self._end_block()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        if tag in _BLOCK:
            self._end_block()
        if tag in _HEADINGS:
            self._heading = 0
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._current.append(data)

    def _end_block(self) -> None:
        if not self._current:
            return
        raw = "".join(self._current)
        self._current = []
        if self._pre and not self._heading:
            text = "\n".join(line.rstrip() for line in raw.strip("\n").splitlines()).strip()
        else:
            text = " ".join(raw.split())
        if not text:
            return
        if self.pieces:
            self.pieces.append("\n\n")
            self._length += 2
        start = self._length
        self.pieces.append(text)
        self._length += len(text)
        level = self._heading
        self.blocks.append(Block(start, self._length, level, text if level else ""))

    def close(self) -> None:
        super().close()
        self._end_block()


def html_to_blocks(markup: str, cancel: CancelToken | None = None) -> tuple[str, list[Block]]:
    """The document's text (blocks separated by blank lines) and its blocks as spans of it."""
    markup = simplify_markup(markup, cancel)
    collector = _TextCollector()
    for start in range(0, len(markup), FEED):
        if cancel is not None:
            cancel.raise_if_cancelled()
        collector.feed(markup[start : start + FEED])
    collector.close()
    return "".join(collector.pieces), collector.blocks


def html_to_text(markup: str) -> str:
    return html_to_blocks(markup)[0]


def simplify_markup(markup: str, cancel: CancelToken | None = None) -> str:
    """The markup reduced, in one linear pass, to text and bare tags (`<p>`, `</p>`, `<br/>`).

    html.parser (Python 3.11) takes quadratic time on unterminated constructs (`<a<a<a…`,
    `<![CDATA[…`, `</…`, `<?…`): a 100 kB hostile file took minutes. Here every construct it will
    see is closed before the next `<`: comments, declarations, processing instructions, attributes,
    scripts and styles (all of which it would drop) are removed, and a `<` that opens no tag
    becomes `&lt;` (text, as a browser shows it).
    """
    out: list[str] = []
    size = len(markup)
    position = 0
    close = -1  # the next ">" at or after the current "<" (size: there is none)
    steps = 0
    while position < size:
        steps += 1
        if cancel is not None and steps % CHECK_EVERY == 0:
            cancel.raise_if_cancelled()
        opening = markup.find("<", position)
        if opening < 0:
            out.append(markup[position:])
            break
        out.append(markup[position:opening])
        if markup.startswith("<!--", opening):
            end = markup.find("-->", opening + 4)
            if end < 0:
                break  # an unclosed comment hides the rest, as in a browser
            position = end + 3
            continue
        if close <= opening:
            found = markup.find(">", opening + 1)
            close = found if found >= 0 else size
        following = markup.find("<", opening + 1, close)
        if close >= size or following >= 0:
            out.append("&lt;")
            position = opening + 1
            continue
        construct = markup[opening : close + 1]
        position = close + 1
        tag = _TAG.match(construct)
        if tag is None:
            if construct[1:2] not in ("!", "?"):
                out.append(construct.replace("<", "&lt;"))
            continue  # a declaration or processing instruction: no text
        slash, name = tag.groups()
        name = name.lower()
        if not slash and name in _RAW_END:
            end_tag = _RAW_END[name].search(markup, position)
            if end_tag is None:
                break
            position = end_tag.end()
            continue
        out.append(f"<{slash}{name}{'/' if construct.endswith('/>') else ''}>")
    return "".join(out)
