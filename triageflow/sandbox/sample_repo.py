"""Builds the sandbox's sample codebase as a git checkout with a realistic history.

Commit dates are relative to "now", so that suspect commits land shortly before the seeded issues'
first events whatever day the sandbox starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

SAMPLE_APP = Path(__file__).parent / "sample_app"

ANNA = ("Anna Petrova", "anna@booking.example")
IVAN = ("Ivan Sokolov", "ivan@booking.example")
MARIA = ("Maria Ivanova", "maria@booking.example")


@dataclass(frozen=True)
class Commit:
    days_ago: float
    author: tuple[str, str]
    message: str
    files: tuple[str, ...]
    # (path, final text, older text): how a file looked at this commit, before a later one changed it
    older: tuple[tuple[str, str, str], ...] = field(default=())


_INITS = tuple(
    f"app/{p}__init__.py" for p in ("", "database/", "cache/", "integrations/", "services/", "api/", "storage/", "auth/")
)

HISTORY: tuple[Commit, ...] = (
    Commit(45, ANNA, "Initial booking service skeleton", ("README.md", ".gitignore", *_INITS,
           "app/database/pool.py", "app/database/postgres.py"),
           older=(("app/database/postgres.py", "CONNECT_TIMEOUT = 3", "CONNECT_TIMEOUT = 10"),
                  ("README.md", "Its git history is built by `triageflow.sandbox.sample_repo`.", "Work in progress."))),
    Commit(40, IVAN, "Add YClients booking sync", ("app/integrations/yclients.py", "scripts/nightly_sync.py"),
           older=(("app/integrations/yclients.py", "PAGE_SIZE = 200", "PAGE_SIZE = 50"),)),
    Commit(35, ANNA, "Add WhatsApp reminders and the booking monitor",
           ("app/integrations/whatsapp.py", "app/services/booking_monitor.py"),
           older=(("app/services/booking_monitor.py",
                   'return sum(item["price"] for item in items) / len([i for i in items if i.get("paid")])  # average over paid items',
                   'return sum(item["price"] for item in items)'),)),
    Commit(30, MARIA, "Add payments and the checkout page",
           ("app/integrations/payments.py", "web/src/pages/checkout.ts", "web/src/api/client.ts")),
    Commit(25, IVAN, "Cache availability lookups in Redis", ("app/cache/redis_client.py",)),
    Commit(20, MARIA, "Monthly revenue reports", ("app/services/reports.py",),
           older=(("app/services/reports.py",
                   '\n\ndef export_all_bookings(company_id: int) -> list:\n    rows = postgres.query("select * from bookings where company_id = %s", company_id)\n    return [dict(row) for row in rows] * 1000\n',
                   "\n"),)),
    Commit(15, ANNA, "API handlers, uploads and partner tokens",
           ("app/api/handlers.py", "app/storage/uploads.py", "app/auth/tokens.py")),
    Commit(9, IVAN, "Fetch 200 YClients records per page to finish the sync faster", ("app/integrations/yclients.py",)),
    Commit(6, MARIA, "Export all bookings for the accounting team", ("app/services/reports.py",)),
    Commit(4, ANNA, "Lower the PostgreSQL connect timeout to 3 s to fail fast", ("app/database/postgres.py",)),
    Commit(2, IVAN, "Average the price over paid items only", ("app/services/booking_monitor.py",)),
    Commit(1, MARIA, "Document the sample service", ("README.md",)),
)


def _file_at(commit: Commit, path: str) -> str:
    text = (SAMPLE_APP / path).read_text()
    for older_path, final, old in commit.older:
        if older_path == path:
            if final not in text:
                raise ValueError(f"sample history: {final!r} not found in {path}")
            text = text.replace(final, old)
    return text


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def commit_time(commit: Commit, now: datetime) -> datetime:
    return (now - timedelta(days=commit.days_ago)).replace(microsecond=0)


def build_sample_repo(dest: Path, *, now: datetime | None = None) -> Path:
    """Create (or re-create) the sample checkout at `dest` and return its path."""
    now = now or datetime.now(timezone.utc)
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    base_env.update(GIT_CONFIG_NOSYSTEM="1", HOME=str(dest), GIT_CONFIG_GLOBAL=os.devnull)
    _git(dest, "init", "-q", "-b", "main", env=base_env)
    for commit in HISTORY:
        for path in commit.files:
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_file_at(commit, path))
        name, email = commit.author
        stamp = commit_time(commit, now).isoformat()
        env = dict(base_env, GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=name,
                   GIT_COMMITTER_EMAIL=email, GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
        _git(dest, "add", "--", *commit.files, env=env)
        _git(dest, "commit", "-q", "-m", commit.message, env=env)
    return dest
