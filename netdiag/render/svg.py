"""Inline SVG charts for the HTML report: state distribution, accept-queue fill, sparklines.

Built as text here rather than in templates so the arithmetic is typed and tested;
every label goes through :func:`markupsafe.escape`, and the result is ``Markup``
so the template's autoescape leaves the (already safe) SVG alone. No chart refers
to anything outside itself: no ``href``, no ``url()``, no fonts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup
from markupsafe import escape as _escape

from netdiag.render import STATE_NAMES, QueueFill, visible


def escape(text: str) -> Markup:
    """Markup-escaped and without the characters HTML forbids (host text lands in labels)."""
    return _escape(visible(text, one_line=True))

#: One colour per state; the trouble states stand out, the normal ones stay quiet.
STATE_COLORS: Mapping[str, str] = {
    "ESTABLISHED": "#4c9a5a",
    "SYN_SENT": "#8e5cc2",
    "SYN_RECV": "#b48ad8",
    "FIN_WAIT1": "#e0a040",
    "FIN_WAIT2": "#d9822b",
    "TIME_WAIT": "#9aa3ad",
    "CLOSE": "#6b7280",
    "CLOSE_WAIT": "#c8423b",
    "LAST_ACK": "#e07a73",
    "LISTEN": "#3b73b9",
    "CLOSING": "#c9a227",
    "NEW_SYN_RECV": "#7fa7d9",
}

_ROW = 18  # px per bar row
_LABEL_W = 112
_BAR_W = 240


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def state_chart(counts: Mapping[str, int], *, title: str = "TCP states") -> Markup:
    """Horizontal bars of the non-zero states, kernel order, linear scale, counts printed.

    Zero states are left out to keep the chart short; the caption says how many sockets in all.
    """
    rows = [(name, counts.get(name, 0)) for name in STATE_NAMES if counts.get(name, 0) > 0]
    total = sum(n for _, n in rows)
    if not rows:
        return Markup('<p class="muted">no TCP sockets</p>')
    top = max(n for _, n in rows)
    width = _LABEL_W + _BAR_W + 64
    height = _ROW * len(rows) + 4
    parts = [
        f'<svg class="chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>{escape(title)}: {total} sockets</title>",
    ]
    for i, (name, n) in enumerate(rows):
        y = i * _ROW + 2
        w = max(1.0, _BAR_W * n / top)
        parts.append(
            f'<text x="{_LABEL_W - 6}" y="{y + 13}" text-anchor="end" class="lbl">{escape(name)}</text>'
            f'<rect x="{_LABEL_W}" y="{y + 2}" width="{_fmt(w)}" height="{_ROW - 4}" '
            f'fill="{STATE_COLORS.get(name, "#888")}"><title>{escape(name)}: {n}</title></rect>'
            f'<text x="{_fmt(_LABEL_W + w + 4)}" y="{y + 13}" class="num">{n}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (labels escaped above; numbers are ours)


def queue_bars(fills: Sequence[QueueFill], *, limit: int = 12) -> Markup:
    """One bar per listener: accept-queue length against its backlog, fullest first.

    A full queue (length above backlog, which the kernel allows by one) is red; a
    listener whose backlog the source could not tell is drawn grey with a "?".
    """
    shown = list(fills[:limit])
    if not shown:
        return Markup('<p class="muted">no listening sockets</p>')
    label_w = 220
    width = label_w + _BAR_W + 70
    height = _ROW * len(shown) + 4
    parts = [
        f'<svg class="chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">',
        "<title>accept queue fill per listener</title>",
    ]
    for i, f in enumerate(shown):
        y = i * _ROW + 2
        who = f.local + (f" {f.process}" if f.process else "")
        if len(who) > 34:
            who = who[:33] + "…"
        ratio = f.ratio
        if ratio is None:
            fill_w, color = _BAR_W * 0.05, "#9aa3ad"
        else:
            fill_w = _BAR_W * min(1.0, ratio) if math.isfinite(ratio) else float(_BAR_W)
            color = "#c8423b" if f.full else ("#d9822b" if ratio >= 0.8 else "#3b73b9")
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" class="lbl">{escape(who)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{_BAR_W}" height="{_ROW - 4}" class="track"/>'
            f'<rect x="{label_w}" y="{y + 2}" width="{_fmt(max(fill_w, 1.0))}" height="{_ROW - 4}" '
            f'fill="{color}"><title>{escape(f.local)}: {escape(f.text)}</title></rect>'
            f'<text x="{label_w + _BAR_W + 4}" y="{y + 13}" class="num">{escape(f.text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (labels escaped above; numbers are ours)


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 24, label: str = "") -> Markup:
    """A small line of a value's history (oldest first); empty when there is nothing to draw."""
    points = [v for v in values if math.isfinite(v)]
    if not points:
        return Markup("")
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    step = width / max(1, len(points) - 1)
    coords = " ".join(
        f"{_fmt(i * step)},{_fmt(height - 2 - (v - low) / span * (height - 4))}" for i, v in enumerate(points)
    )
    if len(points) == 1:
        coords += f" {width},{coords.split(',')[1]}"
    text = label or "history"
    return Markup(  # noqa: S704 (label escaped; the rest are numbers)
        f'<svg class="spark" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(text)}: {escape(_fmt(points[0]))} to '
        f'{escape(_fmt(points[-1]))}</title><polyline points="{coords}" fill="none" stroke="#c8423b" '
        f'stroke-width="1.5"/></svg>'
    )
