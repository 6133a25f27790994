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
    source_path: str = ""  # the file's name in that commit (another file when -C found the lines moved)
    text: str = ""  # the line as it reads now


IGNORE_REVS_FILE = ".git-blame-ignore-revs"
UNCOMMITTED = "0" * 40


def _line_count(root: Path, path: str) -> int:
    """How many lines `path` has; 0 for a binary, huge or vanished file (nothing to blame)."""
    full = root / path
    try:
        if not full.is_file() or full.stat().st_size > MAX_BLAME_BYTES:
            return 0
        data = full.read_bytes()
    except OSError:
        return 0
    return 0 if b"\0" in data[:8192] else data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def blame_lines(root: Path, path: str, start: int, end: int, *, ignore_revs: tuple[str, ...] = ()) -> list[Blame]:
    return blame_ranges(root, path, [(start, end)], ignore_revs=ignore_revs)


def blame_ranges(root: Path, path: str, ranges: list[tuple[int, int]], *,
                 ignore_revs: tuple[str, ...] = (), rev: str | None = None) -> list[Blame]:
    """Who last changed each line of the (start, end) ranges of `path` at HEAD (one git call), skipping
    layout-only changes and moves.

    `-w -M -C` looks through whitespace changes and lines moved or copied (within the file and from files
    of the same commit); the repository's `.git-blame-ignore-revs` and `ignore_revs` are skipped too.
    Uncommitted lines are left out; [] for a binary, huge or vanished file.
    """
    if rev is None:
        lines = _line_count(root, path)
    else:  # an older revision: count its lines there
        old = _run(root, "show", f"{rev}:{path}")
        lines = 0 if old is None or "\0" in old[:8192] else old.count("\n") + (0 if old.endswith("\n") else 1)
    ranges = [(max(1, a), min(b, lines)) for a, b in ranges if 1 <= a <= lines]
    if not ranges:
        return []
    args = ["blame", "-w", "-M", "-C", "--porcelain"]
    for start, end in ranges:
        args += ["-L", f"{start},{end}"]
    base = list(args)
    if (root / IGNORE_REVS_FILE).is_file():
        args += ["--ignore-revs-file", str(root / IGNORE_REVS_FILE)]
    for ignored in ignore_revs:
        args += ["--ignore-rev", ignored]
    tail = [rev, "--", path] if rev else ["--", path]
    text = _run(root, *args, *tail)
    if text is None and len(args) > len(base):  # an ignore list naming an unknown commit makes git refuse
        text = _run(root, *base, *tail)
    return _parse_porcelain(path, text or "")


def _parse_porcelain(path: str, text: str) -> list[Blame]:
    from datetime import timezone

    commits: dict[str, dict[str, str]] = {}
    out: list[Blame] = []
    sha, final, fields = None, 0, {}
    for entry in text.splitlines():
        if entry.startswith("\t"):
            if sha and sha != UNCOMMITTED and "author-time" in fields:
                tz = fields.get("author-tz", "+0000")
                offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5])) * (-1 if tz.startswith("-") else 1)
                date = datetime.fromtimestamp(int(fields["author-time"]), timezone(offset))
                commit = CommitInfo(sha, sha[:7], fields.get("summary", ""), fields.get("author", ""), date)
                out.append(Blame(path, final, commit, "boundary" in fields, fields.get("filename", path), entry[1:]))
            sha = None
            continue
        head = entry.split(" ")
        if sha is None and len(head) >= 3 and len(head[0]) == 40:
            sha, final = head[0], int(head[2])
            fields = commits.setdefault(sha, {})
        elif sha is not None:
            key, _, value = entry.partition(" ")
            fields[key] = value
    return out


def blame_line(root: Path, path: str, line: int) -> Blame | None:
    """Who last changed `line` of `path` at HEAD; None for a binary, huge or vanished file or an uncommitted line."""
    found = blame_lines(root, path, line, line)
    return found[0] if found else None


def moved_from(root: Path, sha: str, text: str, path: str) -> tuple[str, int] | None:
    """Where commit `sha` took a line reading `text` from, when it removed the same line elsewhere (a move
    too small for `blame -C` to see): (path, line number) in the commit's parent; None if it wrote the line."""
    wanted = text.strip()
    if len(wanted) < 8:
        return None  # "return x", "}" and the like are everywhere
    diff = _run(root, "show", "--format=", "--unified=0", "--no-renames", sha) or ""
    old_path, old_line, removed, added = None, 0, [], False
    for line in diff.splitlines():
        if line.startswith("--- "):
            old_path = line[6:] if line.startswith("--- a/") else None
        elif line.startswith("+++ "):
            continue
        elif line.startswith("@@"):
            old_line = int(line.split()[1][1:].split(",")[0])
        elif line.startswith("-") and old_path:
            if line[1:].strip() == wanted:
                removed.append((old_path, old_line))
            old_line += 1
        elif line.startswith("+") and line[1:].strip() == wanted:
            added = True
    if not added or len(removed) != 1:
        return None  # not moved, or from several places: nothing certain to follow
    return removed[0]


def file_at(root: Path, rev: str, path: str) -> str | None:
    return _run(root, "show", f"{rev}:{path}")


def release_commits(root: Path, release: str | None) -> tuple[str, set[str]] | None:
    """The commits of the event's release since the release before it, by tag: (description, shas).

    The release is matched to a tag as is, with a `v` in front, or by what follows `name@`; None when no
    tag matches or no earlier tag exists (then nothing says which release was good).
    """
    if not release:
        return None
    tags = set((_run(root, "tag", "--list") or "").split())
    version = release.rsplit("@", 1)[-1]
    tag = next((t for t in (release, version, f"v{version}") if t in tags), None)
    if tag is None:
        return None
    previous = (_run(root, "describe", "--tags", "--abbrev=0", f"{tag}^") or "").strip()
    if not previous:
        return None
    shas = set((_run(root, "rev-list", "-n5000", f"{previous}..{tag}") or "").split())
    return f"{previous}..{tag}", shas


def humanize(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{max(seconds // 60, 1)} min"
    if seconds < 86400 * 2:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
