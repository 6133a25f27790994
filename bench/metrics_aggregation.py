"""Daily report aggregation: a day of 1,000,000 events over 5,000 issues, next to a bare pandas groupby of
the same frame in the same run. Targets: <= 2 s and <= 2x the bare groupby."""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.metrics import aggregate, window_for  # noqa: E402
from tasks.metrics_report import markdown, slack_blocks, telegram_html  # noqa: E402

EVENTS, ISSUES, COMPONENTS = 1_000_000, 5_000, 40


def build_frame(now: datetime) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(7)
    issue_of_event = rng.zipf(1.3, EVENTS) % ISSUES  # a few issues make most of the noise, as in life
    component_of_issue = rng.integers(0, COMPONENTS, ISSUES)
    level_of_issue = rng.choice(["error", "warning", "fatal"], ISSUES, p=[0.7, 0.25, 0.05])
    seconds = rng.integers(0, 86400 - 60, EVENTS)  # all within the reported day
    issue_ids = pd.Categorical([str(i) for i in issue_of_event], categories=[str(i) for i in range(ISSUES)])
    frame = pd.DataFrame({
        "issue_id": issue_ids,
        "at": pd.to_datetime(now) - pd.to_timedelta(seconds, unit="s"),
        "component": pd.Categorical([f"component-{c}" for c in component_of_issue[issue_of_event]]),
        "service": pd.Categorical([f"svc-{i % 30}" for i in issue_of_event]),
        "level": pd.Categorical(level_of_issue[issue_of_event]),
        "project": pd.Categorical(["api"] * EVENTS),
    })
    meta = {str(i): {"title": f"Error {i}", "level": str(level_of_issue[i]),
                     "first_seen": now - timedelta(days=int(i % 30)), "status": "unresolved"} for i in range(ISSUES)}
    return frame, meta


def main() -> None:
    now = datetime(2026, 11, 23, 9, tzinfo=timezone.utc)
    frame, meta = build_frame(now)
    window = window_for(None, 24, now)
    history = {f"component-{c}": {window.day - timedelta(days=n): 1000 + n for n in range(1, 8)} for c in range(COMPONENTS)}
    ours, bare = [], []
    for _ in range(5):
        started = time.perf_counter()
        report = aggregate(frame, meta, window, history=history, history_is_complete=True)
        telegram_html(report), slack_blocks(report), markdown(report)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        frame.groupby("component", observed=True).agg(events=("at", "size"), issues=("issue_id", "nunique"))
        bare.append(time.perf_counter() - started)
    o, b = statistics.median(ours), statistics.median(bare)
    print(f"daily report of {report.total_events:,} events in the window ({EVENTS:,} in the frame), "
          f"{report.total_issues:,} issues, {len(report.components)} components, median of 5")
    print(f"  aggregate + render   {o:6.3f} s   (target <= 2 s)")
    print(f"  bare pandas groupby  {b:6.3f} s")
    print(f"  ratio {o / b:.2f}  (target <= 2x)")


if __name__ == "__main__":
    main()
