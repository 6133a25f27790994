"""The report's chart: events per day and component over the last 14 days, the report day highlighted."""

from __future__ import annotations

import io
from datetime import date, timedelta

import matplotlib

matplotlib.use("Agg")  # no display: render to PNG bytes
import matplotlib.pyplot as plt  # noqa: E402


def components_chart(counts: dict[str, dict[date, int]], day: date, days: int = 14, top: int = 6) -> bytes:
    """Stacked bars, one colour per component (the `top` biggest; the rest as "other")."""
    axis = [day - timedelta(days=n) for n in range(days - 1, -1, -1)]
    totals = {c: sum(v.get(d, 0) for d in axis) for c, v in counts.items()}
    named = [c for c, t in sorted(totals.items(), key=lambda kv: -kv[1]) if t][:top]
    series = {c: [counts[c].get(d, 0) for d in axis] for c in named}
    rest = [sum(v.get(d, 0) for c, v in counts.items() if c not in named) for d in axis]
    if any(rest):
        series["other"] = rest
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    bottom = [0] * len(axis)
    for component, values in series.items():
        bars = ax.bar(range(len(axis)), values, bottom=bottom, label=component, alpha=0.55)
        bars[-1].set_alpha(1.0)  # the report day stands out
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.axvspan(len(axis) - 1.5, len(axis) - 0.5, color="#ffd54f", alpha=0.25, zorder=0)
    ax.set_xticks(range(len(axis)), [d.strftime("%d %b") for d in axis], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("events")
    ax.set_title(f"Errors per day by component, {axis[0]:%d %b} – {day:%d %b %Y}")
    if series:
        ax.legend(fontsize=8, loc="upper left", ncols=2)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
