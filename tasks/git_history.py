"""What git knows about the files behind a stack trace: recent commits, blame, and suspect commits."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

SEP = "\x1f"
LOG_FORMAT = SEP.join(["%H", "%h", "%s", "%an", "%aI"])
MAX_BLAME_BYTES = 2_000_000


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    short: str
    subject: str
    author: str
    date: datetime


def _run(root: Path, *args: str, timeout: float = 10.0) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=timeout,
                              errors="replace")
    except subprocess.TimeoutExpired:
        return None
    return done.stdout if done.returncode == 0 else None


def _parse_log(text: str | None) -> list[CommitInfo]:
    commits = []
    for line in (text or "").splitlines():
        parts = line.split(SEP)
        if len(parts) == 5:
            commits.append(CommitInfo(parts[0], parts[1], parts[2], parts[3], datetime.fromisoformat(parts[4])))
    return commits


def recent_commits(root: Path, path: str, limit: int = 5, until: datetime | None = None) -> list[CommitInfo]:
    """The newest commits touching `path` (following renames), newest first."""
    args = ["log", f"-n{limit}", "--follow", f"--format={LOG_FORMAT}"]
    if until is not None:
        args.append(f"--until={until.isoformat()}")
    return _parse_log(_run(root, *args, "--", path))


def commits_touching(root: Path, paths: list[str], since: datetime, until: datetime, limit: int = 30) -> dict[str, list[CommitInfo]]:
    """For each path, the commits that touched it in [since, until], newest first (one git call)."""
    if not paths:
        return {}
    text = _run(root, "log", f"-n{limit}", f"--since={since.isoformat()}", f"--until={until.isoformat()}",
                f"--format=@@{LOG_FORMAT}", "--name-only", "--", *paths)
    touching: dict[str, list[CommitInfo]] = {p: [] for p in paths}
    current: CommitInfo | None = None
    for line in (text or "").splitlines():
        if line.startswith("@@"):
            parsed = _parse_log(line[2:])
            current = parsed[0] if parsed else None
        elif line.strip() and current is not None and line.strip() in touching:
            touching[line.strip()].append(current)
    return touching


@dataclass(frozen=True)
class Blame:
    path: str
    line: int
    commit: CommitInfo
    boundary: bool  # the history stops here (a shallow clone): the line may be older


def blame_line(root: Path, path: str, line: int) -> Blame | None:
    """Who last changed `line` of `path` at HEAD; None for a binary, huge or vanished file."""
    full = root / path
    try:
        if not full.is_file() or full.stat().st_size > MAX_BLAME_BYTES or b"\0" in full.read_bytes()[:8192]:
            return None
    except OSError:
        return None
    text = _run(root, "blame", "--porcelain", "-L", f"{line},{line}", "--", path)
    if not text:
        return None
    lines = text.splitlines()
    sha = lines[0].split(" ", 1)[0]
    fields = {}
    for entry in lines[1:]:
        if entry.startswith("\t"):
            break
        key, _, value = entry.partition(" ")
        fields[key] = value
    if "author-time" not in fields:
        return None
    from datetime import timezone

    tz = fields.get("author-tz", "+0000")
    offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5])) * (-1 if tz.startswith("-") else 1)
    date = datetime.fromtimestamp(int(fields["author-time"]), timezone(offset))
    commit = CommitInfo(sha, sha[:7], fields.get("summary", ""), fields.get("author", ""), date)
    return Blame(path, line, commit, "boundary" in fields)


# --------------------------------------------------------------------------- ranking (pure)

@dataclass(frozen=True)
class Suspect:
    commit: CommitInfo
    path: str
    frame_rank: int  # 0: the innermost in-app frame's file
    blamed_line: int | None  # the crashing line this commit last changed, if any
    before_first_seen: timedelta

    @property
    def reason(self) -> str:
        if self.blamed_line:
            return f"last changed line {self.blamed_line} of {self.path} (the crashing line)"
        return f"changed {self.path}"


def rank_suspects(frame_files: list[tuple[str, int | None]], touching: dict[str, list[CommitInfo]],
                  blames: list[Blame], first_seen: datetime, limit: int = 5) -> list[Suspect]:
    """Commits that landed before the issue was first seen, touching the frames' files.

    Ordered by the frame they touch (the innermost in-app frame first), then the newest first;
    a commit that last changed a crashing line comes first among equals.
    """
    blamed = {(b.path, b.commit.sha): b.line for b in blames}
    best: dict[str, Suspect] = {}
    for rank, (path, _line) in enumerate(frame_files):
        candidates = list(touching.get(path, []))
        candidates += [b.commit for b in blames if b.path == path and b.commit.sha not in {c.sha for c in candidates}]
        for commit in candidates:
            if commit.date > first_seen:
                continue  # landed after the error appeared: not its cause
            suspect = Suspect(commit, path, rank, blamed.get((path, commit.sha)), first_seen - commit.date)
            known = best.get(commit.sha)
            if known is None or _key(suspect) < _key(known):
                best[commit.sha] = suspect
    return sorted(best.values(), key=_key)[:limit]


def _key(s: Suspect) -> tuple:
    return (s.frame_rank, s.before_first_seen, s.blamed_line is None)


def humanize(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{max(seconds // 60, 1)} min"
    if seconds < 86400 * 2:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
