"""The codebase layer on real git checkouts: mapping, search engines, .gitignore, odd files and odd clones."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tasks.codebase import CodebaseError, open_codebase, ripgrep_binary, search
from tasks.git_history import blame_line, commits_touching, recent_commits
from tasks.stacktrace import StackFrame

ENV = dict(os.environ, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="T",
           GIT_COMMITTER_EMAIL="t@example.com", GIT_CONFIG_GLOBAL=os.devnull)


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=ENV).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    (root / "app" / "services").mkdir(parents=True)
    (root / "lib" / "services").mkdir(parents=True)
    (root / "app" / "services" / "billing.py").write_text("def total_price(items):\n    return sum(items) / 0\n")
    (root / "lib" / "services" / "billing.py").write_text("def other():\n    pass\n")
    (root / "app" / "__init__.py").write_text("")
    (root / ".gitignore").write_text("build/\n*.log\n")
    (root / "build").mkdir()
    (root / "build" / "billing.py").write_text("def total_price(): pass  # a build artefact\n")
    (root / "debug.log").write_text("total_price failed\n")
    (root / "data.bin").write_bytes(b"\0total_price\0" * 100)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


def frame(path, function="total_price", line=2, platform="python"):
    return StackFrame(path, function, None, line, None, None, True, platform)


def test_frames_map_by_longest_path_suffix(repo):
    cb = open_codebase(repo)
    assert cb.locate(frame("/srv/booking/app/services/billing.py")) == "app/services/billing.py"
    assert cb.locate(frame("/opt/x/lib/services/billing.py")) == "lib/services/billing.py"
    assert cb.locate(frame("billing.py")) is None  # two files share the name: not guessed
    assert cb.locate(frame("/srv/other/nothing.py")) is None


@pytest.mark.parametrize("engine", ["ripgrep", "python"])
def test_search_respects_gitignore_and_skips_binary_files(repo, engine):
    if engine == "ripgrep" and ripgrep_binary() is None:
        pytest.fail("ripgrep is not installed (the `ripgrep` package in pyproject.toml ships it)")
    result = search(open_codebase(repo), ["total_price"], use_ripgrep=(engine == "ripgrep"))
    assert result.engine == engine and result.complete
    assert [(m.path, m.line) for m in result.matches] == [("app/services/billing.py", 1)]


def test_python_search_skips_huge_files_and_stops_at_its_time_bound(repo):
    (repo / "huge.py").write_text("total_price = 1\n" * 4_000_000)  # ~60 MB
    cb = open_codebase(repo)
    result = search(cb, ["total_price"], use_ripgrep=False)
    assert "huge.py" not in {m.path for m in result.matches}
    bounded = search(cb, ["total_price"], use_ripgrep=False, timeout=0.0)
    assert bounded.complete is False


def test_not_a_checkout_and_missing_folder_say_so(tmp_path):
    with pytest.raises(CodebaseError, match="is not a git checkout"):
        open_codebase(tmp_path)
    with pytest.raises(CodebaseError, match="is not a folder"):
        open_codebase(tmp_path / "nope")
    with pytest.raises(CodebaseError, match="CODEBASE_PATH is not set"):
        open_codebase(None)


def test_detached_head_and_history_still_work(repo):
    (repo / "app" / "services" / "billing.py").write_text("def total_price(items):\n    return sum(items) / len(items)\n")
    git(repo, "commit", "-q", "-am", "divide by the count")
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    cb = open_codebase(repo)
    assert cb.detached and cb.head
    assert [c.subject for c in recent_commits(repo, "app/services/billing.py")] == ["first"]


def test_shallow_clone_is_flagged_and_blame_marks_the_boundary(repo, tmp_path):
    for n in range(3):
        (repo / "app" / "services" / "billing.py").write_text(f"def total_price(items):\n    return {n}\n")
        git(repo, "commit", "-q", "-am", f"change {n}")
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(clone)], check=True)
    cb = open_codebase(clone)
    assert cb.shallow
    blame = blame_line(clone, "app/services/billing.py", 2)
    assert blame is not None and blame.boundary


def test_blame_refuses_binary_and_missing_files(repo):
    assert blame_line(repo, "data.bin", 1) is None
    assert blame_line(repo, "gone.py", 1) is None
    assert blame_line(repo, "app/services/billing.py", 1).commit.subject == "first"


def test_commits_touching_within_a_window(repo):
    now = datetime.now(timezone.utc)
    touched = commits_touching(repo, ["app/services/billing.py", "app/__init__.py"], now - timedelta(days=1),
                               now + timedelta(minutes=1))
    assert [c.subject for c in touched["app/services/billing.py"]] == ["first"]
    assert commits_touching(repo, ["app/services/billing.py"], now - timedelta(days=9), now - timedelta(days=8)) == {
        "app/services/billing.py": []}
