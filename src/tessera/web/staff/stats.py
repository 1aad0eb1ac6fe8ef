"""Statistics: codes issued and redeemed by product, by tag and by course, and a chart of
redemptions per day drawn on the server as an inline SVG, with its numbers in a table too."""

from dataclasses import dataclass
from datetime import date

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_safe

from tessera.vouchers.models import Product
from tessera.vouchers.selectors.stats import (
    STATS_DIMENSIONS,
    DayCount,
    StatsRow,
    code_stats_by,
    redemptions_per_day,
    stats_total,
)
from tessera.web.staff.access import staff_only

DAYS = {"7": 7, "30": 30, "90": 90, "365": 365}
DEFAULT_DAYS = 30
HEADINGS = {"product": "Product", "tag": "Tag", "course": "Course"}
PRODUCT_LABELS = dict(Product.choices)


@dataclass(frozen=True)
class StatsTable:
    by: str
    heading: str
    rows: list[StatsRow]
    total: StatsRow


@dataclass(frozen=True)
class DayShown:
    """A day's counts with its date ready to print: the date filter, run for each of a year's
    days in the chart and the table, took longer than the page's queries."""

    iso: str
    label: str
    count: DayCount


@staff_only
@require_safe
def stats(request: HttpRequest) -> HttpResponse:
    # Any other value, or none, shows the default window rather than an error.
    days = DAYS.get(request.GET.get("days", ""), DEFAULT_DAYS)
    shown = [DayShown(day.day.isoformat(), day_label(day.day), day) for day in redemptions_per_day(days=days)]
    context = {
        "section": "stats",
        "tables": [_table(by, rows) for by, rows in code_stats_by(*STATS_DIMENSIONS).items()],
        "days": days,
        "day_choices": list(DAYS.values()),
        "per_day": shown,
        "live": sum(day.count.live for day in shown),
        "reversed": sum(day.count.reversed for day in shown),
        "chart": BarChart.of(shown),
        "time_zone": timezone.get_current_timezone_name(),
    }
    return render(request, "web/staff/stats.html", context)


def _table(by: str, rows: list[StatsRow]) -> StatsTable:
    if by == "product":
        rows = [StatsRow(PRODUCT_LABELS.get(row.key, row.key), row.issued, row.redeemed, row.uses, row.max_uses)
                for row in rows]  # fmt: skip
    return StatsTable(by=by, heading=HEADINGS[by], rows=rows, total=stats_total(rows))


def day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


# --- the chart ----------------------------------------------------------------------------------
#
# Drawn in a fixed coordinate system (the SVG's viewBox) that the browser scales to the page's
# width; no script and nothing loaded from elsewhere. The bars are written here rather than in
# the template: a year of them through template tags alone took about 100 ms.

WIDTH, HEIGHT = 760, 230
LEFT, RIGHT, TOP, BASELINE = 48, 750, 34, 200  # the plot area, inside the margins for the labels
LIVE_COLOUR, REVERSED_COLOUR = "#0b5cad", "#a4161a"  # the stylesheet's accent and error colours
BAR = "<g><title>{}: {} live, {} reversed</title>{}</g>"
RECT = '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class BarChart:
    """Each day's live redemptions as a bar, those reversed since stacked on top."""

    bars: SafeString
    ticks: list[Tick]
    first_day: str
    last_day: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    baseline: int = BASELINE
    live_colour: str = LIVE_COLOUR
    reversed_colour: str = REVERSED_COLOUR

    @classmethod
    def of(cls, per_day: list[DayShown]) -> "BarChart":
        top = nice_ceiling(max((day.count.total for day in per_day), default=0))
        scale = (BASELINE - TOP) / top
        slot = (RIGHT - LEFT) / max(len(per_day), 1)
        drawn = ((_bar(day, LEFT + index * slot, slot, scale),) for index, day in enumerate(per_day) if day.count.total)
        bars = format_html_join("\n", "{}", drawn)
        halfway = [top // 2] if top % 2 == 0 else []
        ticks = [Tick(value, round(BASELINE - value * scale, 2)) for value in [0, *halfway, top]]
        first, last = (per_day[0].label, per_day[-1].label) if per_day else ("", "")
        return cls(bars=bars, ticks=ticks, first_day=first, last_day=last)


def _bar(day: DayShown, x: float, slot: float, scale: float) -> SafeString:
    """A day's stacked rectangles, with its numbers as a tooltip."""
    live, reversed_ = day.count.live * scale, day.count.reversed * scale
    gap = min(slot * 0.2, 4)  # bars touch when a year is shown, stand apart when a week is
    x, width = round(x + gap / 2, 2), round(slot - gap, 2)
    rects = [
        (round(BASELINE - live, 2), round(live, 2), LIVE_COLOUR),
        (round(BASELINE - live - reversed_, 2), round(reversed_, 2), REVERSED_COLOUR),
    ]
    drawn = format_html_join("", RECT, ((x, y, width, height, colour) for y, height, colour in rects if height))
    return format_html(BAR, day.label, day.count.live, day.count.reversed, drawn)


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 3, 4, 5, 6, 8, 10, 20, 30 ... at least `value`: the y axis's top."""
    step = 1
    while True:
        for factor in (1, 2, 3, 4, 5, 6, 8):
            if step * factor >= value:
                return step * factor
        step *= 10


urlpatterns = [path("stats", stats, name="stats")]
