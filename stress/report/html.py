"""What every report page shares: its style sheet, escaping, tables and the atomic write.

A page is one self-contained file: inline CSS, inline SVG, nothing fetched. Everything taken
from a run or a sweep (op names, messages, paths) goes through :func:`escape`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["CSS", "compact", "escape", "pairs", "table", "write_page"]

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


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def table(head: Sequence[str], rows: Iterable[Sequence[object]], left: int | set[int] = 1) -> str:
    """A table; the first ``left`` columns (or those numbered) are left-aligned text."""
    texts = set(range(left)) if isinstance(left, int) else left

    def cells(tag: str, row: Sequence[object]) -> str:
        return "".join(
            f"<{tag}{' class=l' if i in texts else ''}>{escape(v)}</{tag}>"
            for i, v in enumerate(row)
        )

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table><tr>{cells('th', head)}</tr>{body}</table>"


def pairs(mapping: dict[str, Any]) -> str:
    return table(["name", "value"], [(k, compact(v)) for k, v in mapping.items()], left=2)


def compact(value: object) -> str:
    if isinstance(value, dict | list):
        import orjson

        return orjson.dumps(value).decode()
    return "" if value is None else str(value)


def write_page(text: str, out: Path) -> int:
    """Write ``text`` to ``out`` through a temporary file (never half-written); its bytes."""
    data = text.encode("utf-8")
    temp = out.with_name(f".{out.name}.tmp")
    temp.write_bytes(data)
    temp.replace(out)
    return len(data)
