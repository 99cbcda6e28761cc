"""A self-contained HTML page: inline CSS, figures as base64 PNG ``data:`` URIs, no scripts.

The page loads nothing from the network and opens offline. :func:`write_atomic` writes it
to a temporary file in the target's folder and renames it over the target, so a reader
never sees a half-written report.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from ...atomic import write_text

__all__ = ["Section", "figure_img", "table", "paragraph", "page", "write_atomic", "is_report", "GENERATOR"]

#: the generator named in every page's head: an existing file naming it is a report to replace
GENERATOR = "ndx-encoding-subspace"

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 1em 2em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; margin-top: 1.8em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
nav ol { columns: 2; font-size: 0.9em; }
figure { margin: 0.6em 0; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #555; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #666; font-size: 0.9em; }
footer { margin-top: 3em; border-top: 1px solid #ccc; font-size: 0.85em; color: #444; }
details summary { cursor: pointer; }
"""


@dataclasses.dataclass
class Section:
    """One section of the report: an anchor, a heading and its HTML body."""

    anchor: str
    title: str
    body: list[str] = dataclasses.field(default_factory=list)

    def add(self, fragment: str) -> Section:
        """Append an HTML fragment; returns self."""
        self.body.append(fragment)
        return self


def figure_img(fig: Figure, caption: str = "", *, dpi: int) -> str:
    """``<figure>`` holding ``fig`` as an inline PNG (``data:`` URI) and its caption."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = html.escape(caption or "figure", quote=True)
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">{cap}</figure>'


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{html.escape(str(value))}</td>"
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    if isinstance(value, float):
        text = "n/a" if value != value else f"{value:.3f}"
        return f'<td class="num">{text}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    """An HTML table; floats shown with 3 decimals (NaN as n/a), text escaped."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def paragraph(text: str, cls: str = "") -> str:
    """An escaped paragraph of text."""
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{html.escape(text)}</p>"


def page(title: str, subtitle: str, sections: Sequence[Section], footer: Sequence[str]) -> str:
    """The whole HTML document: title, table of contents, sections, footer (escaped text)."""
    toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>'
                  for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta name="generator" content="{GENERATOR}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        paragraph(subtitle, "note"),
        f"<nav><ol>{toc}</ol></nav>",
    ]
    for s in sections:
        parts.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>')
        parts.extend(s.body)
        parts.append("</section>")
    parts.append("<footer>" + "".join(paragraph(line) for line in footer) + "</footer>")
    parts.append("</body></html>")
    return "\n".join(parts)


def is_report(path: Path) -> bool:
    """Whether ``path`` holds a report of this package (its head names :data:`GENERATOR`, or,
    as reports before that did, it is an HTML page titled as a report)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    return (f'<meta name="generator" content="{GENERATOR}">' in head
            or (head.startswith("<!DOCTYPE html>") and "<title>Encoding subspace report" in head))


def refuse_foreign(target: Path) -> Path:
    """``target``, refused (ConfigError) when it holds a file that is not a report of this
    package: a report is never written over anything else."""
    from ...errors import ConfigError

    if target.is_file() and target.stat().st_size and not is_report(target):
        raise ConfigError(f"{target}: exists and is not a report of this package; it is never written over "
                          "(give another name, or remove it first)")
    return target


def write_atomic(text: str, path: Path) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder."""
    return write_text(path, text)
