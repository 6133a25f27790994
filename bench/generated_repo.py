"""A large generated git repository for benchmarks: the sandbox's sample app inside thousands of other files.

Built with `git fast-import`, so 5,000 files and 2,000 commits take seconds, not minutes.
"""

from __future__ import annotations

import random
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from triageflow.sandbox.sample_repo import HISTORY, SAMPLE_APP, _file_at, commit_time

AUTHORS = [("Anna Petrova", "anna@booking.example"), ("Ivan Sokolov", "ivan@booking.example"),
           ("Maria Ivanova", "maria@booking.example"), ("Oleg Kim", "oleg@booking.example")]


def _filler(n: int, version: int) -> str:
    return (f'"""Generated module {n}."""\n\n\ndef handler_{n}(request):\n    value = request.get("v{n}", {version})\n'
            f"    return value * {version + 1}\n\n\ndef helper_{n}(items):\n    return [i for i in items if i % {n % 7 + 2}]\n")


def build(dest: Path, *, files: int = 5000, commits: int = 2000, now: datetime | None = None, seed: int = 7) -> Path:
    """Create the repository at `dest` (which must not exist) and return it."""
    now = now or datetime.now(timezone.utc)
    rng = random.Random(seed)
    dest.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True)
    filler_paths = [f"services/svc{n // 100:02d}/module_{n}.py" for n in range(files)]
    start = now - timedelta(days=400)
    sample_commits = {commit_time(c, now): c for c in HISTORY}
    # filler commits spread over the year before the sample history starts and between its commits
    stamps = sorted(start + timedelta(seconds=rng.random() * (now - start - timedelta(days=1)).total_seconds())
                    for _ in range(commits - 1 - len(HISTORY)))
    timeline = [(start - timedelta(days=1), "initial", None)] + [(t, "filler", None) for t in stamps]
    timeline += [(t, "sample", c) for t, c in sample_commits.items()]
    timeline.sort(key=lambda item: item[0])

    out: list[bytes] = []

    def blob(text: str) -> None:
        data = text.encode()
        out.append(b"data %d\n" % len(data) + data + b"\n")

    for mark, (when, kind, commit) in enumerate(timeline, 1):
        name, email = commit.author if commit else rng.choice(AUTHORS)
        stamp = f"{int(when.timestamp())} +0000"
        message = commit.message if commit else ("Initial import" if kind == "initial" else f"Tune module {mark}")
        out.append(f"commit refs/heads/main\nmark :{mark}\nauthor {name} <{email}> {stamp}\n"
                   f"committer {name} <{email}> {stamp}\n".encode())
        blob(message)
        if mark > 1:
            out.append(f"from :{mark - 1}\n".encode())
        if kind == "initial":
            for n, path in enumerate(filler_paths):
                out.append(f"M 100644 inline {path}\n".encode())
                blob(_filler(n, 0))
        elif kind == "filler":
            for n in rng.sample(range(files), 2):
                out.append(f"M 100644 inline {filler_paths[n]}\n".encode())
                blob(_filler(n, mark))
        else:
            for path in commit.files:
                out.append(f"M 100644 inline {path}\n".encode())
                blob(_file_at(commit, path))
    stream = b"".join(out)
    subprocess.run(["git", "-C", str(dest), "fast-import", "--quiet"], input=stream, check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", "-f", "main"], check=True)
    assert (dest / "app/services/booking_monitor.py").read_text() == (SAMPLE_APP / "app/services/booking_monitor.py").read_text()
    return dest
