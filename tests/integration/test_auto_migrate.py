"""A new database migrates itself on first use (concurrent first starts take turns), or, with
TRIAGE_AUTO_MIGRATE=false, fails with one line that names `triage db upgrade`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from models.db import current_revision, dispose_all, engine_for, head_revision, set_auto_migrate, SchemaNotReady
from triageflow.audit import audited, recent

ROOT = Path(__file__).resolve().parents[2]
TRIAGE = str(Path(sys.executable).parent / "triage")


def test_first_use_of_an_empty_database_migrates_it(unmigrated_database_url):
    assert current_revision(unmigrated_database_url) is None
    with audited(unmigrated_database_url, "glitchtip", "comment.add", "issue:1", dry_run=True):
        pass
    assert current_revision(unmigrated_database_url) == head_revision()
    assert [r.action for r in recent(unmigrated_database_url)] == ["comment.add"]


def test_concurrent_first_starts_do_not_race(unmigrated_database_url):
    code = ("import sys; from triageflow.audit import audited\n"
            "with audited(sys.argv[1], 'glitchtip', 'comment.add', 'issue:1', dry_run=True): pass\n")
    starts = [subprocess.Popen([sys.executable, "-c", code, unmigrated_database_url], cwd=ROOT,
                               stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0, 0], errors
    assert current_revision(unmigrated_database_url) == head_revision()
    with engine_for(unmigrated_database_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    assert len(recent(unmigrated_database_url)) == 4


def test_with_auto_migrate_off_an_unmigrated_database_names_the_upgrade_command(unmigrated_database_url):
    set_auto_migrate(False)
    try:
        with pytest.raises(SchemaNotReady, match="run `triage db upgrade`"):
            engine_for(unmigrated_database_url)
    finally:
        set_auto_migrate(True)
        dispose_all()


def test_cli_on_an_unmigrated_database_with_auto_migrate_off_prints_one_line(tmp_path):
    env = dict(os.environ, TRIAGE_DATABASE_URL=f"sqlite:///{tmp_path / 'new.db'}", TRIAGE_AUTO_MIGRATE="false")
    done = subprocess.run([TRIAGE, "audit"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert "triage db upgrade" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    env["TRIAGE_AUTO_MIGRATE"] = "true"
    done = subprocess.run([TRIAGE, "audit"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
