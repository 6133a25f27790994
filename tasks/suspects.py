"""Suspect commits ranked from the evidence behind them, each with a confidence a person can weigh. Pure.

Evidence, strongest first: the commit last changed a line the stack ran (the crashing line above all),
it last changed the body of a function that line calls, it changed the crashing function elsewhere or a
module-level value that function reads, or it only touched a file of the stack. Landing
shortly before the issue was first seen, or since the last good release, raises a candidate's rank; it
never decides whether a candidate exists (a bug can sit for a year before the input that trips it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .git_history import CommitInfo

LINE, FUNCTION, CALLEE, FILE = "line", "function", "callee", "file"
KIND_WEIGHT = {LINE: 10.0, CALLEE: 6.5, FUNCTION: 4.5, FILE: 2.0}
CALLEE_OF_TEST = 8.0  # a test failing on its own line points at the code it calls
FRAME_DECAY = 0.55  # each frame further out counts about half as much
TEST_FACTOR = 0.25  # a test's own lines rarely hold the bug
OTHER_EVIDENCE = 0.2  # more evidence of another kind for the same commit adds a fifth of its weight
WINDOW_BONUS, CLOSENESS_BONUS, RELEASE_BONUS = 0.5, 1.0, 0.6
AGE_BONUS = 0.3  # at any age, the newer of two candidates with like evidence ranks first (by order of date)
_TEST_PATH = re.compile(r"(^|/)(tests?|__tests__|spec)/|(^|/)test_[^/]*\.py$|_test\.(py|go)$|\.(test|spec)\.[jt]sx?$|(^|/)conftest\.py$")

HIGH, MEDIUM, LOW = "high", "medium", "low"


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


@dataclass(frozen=True)
class Evidence:
    kind: str  # LINE, CALLEE or FILE
    path: str  # the stack frame's file (for CALLEE: the called function's file)
    line: int | None  # the frame's line (for CALLEE: the line of the frame that calls it)
    frame_rank: int  # 0: the innermost in-app frame
    test_frame: bool  # the frame is test code
    function: str | None = None  # CALLEE: the function called on the frame's line; FUNCTION: the frame's function
    name: str | None = None  # FUNCTION: the module-level name it reads whose assignment the commit changed

    @property
    def weight(self) -> float:
        decay = FRAME_DECAY ** self.frame_rank
        if self.kind == CALLEE:
            return (CALLEE_OF_TEST if self.test_frame else KIND_WEIGHT[CALLEE]) * decay
        return KIND_WEIGHT[self.kind] * decay * (TEST_FACTOR if self.test_frame else 1.0)


@dataclass(frozen=True)
class Suspect:
    commit: CommitInfo
    evidence: tuple[Evidence, ...]  # strongest first
    score: float
    confidence: str
    before_first_seen: timedelta
    in_window: bool
    since_release: bool

    @property
    def path(self) -> str:
        return self.evidence[0].path

    @property
    def blamed_line(self) -> int | None:
        top = self.evidence[0]
        return top.line if top.kind == LINE else None

    @property
    def reason(self) -> str:
        parts = []
        for e in self.evidence[:2]:
            if e.kind == LINE and e.frame_rank == 0:
                parts.append(f"last changed line {e.line} of {e.path} (the crashing line)")
            elif e.kind == LINE:
                parts.append(f"last changed line {e.line} of {e.path} (frame {e.frame_rank + 1})")
            elif e.kind == FUNCTION and e.name:
                parts.append(f"changed {e.name} in {e.path}, read by {e.function}()")
            elif e.kind == FUNCTION:
                parts.append(f"changed {e.function}() in {e.path} around line {e.line}")
            elif e.kind == CALLEE:
                parts.append(f"changed {e.function}() in {e.path}, called on the crashing line" if e.frame_rank == 0
                             else f"changed {e.function}() in {e.path}, called from frame {e.frame_rank + 1}")
            else:
                parts.append(f"changed {e.path}")
        if self.since_release:
            parts.append("since the last good release")
        return "; ".join(dict.fromkeys(parts))


def _crash_evidence(e: Evidence, first_code_rank: int | None) -> bool:
    """The crashing line itself: the innermost frame that is not a test, or what a failing test's line calls."""
    if e.kind == LINE:
        return not e.test_frame and e.frame_rank == first_code_rank
    return e.kind == CALLEE and e.test_frame and e.frame_rank == 0


def confidence(evidence: list[Evidence], recent: bool, first_code_rank: int | None) -> str:
    """high: it changed the crashing line, recently (since the last good release, or else within the window);
    medium: it changed the crashing line long ago, or recently changed a function it calls or another frame's line;
    low: it only touched a file of the stack, or changed a called function or an outer line long ago."""
    crash = any(_crash_evidence(e, first_code_rank) for e in evidence)
    if crash:
        return HIGH if recent else MEDIUM
    if recent and any(e.kind in (LINE, CALLEE, FUNCTION) for e in evidence):
        return MEDIUM
    return LOW


def rank_suspects(found: dict[str, tuple[CommitInfo, list[Evidence]]], first_seen: datetime, *,
                  window: timedelta = timedelta(days=30), release_shas: set[str] | None = None,
                  first_code_rank: int | None = 0, limit: int = 5) -> list[Suspect]:
    """Score every candidate commit (sha → commit and its evidence) and keep the best `limit`.

    Commits that landed after the issue was first seen are left out: they cannot have caused it.
    """
    out = []
    dates = sorted(c.date for c, _ in found.values())
    for commit, evidence in found.values():
        age = first_seen - commit.date
        if age < timedelta(0) or not evidence:
            continue
        evidence = sorted(evidence, key=lambda e: -e.weight)
        in_window = age <= window
        since_release = release_shas is not None and commit.sha in release_shas
        multiplier = 1.0 + (WINDOW_BONUS + CLOSENESS_BONUS * (1 - age / window) if in_window else 0.0)
        multiplier += RELEASE_BONUS if since_release else 0.0
        multiplier += AGE_BONUS * (dates.index(commit.date) / max(len(dates) - 1, 1))
        strongest_other: dict[str, float] = {}  # one piece per other kind: a file created in one commit is one fact
        for e in evidence[1:]:
            if e.kind != evidence[0].kind:
                strongest_other.setdefault(e.kind, e.weight)
        score = (evidence[0].weight + OTHER_EVIDENCE * sum(strongest_other.values())) * multiplier
        recent = since_release if release_shas is not None else in_window
        out.append(Suspect(commit, tuple(evidence), round(score, 3), confidence(evidence, recent, first_code_rank),
                           age, in_window, since_release))
    out.sort(key=lambda s: (-s.score, s.before_first_seen))
    return out[:limit]


def no_good_candidate(suspects: list[Suspect]) -> bool:
    return not any(s.confidence in (HIGH, MEDIUM) for s in suspects)


def suspect_note(suspects: list[Suspect], has_frames: bool) -> str | None:
    """What the report says when no candidate is a good one (None when one is)."""
    if not suspects:
        return ("no candidate: the stack's lines are uncommitted or their history is not in this checkout"
                if has_frames else None)
    if no_good_candidate(suspects):
        return ("no good candidate: no commit changed the crashing line or recently changed what it calls; "
                "the commits below only touched the same files or changed long ago")
    return None


def event_release(event: dict[str, Any] | None) -> str | None:
    """The release an event was sent from: its `release` (an object or a string) or its `release` tag."""
    if not event:
        return None
    release = event.get("release")
    if isinstance(release, dict):
        release = release.get("version")
    if isinstance(release, str) and release:
        return release
    return next((t.get("value") for t in event.get("tags") or [] if isinstance(t, dict) and t.get("key") == "release"),
                None)
