"""Runbooks: markdown files with YAML front matter, and the one matcher that links issues to them.

Both `runbook_sweep` and `investigate_issue` use `RunbookMatcher`. Everything here is pure: it reads
files and matches text, and touches no server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import frontmatter
import re2
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

FieldName = Literal["title", "culprit", "message", "exception_type", "tags", "any"]
REQUIRED_SECTIONS = ("Symptoms", "Quick fix", "Diagnosis", "Fix", "Prevention")
FLAGS = re.IGNORECASE | re.MULTILINE


def _re2_options() -> "re2.Options":
    options = re2.Options()
    options.case_sensitive = False
    return options


def _re2(pattern: str):
    """Patterns run on RE2: linear time whatever the error text, so no pattern can hang a sweep."""
    return re2.compile(pattern, _re2_options())


class RunbookMeta(BaseModel):
    """The front matter of a runbook. Unknown fields are errors: a typo must not silently disable a rule."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3)
    patterns: list[str] = Field(min_length=1)
    fields: list[FieldName] = ["title", "message", "exception_type"]
    exclude: list[str] = []
    priority: int = Field(50, ge=0, le=100)
    auto_link: bool = True
    component: str | None = None

    @field_validator("patterns", "exclude")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern, FLAGS)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
            try:
                _re2(pattern)
            except re2.error as exc:
                reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
                raise ValueError(f"regular expression {pattern!r} needs backtracking, which the matcher does "
                                 f"not run (no lookarounds or backreferences): {reason}") from None
        return patterns


@dataclass(frozen=True)
class Runbook:
    id: str
    path: Path
    meta: RunbookMeta
    sections: dict[str, str]

    @property
    def title(self) -> str:
        return self.meta.title

    @cached_property
    def compiled_exclude(self) -> list:
        return [_re2(p) for p in self.meta.exclude]

    @property
    def quick_fix(self) -> str:
        return self.sections.get("Quick fix", "").strip()


@dataclass(frozen=True)
class RunbookError:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path.name}: {self.reason}"


def split_sections(markdown: str) -> dict[str, str]:
    """`## Heading` → its text, in order."""
    sections: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and line.startswith("## "):
            if current is not None:
                sections[current] = "\n".join(lines).strip()
            current, lines = line[3:].strip(), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        sections[current] = "\n".join(lines).strip()
    return sections


def parse_runbook(path: Path) -> Runbook:
    """Parse one file; raises ValueError with the reason when it is malformed."""
    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"front matter is not valid YAML: {str(exc).splitlines()[0]}") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    if not post.metadata:
        raise ValueError("no YAML front matter (--- ... ---) at the top")
    try:
        meta = RunbookMeta.model_validate(post.metadata)
    except ValidationError as exc:
        reasons = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            reasons.append(f"unknown field {where!r}" if err["type"] == "extra_forbidden" else f"{where}: {msg}")
        raise ValueError("; ".join(reasons)) from None
    sections = split_sections(post.content)
    missing = [s for s in REQUIRED_SECTIONS if not sections.get(s)]
    if missing:
        raise ValueError(f"missing section(s): {', '.join(missing)}")
    return Runbook(path.stem, path, meta, sections)


def load_runbooks(directory: Path) -> tuple[list[Runbook], list[RunbookError]]:
    """Every `*.md` except README.md; a malformed file is reported and the others still load."""
    books, errors = [], []
    for path in sorted(Path(directory).glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        try:
            books.append(parse_runbook(path))
        except ValueError as exc:
            errors.append(RunbookError(path, str(exc)))
    return books, errors


# --------------------------------------------------------------------------- matching

@dataclass
class IssueFacts:
    """The text of an issue that runbooks match against. Tags are loaded only if a runbook needs them."""

    title: str
    culprit: str = ""
    message: str = ""
    exception_type: str = ""
    tags: Mapping[str, str] | None = None
    load_tags: Callable[[], Mapping[str, str]] | None = None

    def text(self, name: str) -> str:
        if name == "tags":
            if self.tags is None and self.load_tags is not None:
                self.tags = self.load_tags()
            return " ".join(f"{k}:{v}" for k, v in (self.tags or {}).items())
        if name == "any":
            return " | ".join(self.text(n) for n in ("title", "culprit", "message", "exception_type"))
        return getattr(self, name) or ""

    @classmethod
    def from_issue(cls, issue, load_tags: Callable[[], Mapping[str, str]] | None = None) -> "IssueFacts":
        """From a GlitchTip issue (list or detail shape)."""
        return cls(title=issue.title, culprit=issue.culprit or "", message=issue.exception_value,
                   exception_type=issue.exception_type, load_tags=load_tags)


@dataclass(frozen=True)
class Hit:
    runbook: Runbook
    field: str
    pattern: str


@dataclass(frozen=True)
class MatchResult:
    runbook: Runbook | None
    hit: Hit | None
    reason: str  # "matched", "no match", "tie between a, b", "excluded by ..."
    candidates: tuple[Hit, ...] = ()
    vetoed: tuple[str, ...] = ()

    @property
    def matched(self) -> bool:
        return self.runbook is not None


_MATCHERS: dict[tuple, tuple["RunbookMatcher", list[RunbookError]]] = {}
TEXT_FIELDS = ("title", "culprit", "message", "exception_type", "tags", "any")


@dataclass
class RunbookMatcher:
    """Patterns compiled once; highest priority wins, `exclude` vetoes, a tie at the top links nothing.

    Per field, one RE2 set holds every pattern that applies to it, so one linear pass over a field's
    text finds every firing pattern of every runbook at once.
    """

    runbooks: list[Runbook]
    _sets: dict[str, tuple[object, list[tuple[int, int]]]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for name in TEXT_FIELDS:
            entries = [(b, p) for b, rb in enumerate(self.runbooks) if name in rb.meta.fields
                       for p in range(len(rb.meta.patterns))]
            if not entries:
                continue
            pattern_set = re2.Set.SearchSet(_re2_options())
            for b, p in entries:
                pattern_set.Add(self.runbooks[b].meta.patterns[p])
            pattern_set.Compile()
            self._sets[name] = (pattern_set, entries)

    @classmethod
    def from_directory(cls, directory: Path) -> tuple["RunbookMatcher", list[RunbookError]]:
        books, errors = load_runbooks(directory)
        return cls(books), errors

    @classmethod
    def cached(cls, directory: Path) -> tuple["RunbookMatcher", list[RunbookError]]:
        """The matcher for `directory`, rebuilt only when a runbook file is added, removed or changed."""
        directory = Path(directory)
        signature = tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in directory.glob("*.md")))
        key = (str(directory.resolve()), signature)
        if key not in _MATCHERS:
            _MATCHERS.clear()
            _MATCHERS[key] = cls.from_directory(directory)
        return _MATCHERS[key]

    def hits(self, facts: IssueFacts) -> list[Hit]:
        """Each runbook's first firing pattern: its fields in order, then its patterns in order."""
        fired: dict[str, dict[int, int]] = {}  # field -> runbook index -> lowest pattern index
        for name, (pattern_set, entries) in self._sets.items():
            text = facts.text(name)  # tags are loaded here, and only when some runbook reads them
            if not text:
                continue
            for i in pattern_set.Match(text) or ():
                b, p = entries[i]
                best = fired.setdefault(name, {})
                best[b] = min(p, best.get(b, p))
        found = []
        for b, rb in enumerate(self.runbooks):
            for name in rb.meta.fields:
                if b in fired.get(name, {}):
                    found.append(Hit(rb, name, rb.meta.patterns[fired[name][b]]))
                    break
        return found

    @staticmethod
    def _veto(rb: Runbook, facts: IssueFacts) -> str | None:
        if not rb.compiled_exclude:
            return None
        text = facts.text("any")
        for pattern, compiled in zip(rb.meta.exclude, rb.compiled_exclude):
            if compiled.search(text):
                return pattern
        return None

    def match(self, facts: IssueFacts) -> MatchResult:
        hits = self.hits(facts)
        if not hits:
            return MatchResult(None, None, "no match")
        kept, vetoed = [], []
        for hit in hits:
            veto = self._veto(hit.runbook, facts)
            if veto:
                vetoed.append(f"{hit.runbook.id} (exclude {veto!r})")
            else:
                kept.append(hit)
        if not kept:
            return MatchResult(None, None, "excluded: " + ", ".join(vetoed), tuple(hits), tuple(vetoed))
        best = max(h.runbook.meta.priority for h in kept)
        top = [h for h in kept if h.runbook.meta.priority == best]
        if len(top) > 1:
            names = ", ".join(h.runbook.id for h in top)
            return MatchResult(None, None, f"tie between {names} at priority {best}", tuple(kept), tuple(vetoed))
        return MatchResult(top[0].runbook, top[0], "matched", tuple(kept), tuple(vetoed))

    def match_text(self, text: str) -> MatchResult:
        """Free text (`triage runbooks test "..."`) stands for title and message at once."""
        exception_type = text.split(":", 1)[0].strip() if ":" in text else ""
        return self.match(IssueFacts(title=text, message=text, exception_type=exception_type))

    def get(self, runbook_id: str) -> Runbook | None:
        return next((rb for rb in self.runbooks if rb.id == runbook_id), None)


def runbook_link(rb: Runbook, base_url: str | None) -> str:
    """Where people read the runbook: `RUNBOOKS_BASE_URL` + its file name, else its path in the repository."""
    if not base_url:
        return f"runbooks/{rb.path.name}"
    return f"{base_url.rstrip('/')}/{rb.path.name}"
