"""Gathering the evidence for suspect commits from a checkout: blame of the stack's lines (through
reformats and moves), the functions those lines call, the files' recent commits and the last good release.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from . import callees
from .git_history import (Blame, CommitInfo, _run, blame_ranges, commits_touching, file_at, moved_from, recent_commits,
                          release_commits)
from .suspects import CALLEE, FILE, FUNCTION, LINE, Evidence, Suspect, is_test_path, rank_suspects

MAX_FRAMES = 8
CALLEE_FRAMES = 2  # how many innermost frames have their calls followed
MAX_CALLEES = 4  # per frame
MAX_TEST_CALLEES = 8  # per test frame: everything the test called up to its failing line
MAX_DEFINITIONS = 3  # a name defined in more places than this is too ambiguous to follow
MAX_REFORMAT_PASSES = 3


@dataclass
class SuspectFindings:
    suspects: list[Suspect]
    release: str | None = None  # "v1.4.1..v1.4.2" when the last good release was found
    skipped_reformats: list[CommitInfo] = field(default_factory=list)
    boundary: bool = False  # blame reached the start of a shallow history: older suspects are not visible


def _read(root: Path, path: str) -> str | None:
    try:
        return (root / path).read_text(errors="replace")
    except OSError:
        return None


class _Reformats:
    """Which (commit, file) changes are layout only: decided once per pair from the file before and after."""

    def __init__(self, root: Path):
        self.root, self.known = root, {}

    def cosmetic(self, blame: Blame) -> bool:
        key = (blame.commit.sha, blame.source_path or blame.path)
        if key not in self.known:
            new = file_at(self.root, key[0], key[1])
            old = file_at(self.root, f"{key[0]}^", key[1]) if new is not None else None
            self.known[key] = old is not None and callees.same_code(key[1], old, new)
        return self.known[key]


def _blame_through_reformats(root: Path, path: str, ranges: list[tuple[int, int]], reformats: _Reformats,
                             skipped: dict[str, CommitInfo], *, follow_moves: bool = True) -> list[Blame]:
    """Blame that looks through layout-only commits (ignored, blamed again) and small moves (followed to
    where the lines came from, blamed there at the parent).

    Over a function body only the commits owning a good share of its lines are checked for layout (a
    reformat rewrites most of what it touches), and moves are not followed: each check costs git calls.
    """
    ignore: tuple[str, ...] = ()
    found = blame_ranges(root, path, ranges)
    for _ in range(MAX_REFORMAT_PASSES):
        owned: dict[str, int] = {}
        for b in found:
            owned[b.commit.sha] = owned.get(b.commit.sha, 0) + 1
        enough = max(1, len(found) * 3 // 10)
        layout = [b for b in found if owned[b.commit.sha] >= enough and reformats.cosmetic(b)]
        if not layout:
            break
        for b in layout:
            skipped[b.commit.sha] = b.commit
        ignore += tuple(dict.fromkeys(b.commit.sha for b in layout))
        found = blame_ranges(root, path, ranges, ignore_revs=ignore)
    return [_follow_move(root, b, skipped) for b in found] if follow_moves else found


def _follow_move(root: Path, blame: Blame, skipped: dict[str, CommitInfo], depth: int = 0) -> Blame:
    origin = moved_from(root, blame.commit.sha, blame.text, blame.source_path or blame.path) if depth < 3 else None
    if origin is None:
        return blame
    earlier = blame_ranges(root, origin[0], [(origin[1], origin[1])], rev=f"{blame.commit.sha}^")
    if not earlier:
        return blame
    skipped[blame.commit.sha] = blame.commit
    moved = earlier[0]
    return _follow_move(root, Blame(blame.path, blame.line, moved.commit, moved.boundary, moved.source_path,
                                    blame.text), skipped, depth + 1)


def surrounding_code(root: Path, path: str, line: int) -> tuple[str, list[tuple[int, int, str | None]]] | None:
    """The function around a Python frame's line and the module-level names it reads: (function name,
    [(start, end, name or None for the function's own lines)])."""
    if not callees.is_python(path):
        return None
    source = _read(root, path)
    function = callees.enclosing_function(callees.python_definitions(source or ""), line) if source else None
    if function is None:
        return None
    ranges: list[tuple[int, int, str | None]] = [(function.start, function.end, None)]
    ranges += [(a, b, name) for name, a, b in callees.module_names_read(source, function)[:8]]
    return function.name, ranges


def resolve_callees(root: Path, files: set[str], path: str, line: int) -> list[tuple[str, callees.Definition, str]]:
    """(called name, its definition, the definition's file) for the calls on `line` of `path`, nearest first:
    the same file (the enclosing class first for self./this. calls), then what the file imports, then one
    `git grep` over the checkout when the name is defined in few enough places."""
    source = _read(root, path)
    if source is None:
        return []
    defined = callees.python_definitions(source) if callees.is_python(path) else []
    test = is_test_path(path)
    first = None
    if test:  # a failing test exercises what it called before the failing line too
        function = callees.enclosing_function(defined, line)
        first = function.start if function else None
    limit = MAX_TEST_CALLEES if test else MAX_CALLEES
    calls = callees.calls_on_line(path, source, line, first)[: limit * 3]
    if not calls:
        return []
    names = {c.name for c in calls}
    here = callees.definitions(path, source, names)
    owner = callees.enclosing_class(defined, line) if defined else None
    imported = callees.imports(path, source)
    resolved: list[tuple[str, callees.Definition, str]] = []
    unresolved: list[str] = []
    for call in calls:
        local = [d for d in here if d.name == call.name and d.start != line and not (test and is_test_path(path)
                                                                                       and d.name.startswith("test"))]
        if call.receiver in ("self", "cls", "this") and owner:
            local = [d for d in local if d.owner == owner] or local
        if local:
            resolved += [(call.name, d, path) for d in local[:1]]
            continue
        module = imported.get(call.name)
        target = _module_file(files, module, path) if module else None
        if target:
            text = _read(root, target) or ""
            defs = callees.definitions(target, text, {call.name})
            if defs:
                resolved.append((call.name, defs[0], target))
                continue
        unresolved.append(call.name)
    if unresolved:
        resolved += _grep_definitions(root, unresolved, path)
    if test:  # the test's own helpers are not the code under test
        resolved = [r for r in resolved if not is_test_path(r[2])]
    order = {c.name: n for n, c in enumerate(calls)}
    resolved.sort(key=lambda r: order.get(r[0], len(order)))
    return resolved[:limit]


def _module_file(files: set[str], module: str, importer: str) -> str | None:
    if callees.is_js(importer):
        for suffix in callees.JS_SUFFIXES + tuple(f"/index{s}" for s in callees.JS_SUFFIXES):
            if module + suffix in files:
                return module + suffix
        return None
    for candidate in (f"{module}.py", f"{module}/__init__.py"):
        for path in files:
            if path == candidate or path.endswith("/" + candidate):
                return path
    return None


def _grep_definitions(root: Path, names: list[str], importer: str) -> list[tuple[str, callees.Definition, str]]:
    alternatives = "|".join(re.escape(n) for n in names)
    if callees.is_python(importer):
        pattern, globs = rf"^\s*((async\s+)?def|class)\s+({alternatives})\b", ["*.py"]
    else:
        pattern = rf"(function\s*\*?\s*({alternatives})\b|({alternatives})\s*[:=]\s*(async\s*)?(function|\()|^\s*({alternatives})\s*\()"
        globs = [f"*{s}" for s in callees.JS_SUFFIXES]
    text = _run(root, "grep", "-n", "-E", "-e", pattern, "--", *globs) or ""
    hits: dict[str, list[str]] = {}
    for entry in text.splitlines():
        path, _, rest = entry.partition(":")
        if is_test_path(path) and not is_test_path(importer):
            continue  # code under test is not defined in tests
        for name in names:
            if re.search(rf"\b{re.escape(name)}\b", rest.split(":", 1)[-1]):
                hits.setdefault(name, [])
                if path not in hits[name]:
                    hits[name].append(path)
    out = []
    for name in names:
        paths = hits.get(name, [])
        if not paths or len(paths) > MAX_DEFINITIONS:
            continue
        for path in paths:
            defs = callees.definitions(path, _read(root, path) or "", {name})
            out += [(name, d, path) for d in defs[:1]]
    return out


def find_suspects(root: Path, frames: list[tuple[str, int | None]], first_seen: datetime, *,
                  files: set[str] | None = None, release: str | None = None,
                  window: timedelta = timedelta(days=30), limit: int = 5) -> SuspectFindings:
    """Suspect commits for in-app frames given as (repository path, line), innermost first."""
    frames = frames[:MAX_FRAMES]
    if files is None:
        files = set((_run(root, "ls-files") or "").splitlines())
    reformats = _Reformats(root)
    skipped: dict[str, CommitInfo] = {}
    found: dict[str, tuple[CommitInfo, list[Evidence]]] = {}

    def add(commit: CommitInfo, evidence: Evidence) -> None:
        found.setdefault(commit.sha, (commit, []))[1].append(evidence)

    paths = list(dict.fromkeys(p for p, _ in frames))
    tests = {p: is_test_path(p) for p in paths}
    code_ranks = [rank for rank, (p, _) in enumerate(frames) if not tests[p]]
    followed = [(rank, p, line) for rank, (p, line) in enumerate(frames[:CALLEE_FRAMES]) if line]
    around = [surrounding_code(root, p, line) for _, p, line in followed]
    with ThreadPoolExecutor(max_workers=4) as pool:  # every git call is a process: all of them side by side
        resolved_f = [pool.submit(resolve_callees, root, files, p, line) for _, p, line in followed]
        touching_f = pool.submit(commits_touching, root, paths, first_seen - window, first_seen)
        release_f = pool.submit(release_commits, root, release)
        blames_f = [pool.submit(_blame_through_reformats, root, p, [(line, line)], reformats, skipped) if line else None
                    for p, line in frames]
        around_f = [pool.submit(_blame_through_reformats, root, p, [(a, b) for a, b, _ in found[1]], reformats, skipped,
                                follow_moves=False) if found else None for (_, p, _), found in zip(followed, around)]
        jobs = [(rank, name, d, target, line) for (rank, p, line), future in zip(followed, resolved_f)
                for name, d, target in future.result()]
        bodies_f = [pool.submit(_blame_through_reformats, root, j[3], [(j[2].start, j[2].end)], reformats, skipped,
                                follow_moves=False) for j in jobs]
        blames = [f.result() if f else [] for f in blames_f]
        around_blames = [f.result() if f else [] for f in around_f]
        bodies = [f.result() for f in bodies_f]
        touching = touching_f.result()
        release_found = release_f.result()
    for rank, ((path, line), found_blames) in enumerate(zip(frames, blames)):
        for b in found_blames:
            add(b.commit, Evidence(LINE, path, line, rank, tests[path]))
    for (rank, path, line), found_around, blamed in zip(followed, around, around_blames):
        if not found_around:
            continue
        function, ranges = found_around
        for sha in dict.fromkeys(b.commit.sha for b in blamed if b.line != line):
            hits = [b for b in blamed if b.commit.sha == sha and b.line != line]
            names = [name for a, z, name in ranges for b in hits if name and a <= b.line <= z]
            add(hits[0].commit, Evidence(FUNCTION, path, line, rank, tests[path], function,
                                         names[0] if names else None))
    for (rank, name, d, target, line), body in zip(jobs, bodies):
        calling = frames[rank][0]
        for sha in dict.fromkeys(b.commit.sha for b in body):
            commit = next(b.commit for b in body if b.commit.sha == sha)
            add(commit, Evidence(CALLEE, target, line, rank, tests[calling], name))
    for path, commits in touching.items():
        rank = next(r for r, (p, _) in enumerate(frames) if p == path)
        for commit in commits:
            if (commit.sha, path) in reformats.known and reformats.known[(commit.sha, path)]:
                continue  # a layout-only change of this file
            add(commit, Evidence(FILE, path, None, rank, tests[path]))
    for sha in skipped:  # a reformat blame looked through is no suspect for merely touching the file
        if sha in found and all(e.kind == FILE for e in found[sha][1]):
            del found[sha]
    if not found and paths:  # nothing blamed or followed (uncommitted lines): the files' newest commits, any age
        for path in paths:
            rank = next(r for r, (p, _) in enumerate(frames) if p == path)
            for commit in recent_commits(root, path, limit=3, until=first_seen):
                add(commit, Evidence(FILE, path, None, rank, tests[path]))
    suspects = rank_suspects(found, first_seen, window=window,
                             release_shas=release_found[1] if release_found else None,
                             first_code_rank=code_ranks[0] if code_ranks else None, limit=limit)
    return SuspectFindings(suspects, release_found[0] if release_found else None, list(skipped.values()),
                           any(b.boundary for found_blames in blames for b in found_blames))
