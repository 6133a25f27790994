"""Labelled bugs mined from a git checkout's own history, for the suspects evaluation (`--repos DIR...`).

A bug fix is a commit whose message says so (fix, bug, regression, crash, ...) and that changes a test file
together with a few lines of source. The commits that introduced the bug are the ones that last changed the
fixed lines on the fix's parent (`git blame -w -M` there). The stack trace comes from running the fix's new or
changed tests on the parent with the fix's test files added (uncommitted, as on a buggy checkout); when none
of them fails there and passes with the fix (missing dependencies, another Python, a test that needs more than
the fix's tests), the trace is the changed function's first fixed line called from the test that names it,
marked as synthetic: its innermost frame is a fixed line by construction, so the evaluation reports those
bugs apart from the ones with a real trace.
Nothing is written into the given repositories: each is cloned into the work folder first.
"""

from __future__ import annotations

import ast
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from bench.suspects_corpus import CALLER, OLD, PROJECT, REFORMAT, Case
from bench.suspects_trace import run_failing_test
from tasks import callees
from tasks.git_history import file_at
from tasks.suspects import is_test_path

FIX_WORDS = re.compile(r"\b(fix(e[sd])?|bug|regression|crash(es)?|error|broken|incorrect|wrong)\b", re.I)
NOT_BUGS = re.compile(r"\b(typos?|lint|flake8|mypy|pylint|inspections?|docs?|docstrings?|style|spelling|readme)\b", re.I)
MAX_SOURCE_LINES = 30
MAX_SOURCE_FILES = 3
WINDOW = timedelta(days=30)


def _git(repo: Path, *args: str, check: bool = False) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, errors="replace")
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed in {repo}: {done.stderr.strip()[:200]}")
    return done.stdout if done.returncode == 0 else ""


def bug_fixes(repo: Path, limit: int) -> list[tuple[str, list[str], list[str]]]:
    """(sha, source files, test files) of commits that look like small bug fixes with a test, newest first."""
    out = []
    text = _git(repo, "log", "--no-merges", "--format=@@%H\x1f%s", "--numstat", "-n3000")
    for block in text.split("@@")[1:]:
        head, *rows = block.strip().splitlines()
        sha, _, subject = head.partition("\x1f")
        if not FIX_WORDS.search(subject) or NOT_BUGS.search(subject):
            continue
        sources, tests, changed = [], [], 0
        for row in rows:
            parts = row.split("\t")
            if len(parts) != 3 or not parts[2].endswith(".py"):
                continue
            if is_test_path(parts[2]):
                tests.append(parts[2])
            else:
                sources.append(parts[2])
                changed += int(parts[0]) + int(parts[1]) if parts[0].isdigit() and parts[1].isdigit() else 999
        if tests and sources and len(sources) <= MAX_SOURCE_FILES and changed <= MAX_SOURCE_LINES:
            out.append((sha, sources, tests))
        if len(out) >= limit:
            break
    return out


def fixed_lines(repo: Path, fix: str, path: str) -> list[int]:
    """Lines of `path` on the fix's parent that the fix removed or changed (for pure additions: the line above)."""
    diff = _git(repo, "diff", "-U0", "-w", f"{fix}^", fix, "--", path)
    lines: list[int] = []
    for hunk in re.finditer(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", diff, re.M):
        start, count = int(hunk.group(1)), int(hunk.group(2) if hunk.group(2) is not None else 1)
        lines += list(range(start, start + count)) if count else ([start] if start else [])
    return lines


def introducing_commits(repo: Path, fix: str, path: str, lines: list[int]) -> set[str]:
    """The commits that last changed the fixed lines on the fix's parent: `git blame -w -M -C` there, looking
    through commits that only changed the file's layout (its syntax tree is the same before and after), as
    refined SZZ variants do: a reformat or a move does not introduce a bug."""
    ignore: list[str] = []
    for _ in range(3):
        found = blamed_at(repo, f"{fix}^", path, lines, "-w", "-M", "-C", *[a for r in ignore for a in ("--ignore-rev", r)])
        layout = [sha for sha in found if sha not in ignore and _layout_only(repo, sha, path)]
        if not layout:
            return found
        ignore += layout
    return found


def _layout_only(repo: Path, sha: str, path: str) -> bool:
    new, old = file_at(repo, sha, path), file_at(repo, f"{sha}^", path)
    return new is not None and old is not None and callees.same_code(path, old, new)


def blamed_at(repo: Path, rev: str, path: str, lines: list[int], *flags: str) -> set[str]:
    """The commits that last changed `lines` of `path` at `rev` (`git blame -w -M` unless other flags are given)."""
    text = _git(repo, "blame", *(flags or ("-w", "-M")), "--porcelain",
                *[a for n in lines[:40] for a in ("-L", f"{n},{n}")], rev, "--", path)
    return {line.split()[0] for line in text.splitlines() if re.match(r"^[0-9a-f]{40} \d+ \d+", line)}


def new_tests(repo: Path, fix: str, test_files: list[str]) -> list[str]:
    """Node ids of the test functions the fix added or changed."""
    ids = []
    for path in test_files:
        source = file_at(repo, fix, path) or ""
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        changed = set()
        diff = _git(repo, "diff", "-U0", f"{fix}^", fix, "--", path)
        for hunk in re.finditer(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", diff, re.M):
            start, count = int(hunk.group(1)), int(hunk.group(2) if hunk.group(2) is not None else 1)
            changed |= set(range(start, start + max(count, 1)))
        for node in [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    if changed & set(range(item.lineno, (item.end_lineno or item.lineno) + 1)):
                        owner = node.name if isinstance(node, ast.ClassDef) else None
                        ids.append(f"{path}::{owner}::{item.name}" if owner else f"{path}::{item.name}")
    return list(dict.fromkeys(ids))


def _code_only(source: str) -> str | None:
    """The module's syntax tree without docstrings (None when it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def changes_code(repo: Path, fix: str, path: str) -> bool:
    """The fix changed code in `path`, not only its docstrings, comments or layout (and the file existed before)."""
    old, new = file_at(repo, f"{fix}^", path), file_at(repo, fix, path)
    if old is None or new is None:
        return False
    a, b = _code_only(old), _code_only(new)
    return a is None or b is None or a != b


def passes_at_fix(clone: Path, folder: Path, fix: str, test_id: str) -> bool:
    if not folder.exists():
        _git(clone, "worktree", "add", "-q", "--detach", str(folder), fix, check=True)
    return run_failing_test(folder, test_id, timeout=60) is None


def synthetic_trace(checkout: Path, source: str, line: int, tests: list[str]) -> list[tuple[str, int]] | None:
    """The fixed line as the innermost frame, called from the first new test that names its function."""
    text = (checkout / source).read_text(errors="replace")
    function = callees.enclosing_function(callees.python_definitions(text), line)
    if function is None:
        return None
    for test_id in tests:
        path = test_id.split("::", 1)[0]
        for number, test_line in enumerate((checkout / path).read_text(errors="replace").splitlines(), 1):
            if re.search(rf"\b{re.escape(function.name)}\s*\(", test_line):
                return [(source, line), (path, number)]
    return [(source, line)]


def categorize(repo: Path, frames: list[tuple[str, int]], fix: str, fixed: dict[str, list[int]],
               introducing: set[str], first_seen: datetime) -> str:
    path, line = frames[0]
    if is_test_path(path) or line not in fixed.get(path, []):
        source = (repo / path).read_text(errors="replace") if (repo / path).is_file() else ""
        function = callees.enclosing_function(callees.python_definitions(source), line)
        if is_test_path(path) or function is None or not any(function.start <= n <= function.end
                                                             for n in fixed.get(path, [])):
            return CALLER
    plain = blamed_at(repo, "HEAD", path, [line], "-s")
    if line in fixed.get(path, []) and plain and not plain & introducing:
        return REFORMAT  # plain blame names a later reformat or move of the fixed line, not the one that broke it
    dates = [datetime.fromisoformat(_git(repo, "show", "-s", "--format=%aI", sha).strip()) for sha in introducing]
    if dates and all(first_seen - d > WINDOW for d in dates):
        return OLD
    return PROJECT


def project_name(source: Path) -> str:
    """A checkout's name; for a bare mirror kept as `owner+name/repo`, the `owner+name` part."""
    source = source.resolve()
    return source.parent.name if source.name in ("repo", ".git") else source.name.removesuffix(".git")


def mine(source: Path, workdir: Path, *, max_fixes: int = 40, log: Callable[[str], None] | None = None) -> list[Case]:
    log = log or (lambda _message: None)
    clone = workdir / "clone"
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(source), str(clone)], check=True, capture_output=True)
    cases = []
    for n, (fix, sources, tests) in enumerate(bug_fixes(clone, max_fixes)):
        fixed = {p: fixed_lines(clone, fix, p) for p in sources}
        fixed = {p: lines for p, lines in fixed.items() if lines and changes_code(clone, fix, p)}
        introducing = set().union(*[introducing_commits(clone, fix, p, lines) for p, lines in fixed.items()]) \
            if fixed else set()
        if not introducing:
            continue
        checkout = workdir / f"bug{n:03d}"
        _git(clone, "worktree", "add", "-q", "--detach", str(checkout), f"{fix}^", check=True)
        _git(checkout, "checkout", fix, "--", *[t for t in tests if file_at(clone, fix, t) is not None])
        _git(checkout, "reset", "-q")  # the fix's tests stay uncommitted, as on the buggy checkout
        ids = new_tests(clone, fix, tests)
        trace, synthetic = None, False
        for test_id in ids[:3]:
            trace = run_failing_test(checkout, test_id, timeout=60)
            if trace is not None and not passes_at_fix(clone, workdir / f"fix{n:03d}", fix, test_id):
                trace = None  # it fails with the fix too (Python version, missing dependency): not this bug's trace
            if trace is not None:
                break
        if trace is not None:
            frames = [(p, line) for (p, line, _), inside in zip(trace.frames, trace.in_app) if inside]
            exception = trace.exception
        else:
            first = next(iter(fixed))
            frames, exception, synthetic = synthetic_trace(checkout, first, fixed[first][0], ids) or [], "", True
        if not frames:
            continue
        # committed (not authored) date: a rebased parent was often authored before commits it includes
        first_seen = datetime.fromisoformat(_git(clone, "show", "-s", "--format=%cI", f"{fix}^").strip()) + timedelta(hours=1)
        category = categorize(checkout, frames, fix, fixed, introducing, first_seen)
        name = f"{project_name(source)}:{fix[:8]}" + (" (synthetic trace)" if synthetic else "")
        log(f"  {name}: {category}; {exception[:60]!r}; frames {frames[:2]}; introduced by "
            f"{', '.join(sorted(s[:8] for s in introducing))}")
        cases.append(Case(name, category, checkout, frames, first_seen, introducing, None,
                          exception or "synthetic", [], synthetic))
    return cases
