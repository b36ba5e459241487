"""Charts people would rather look at than read: reports per building, stacked by category.

The CJK font comes with the `mplfonts` package (Noto Sans CJK SC, OFL) so a fresh machine
renders Chinese without any system font; we locate the file without importing the package.
"""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.config import Config
from bot.parsing.vocabulary import category_labels
from bot.periods import Period
from storage.models import Report

FONT_FILE = "NotoSansCJKsc-Regular.otf"


def cjk_font_path() -> Path:
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the mplfonts package (CJK font for charts) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "fonts" / FONT_FILE


def write_chart(
    session: Session,
    config: Config,
    period: Period,
    out_path: str | Path,
    buildings: list[str] | None = None,
    scope_label: str = "",
) -> Path:
    """Reports per building in the period, stacked by category; ``buildings`` narrows the scope."""
    font = font_manager.FontProperties(fname=str(cjk_font_path()))
    labels = category_labels(config.categories)
    start, end = period.bounds(config.tzinfo)
    conditions = [Report.created_at >= start, Report.created_at < end, Report.status != "withdrawn"]
    if buildings is not None:
        conditions.append(Report.building.in_(buildings))
    rows = session.execute(
        select(Report.building, Report.category, func.count())
        .where(*conditions)
        .group_by(Report.building, Report.category)
    ).all()
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for building, category, count in rows:
        counts[f"{building}号楼" if building else "片区/未填"][category] = count
    columns = sorted(
        counts, key=lambda b: (not b[0].isdigit(), int(b.split("号")[0]) if b[0].isdigit() else 0)
    )
    categories = sorted({c for per in counts.values() for c in per})
    # The object API only: pyplot keeps global state, and charts are drawn on worker threads
    # (the bot's jobs, the web workbench) at the same time.
    figure = Figure(figsize=(max(6, 0.5 * len(columns) + 3), 4.5), dpi=100)
    axes = figure.subplots()
    bottom = [0] * len(columns)
    for category in categories:
        values = [counts[b].get(category, 0) for b in columns]
        axes.bar(columns, values, bottom=bottom, label=labels.get(category, category))
        bottom = [a + b for a, b in zip(bottom, values)]
    axes.set_title(
        f"{config.community}{' ' + scope_label if scope_label else ''} 报告分布 · {period.label}",
        fontproperties=font,
    )
    axes.set_ylabel("报告数", fontproperties=font)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # reports come whole: no 0.5 on the axis
    for tick in axes.get_xticklabels():
        tick.set_fontproperties(font)
        tick.set_rotation(45 if len(columns) > 8 else 0)
    if categories:
        axes.legend(prop=font, fontsize=8, loc="upper right")
    else:
        axes.text(
            0.5, 0.5, "本期没有报告", ha="center", va="center", transform=axes.transAxes, fontproperties=font
        )
    figure.tight_layout()
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
