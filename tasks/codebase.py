"""The checkout investigations search: which file a frame points at, and where names and messages occur.

Searches use ripgrep when it is installed and a pure-Python scan otherwise; both skip what
.gitignore excludes, binary files and files over a size limit, and both stop at a time bound.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .stacktrace import StackFrame, source_path

MAX_FILE_BYTES = 1_000_000
GENERIC_FUNCTIONS = {"main", "run", "call", "handle", "execute", "wrapper", "inner", "<lambda>", "<module>",
                     "__call__", "__init__", "invoke", "apply", "process", "get", "post", "next", "anonymous"}


class CodebaseError(Exception):
    """CODEBASE_PATH cannot be searched; says why."""


@dataclass
class Codebase:
    root: Path
    files: list[str]
    head: str | None
    branch: str | None
    shallow: bool
    by_name: dict[str, list[str]] = field(default_factory=dict)

    @property
    def detached(self) -> bool:
        return self.branch is None

    def __post_init__(self) -> None:
        index: dict[str, list[str]] = defaultdict(list)
        for path in self.files:
            index[path.rsplit("/", 1)[-1]].append(path)
        self.by_name = dict(index)

    def locate(self, frame: StackFrame) -> str | None:
        """The repository file a frame points at, by the longest matching path suffix; None if unsure."""
        guess = source_path(frame)
        if not guess:
            return None
        parts = guess.split("/")
        candidates = self.by_name.get(parts[-1], [])
        best, best_len, tied = None, 0, False
        for candidate in candidates:
            cparts = candidate.split("/")
            n = 0
            while n < min(len(parts), len(cparts)) and parts[-1 - n] == cparts[-1 - n]:
                n += 1
            if n > best_len:
                best, best_len, tied = candidate, n, False
            elif n == best_len:
                tied = True
        if best is None or (tied and best_len <= 1):
            return None  # only the file name matched, and several files have it
        return best


def _git(root: Path, *args: str, timeout: float = 10.0) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=timeout,
                          errors="replace")
    if done.returncode != 0:
        raise CodebaseError(done.stderr.strip().splitlines()[0] if done.stderr.strip() else f"git {args[0]} failed")
    return done.stdout


def _folder(path: Path | str | None) -> Path:
    """CODEBASE_PATH as a folder that exists; CodebaseError naming what is wrong otherwise."""
    if path is None:
        raise CodebaseError("no codebase configured (CODEBASE_PATH is not set)")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise CodebaseError(f"CODEBASE_PATH {root} is not a folder")
    return root


def codebase_head(path: Path | str | None) -> str:
    """The commit checked out at `path` (one git call); CodebaseError when it cannot be searched."""
    root = _folder(path)
    try:
        return _git(root, "rev-parse", "HEAD").strip()
    except CodebaseError as exc:
        raise CodebaseError(f"CODEBASE_PATH {root} is not a git checkout with commits ({exc})") from None


def open_codebase(path: Path | str | None) -> Codebase:
    root = _folder(path)
    try:
        facts = _git(root, "rev-parse", "--show-toplevel", "--is-shallow-repository").split("\n")
    except CodebaseError as exc:
        raise CodebaseError(f"CODEBASE_PATH {root} is not a git checkout ({exc})") from None
    root, shallow = Path(facts[0].strip()), facts[1].strip() == "true"
    files = [f for f in _git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0") if f]
    try:
        head = _git(root, "rev-parse", "HEAD").strip()
        branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD").strip()
        branch = None if branch == "HEAD" else branch  # "HEAD": detached
    except CodebaseError:
        head, branch = None, None  # a repository without commits
    return Codebase(root, files, head, branch, shallow)


# --------------------------------------------------------------------------- what to search for

_DYNAMIC = re.compile(r"""'[^']*'|"[^"]*"|\S*\d\S*|\S*[/\\]\S*|\b[0-9a-f]{8,}\b""")


def message_fragment(message: str, minimum: int = 12) -> str | None:
    """The longest piece of an error message that is likely literal in code (no numbers, quotes, paths)."""
    pieces = [p.strip(" :,;()[]{}=-") for p in _DYNAMIC.split(message or "")]
    pieces = [p for p in pieces if len(p) >= minimum and " " in p]
    return max(pieces, key=len) if pieces else None


def search_terms(frames: list[StackFrame], culprit: str, message: str) -> list[str]:
    terms: list[str] = []
    fragment = message_fragment(message)
    if fragment:
        terms.append(fragment)
    culprit_function = culprit.rsplit(" in ", 1)[-1].split("(", 1)[0].strip() if culprit else ""
    for name in [culprit_function] + [f.function or "" for f in frames]:
        name = name.rsplit(".", 1)[-1]
        if len(name) >= 4 and name not in GENERIC_FUNCTIONS and re.fullmatch(r"[A-Za-z_][\w$]*", name) and name not in terms:
            terms.append(name)
    return terms[:8]


# --------------------------------------------------------------------------- searching

@dataclass(frozen=True)
class CodeMatch:
    term: str
    path: str
    line: int
    text: str


@dataclass
class SearchResult:
    matches: list[CodeMatch]
    engine: str  # "ripgrep" or "python"
    complete: bool  # False when the time bound cut it short
    seconds: float


def ripgrep_binary() -> str | None:
    """`rg` on the PATH, else the one the `ripgrep` package installed beside this interpreter (a venv's bin/)."""
    found = shutil.which("rg")
    if found:
        return found
    beside = Path(sysconfig.get_path("scripts")) / "rg"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def search(codebase: Codebase, terms: list[str], *, per_term: int = 5, timeout: float = 3.0,
           use_ripgrep: bool | None = None) -> SearchResult:
    started = time.monotonic()
    if not terms:
        return SearchResult([], "none", True, 0.0)
    rg = ripgrep_binary() if use_ripgrep is not False else None
    if use_ripgrep and rg is None:
        raise CodebaseError("ripgrep (rg) is not installed")
    if rg:
        matches, complete = _ripgrep(rg, codebase.root, terms, timeout)
        engine = "ripgrep"
    else:
        matches, complete = _python_scan(codebase, terms, timeout)
        engine = "python"
    limited: list[CodeMatch] = []
    counts: dict[str, int] = defaultdict(int)
    for m in sorted(matches, key=lambda m: (terms.index(m.term), m.path, m.line)):
        if counts[m.term] < per_term:
            counts[m.term] += 1
            limited.append(m)
    return SearchResult(limited, engine, complete, time.monotonic() - started)


def _attribute(terms: list[str], path: str, line: int, text: str) -> list[CodeMatch]:
    return [CodeMatch(t, path, line, text.strip()[:200]) for t in terms if t in text]


def _ripgrep(rg: str, root: Path, terms: list[str], timeout: float) -> tuple[list[CodeMatch], bool]:
    args = [rg, "--fixed-strings", "--line-number", "--no-heading", "--color", "never", "--max-count", "20",
            "--max-filesize", "1M", "--max-columns", "400", "--null"]
    for term in terms:
        args += ["-e", term]
    try:
        done = subprocess.run(args + ["."], cwd=root, capture_output=True, timeout=timeout)
        output, complete = done.stdout, True
    except subprocess.TimeoutExpired as exc:
        output, complete = exc.stdout or b"", False
    matches = []
    for raw in output.decode("utf-8", "replace").splitlines():
        path, _, rest = raw.partition("\0")
        number, _, text = rest.partition(":")
        if number.isdigit():
            matches += _attribute(terms, path.removeprefix("./"), int(number), text)
    return matches, complete


def _python_scan(codebase: Codebase, terms: list[str], timeout: float) -> tuple[list[CodeMatch], bool]:
    deadline = time.monotonic() + timeout
    encoded = [t.encode() for t in terms]
    matches = []
    for path in codebase.files:  # from git: what .gitignore excludes is not here
        if time.monotonic() > deadline:
            return matches, False
        full = codebase.root / path
        try:
            if not full.is_file() or full.stat().st_size > MAX_FILE_BYTES:
                continue
            data = full.read_bytes()
        except OSError:
            continue
        if b"\0" in data[:8192] or not any(t in data for t in encoded):
            continue
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            matches += _attribute(terms, path, number, line)
    return matches, True
