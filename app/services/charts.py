"""Charts as small server-side SVG strings (no JavaScript, no inline styles).

Every chart carries a ``<title>`` and a ``<desc>`` (its text alternative); pages put the data
table beside it. Series differ by shape and line pattern as well as colour (dark blue and
vermilion from the Okabe–Ito palette), so they survive greyscale printing and colour blindness;
unreliable figures are drawn grey and hollow with a dashed interval. Numbers arrive already
formatted (Babel) through ``fmt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

from markupsafe import Markup, escape

BLUE = "#0b4f9c"
VERMILION = "#b34a00"
GREY = "#8a9099"
INK = "#1a1a1a"
GRID = "#d5dbe1"
SERIES_COLOURS = (BLUE, VERMILION)


@dataclass(frozen=True)
class Point:
    estimate: float | None
    low: float | None = None
    high: float | None = None
    unreliable: bool = False


@dataclass
class Series:
    name: str
    points: list[Point | None] = field(default_factory=list)


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _range(series: Sequence[Series]) -> tuple[float, float]:
    lows = [p.low if _finite(p.low) else p.estimate for s in series for p in s.points if p and _finite(p.estimate)]
    if not lows:
        return 0.0, 1.0
    low = max(0.0, math.floor(min(lows) * 10) / 10)
    return (min(low, 0.9), 1.0)


def _ticks(low: float, high: float) -> list[float]:
    step = 0.1 if high - low > 0.35 else 0.05
    count = int(round((high - low) / step))
    return [round(low + i * step, 4) for i in range(count + 1)]


def _marker(x: float, y: float, series: int, unreliable: bool, size: float = 5.5) -> str:
    colour = GREY if unreliable else SERIES_COLOURS[series % 2]
    fill = "#ffffff" if unreliable or series == 1 else colour
    if series % 2 == 0:
        return f'<circle cx="{_number(x)}" cy="{_number(y)}" r="{_number(size)}" fill="{fill}" stroke="{colour}" stroke-width="2"/>'
    half = size
    return (
        f'<rect x="{_number(x - half)}" y="{_number(y - half)}" width="{_number(2 * half)}" height="{_number(2 * half)}" '
        f'fill="{fill}" stroke="{colour}" stroke-width="2"/>'
    )


def _whisker(x1: float, x2: float, y: float, series: int, unreliable: bool, vertical: bool = False) -> str:
    colour = GREY if unreliable else SERIES_COLOURS[series % 2]
    dash = ' stroke-dasharray="4 3"' if unreliable else ""
    if vertical:
        return (
            f'<line x1="{_number(y)}" y1="{_number(x1)}" x2="{_number(y)}" y2="{_number(x2)}" stroke="{colour}" stroke-width="2"{dash}/>'
            f'<line x1="{_number(y - 4)}" y1="{_number(x1)}" x2="{_number(y + 4)}" y2="{_number(x1)}" stroke="{colour}" stroke-width="2"/>'
            f'<line x1="{_number(y - 4)}" y1="{_number(x2)}" x2="{_number(y + 4)}" y2="{_number(x2)}" stroke="{colour}" stroke-width="2"/>'
        )
    return (
        f'<line x1="{_number(x1)}" y1="{_number(y)}" x2="{_number(x2)}" y2="{_number(y)}" stroke="{colour}" stroke-width="2"{dash}/>'
        f'<line x1="{_number(x1)}" y1="{_number(y - 4)}" x2="{_number(x1)}" y2="{_number(y + 4)}" stroke="{colour}" stroke-width="2"/>'
        f'<line x1="{_number(x2)}" y1="{_number(y - 4)}" x2="{_number(x2)}" y2="{_number(y + 4)}" stroke="{colour}" stroke-width="2"/>'
    )


def _open(chart_id: str, width: int, height: int, title: str, description: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="chart" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" font-family="Noto Sans, Arial, sans-serif" font-size="13" fill="{INK}">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(description)}</desc>'
    )


def _legend(series: Sequence[Series], y: float, width: int, unreliable_label: str | None) -> str:
    parts, x = [], 8.0
    for number, item in enumerate(series):
        if len(series) < 2 and number == 0:
            break
        parts.append(_marker(x + 6, y, number, False, 5))
        parts.append(f'<text x="{_number(x + 16)}" y="{_number(y + 4)}">{escape(item.name)}</text>')
        x += 30 + 7.2 * len(item.name)
    if unreliable_label:
        parts.append(_marker(x + 6, y, 0, True, 5))
        parts.append(f'<text x="{_number(x + 16)}" y="{_number(y + 4)}">{escape(unreliable_label)}</text>')
    return "".join(parts)


def interval_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str],
    unreliable_label: str | None = None,
) -> Markup:
    """Horizontal dot-and-interval rows, one per label; each label's name sits above its row so
    that the chart stays readable on a phone. The axis need not start at 0: the dots, not bar
    lengths, carry the values."""
    width, left, right, row = 420, 16, 360, 22 + 14 * max(1, len(series))
    low, high = _range(series)
    top = 26
    height = top + row * len(labels) + 34
    scale = lambda v: left + (right - left) * (v - low) / (high - low)  # noqa: E731
    out = [_open(chart_id, width, height, title, description)]
    out.append(_legend(series, 12, width, unreliable_label))
    for tick in _ticks(low, high):
        x = scale(tick)
        out.append(f'<line x1="{_number(x)}" y1="{top}" x2="{_number(x)}" y2="{top + row * len(labels)}" stroke="{GRID}"/>')
        out.append(f'<text x="{_number(x)}" y="{top + row * len(labels) + 16}" text-anchor="middle" font-size="11">{escape(fmt(tick, 0))}</text>')
    for i, label in enumerate(labels):
        y0 = top + i * row
        out.append(f'<text x="4" y="{y0 + 14}" font-weight="600">{escape(label)}</text>')
        for s, item in enumerate(series):
            point = item.points[i] if i < len(item.points) else None
            y = y0 + 26 + 14 * s
            if point is None or not _finite(point.estimate):
                continue
            if _finite(point.low) and _finite(point.high):
                out.append(_whisker(scale(point.low), scale(point.high), y, s, point.unreliable))
            out.append(_marker(scale(point.estimate), y, s, point.unreliable))
            out.append(f'<text x="{width - 4}" y="{_number(y + 4)}" text-anchor="end" font-size="12">{escape(fmt(point.estimate, 2))}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def trend_chart(
    chart_id: str,
    title: str,
    description: str,
    periods: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float, int], str],
    unreliable_label: str | None = None,
) -> Markup:
    """Estimates across periods joined by a line (solid, then dashed for the second series),
    each with its interval."""
    width, height, left, right, top, bottom = 420, 260, 44, 410, 30, 214
    low, high = _range(series)
    y_of = lambda v: bottom - (bottom - top) * (v - low) / (high - low)  # noqa: E731
    count = max(1, len(periods))
    x_of = lambda i: left + (right - left) * (i + 0.5) / count  # noqa: E731
    out = [_open(chart_id, width, height, title, description), _legend(series, 12, width, unreliable_label)]
    for tick in _ticks(low, high):
        y = y_of(tick)
        out.append(f'<line x1="{left}" y1="{_number(y)}" x2="{right}" y2="{_number(y)}" stroke="{GRID}"/>')
        out.append(f'<text x="{left - 4}" y="{_number(y + 4)}" text-anchor="end" font-size="11">{escape(fmt(tick, 0))}</text>')
    step = max(1, math.ceil(count / 8))
    for i, period in enumerate(periods):
        if i % step == 0 or (i == count - 1 and (count - 1) % step > step // 2):
            out.append(f'<text x="{_number(x_of(i))}" y="{bottom + 18}" text-anchor="middle" font-size="11">{escape(period)}</text>')
    for s, item in enumerate(series):
        colour = SERIES_COLOURS[s % 2]
        dash = ' stroke-dasharray="6 4"' if s % 2 else ""
        path = []
        for i, point in enumerate(item.points):
            if point is None or not _finite(point.estimate):
                continue
            path.append(f"{'M' if not path else 'L'}{_number(x_of(i) + 5 * s)},{_number(y_of(point.estimate))}")
        if len(path) > 1:
            out.append(f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for i, point in enumerate(item.points):
            if point is None or not _finite(point.estimate):
                continue
            x = x_of(i) + 5 * s
            if _finite(point.low) and _finite(point.high):
                out.append(_whisker(y_of(point.high), y_of(point.low), x, s, point.unreliable, vertical=True))
            out.append(_marker(x, y_of(point.estimate), s, point.unreliable, 4.5))
    out.append("</svg>")
    return Markup("".join(out))


@dataclass(frozen=True)
class FunnelPoint:
    label: str
    n_eff: float
    estimate: float
    outside: int  # -1 below the outer limit, +1 above it, 0 inside


def funnel_chart(
    chart_id: str,
    title: str,
    description: str,
    centre: float,
    limits: Callable[[float], tuple[float, float, float, float]],
    points: Sequence[FunnelPoint],
    fmt: Callable[[float, int], str],
    legend: tuple[str, str, str],
) -> Markup:
    """Estimates against effective sample size with control limits around ``centre``:
    ``limits(n) -> (low95, high95, low998, high998)``. Points outside the outer limits are
    triangles (down: below, up: above)."""
    width, height, left, right, top, bottom = 420, 300, 44, 410, 30, 254
    largest = max([p.n_eff for p in points] + [10.0]) * 1.08
    smallest = 5.0
    lows = [p.estimate for p in points] + [limits(max(smallest, largest / 40))[2]]
    low = min(max(0.0, math.floor(min(lows) * 10) / 10), 0.9)
    high = 1.0
    y_of = lambda v: bottom - (bottom - top) * (min(max(v, low), high) - low) / (high - low)  # noqa: E731
    x_of = lambda n: left + (right - left) * n / largest  # noqa: E731
    out = [_open(chart_id, width, height, title, description)]
    out.append(
        f'<line x1="8" y1="12" x2="28" y2="12" stroke="{INK}" stroke-width="2"/><text x="32" y="16">{escape(legend[0])}</text>'
        f'<line x1="150" y1="12" x2="170" y2="12" stroke="{INK}" stroke-dasharray="6 4"/><text x="174" y="16">{escape(legend[1])}</text>'
        f'<line x1="262" y1="12" x2="282" y2="12" stroke="{INK}" stroke-dasharray="2 3"/><text x="286" y="16">{escape(legend[2])}</text>'
    )
    for tick in _ticks(low, high):
        y = y_of(tick)
        out.append(f'<line x1="{left}" y1="{_number(y)}" x2="{right}" y2="{_number(y)}" stroke="{GRID}"/>')
        out.append(f'<text x="{left - 4}" y="{_number(y + 4)}" text-anchor="end" font-size="11">{escape(fmt(tick, 0))}</text>')
    for i in range(5):
        n = largest * i / 4
        out.append(f'<text x="{_number(x_of(n))}" y="{bottom + 18}" text-anchor="middle" font-size="11">{escape(fmt(n, -1))}</text>')
    out.append(f'<line x1="{left}" y1="{_number(y_of(centre))}" x2="{right}" y2="{_number(y_of(centre))}" stroke="{INK}" stroke-width="2"/>')
    grid = [smallest + (largest - smallest) * (i / 60) ** 2 for i in range(61)]
    for index, dash in ((0, "6 4"), (1, "6 4"), (2, "2 3"), (3, "2 3")):
        path = " ".join(f"{'M' if j == 0 else 'L'}{_number(x_of(n))},{_number(y_of(limits(n)[index]))}" for j, n in enumerate(grid))
        out.append(f'<path d="{path}" fill="none" stroke="{INK}" stroke-dasharray="{dash}"/>')
    for point in points:
        x, y = x_of(point.n_eff), y_of(point.estimate)
        if point.outside < 0:
            out.append(f'<path d="M{_number(x - 6)},{_number(y - 4)} L{_number(x + 6)},{_number(y - 4)} L{_number(x)},{_number(y + 6)} Z" fill="{VERMILION}"><title>{escape(point.label)}</title></path>')
        elif point.outside > 0:
            out.append(f'<path d="M{_number(x - 6)},{_number(y + 4)} L{_number(x + 6)},{_number(y + 4)} L{_number(x)},{_number(y - 6)} Z" fill="{BLUE}"><title>{escape(point.label)}</title></path>')
        else:
            out.append(f'<circle cx="{_number(x)}" cy="{_number(y)}" r="4.5" fill="#ffffff" stroke="{BLUE}" stroke-width="2"><title>{escape(point.label)}</title></circle>')
    out.append("</svg>")
    return Markup("".join(out))
