"""The pieces every report page is made of: escaping, tables, figures, the page around them.

Pages are one self-contained file: inline CSS, inline SVG, nothing fetched. Each section is a
``<section id=...>`` with its title; everything taken from a run (op names, messages, paths)
goes through :func:`escape`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stress.version import __version__

__all__ = [
    "CSS",
    "Flag",
    "Section",
    "compact",
    "document",
    "escape",
    "figure",
    "pairs",
    "table",
    "write_page",
]

#: (id, title, body HTML) of one section of a page.
Section = tuple[str, str, str]

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1em 2em;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:2px 8px;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.bad{color:#b00;font-weight:600}.ok{color:#070;font-weight:600}
figure.plot{margin:.5em 0}figure.plot svg{max-width:100%;height:auto}
nav a{margin-right:1em}code,pre{font:12px ui-monospace,monospace}
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;white-space:pre-wrap}
.note{color:#666;font-size:12px}
"""


@dataclass(frozen=True)
class Flag:
    """A pass/fail table cell, shown as ``ok`` or ``FAIL`` in its colour."""

    ok: bool

    def __str__(self) -> str:
        return "ok" if self.ok else "FAIL"


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def table(head: Sequence[str], rows: Iterable[Sequence[object]], left: int | set[int] = 1) -> str:
    """A table; the first ``left`` columns (or those numbered) are left-aligned text."""
    texts = set(range(left)) if isinstance(left, int) else left

    def style(i: int, value: object) -> str:
        if isinstance(value, Flag):
            return f" class={'ok' if value.ok else 'bad'}"
        return " class=l" if i in texts else ""

    def cells(tag: str, row: Sequence[object]) -> str:
        return "".join(f"<{tag}{style(i, v)}>{escape(v)}</{tag}>" for i, v in enumerate(row))

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table><tr>{cells('th', head)}</tr>{body}</table>"


def pairs(mapping: dict[str, Any]) -> str:
    return table(["name", "value"], [(k, compact(v)) for k, v in mapping.items()], left=2)


def compact(value: object) -> str:
    if isinstance(value, dict | list):
        import orjson

        return orjson.dumps(value).decode()
    return "" if value is None else str(value)


def figure(name: str, svg: str, caption: str) -> str:
    return (
        f'<figure class="plot" data-plot="{name}">{svg}'
        f"<figcaption class=note>{escape(caption)}</figcaption></figure>"
    )


def document(title: str, sections: Sequence[Section]) -> str:
    """The whole page: a title, a navigation line, then each section."""
    nav = "".join(f'<a href="#{sid}">{escape(name)}</a>' for sid, name, _ in sections)
    body = "".join(
        f'<section id="{sid}"><h2>{escape(name)}</h2>{html_}</section>'
        for sid, name, html_ in sections
    )
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><nav>{nav}</nav>{body}"
        f"<p class=note>stress {escape(__version__)}</p></body></html>\n"
    )


def write_page(text: str, out: Path) -> int:
    """Write a page to ``out`` (through a temporary file: never half-written); its bytes."""
    data = text.encode("utf-8")
    temp = out.with_name(f".{out.name}.tmp")
    temp.write_bytes(data)
    temp.replace(out)
    return len(data)
