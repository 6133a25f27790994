"""Runbooks: loading, malformed files, the matcher's rules, and precision/recall on a labelled corpus."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tasks.runbooks import IssueFacts, RunbookMatcher, load_runbooks, parse_runbook, runbook_link

from .runbook_corpus import CORPUS

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"


@pytest.fixture(scope="module")
def matcher() -> RunbookMatcher:
    matcher, errors = RunbookMatcher.from_directory(RUNBOOKS)
    assert errors == []
    return matcher


def predict(matcher, entry):
    if isinstance(entry, dict):
        result = matcher.match(IssueFacts(**entry))
    else:
        result = matcher.match_text(entry)
    return result.runbook.id if result.runbook else None


def test_corpus_is_large_and_half_lookalikes():
    assert len(CORPUS) >= 80
    negatives = sum(1 for _, expected in CORPUS if expected is None)
    assert negatives >= len(CORPUS) * 0.4


def test_precision_and_recall_on_the_labelled_corpus(matcher):
    tp = fp = fn = 0
    wrong = []
    for entry, expected in CORPUS:
        got = predict(matcher, entry)
        if got is not None and got == expected:
            tp += 1
        elif got is not None:
            fp += 1
            wrong.append(f"FP {entry!r}: got {got}, expected {expected}")
        if expected is not None and got != expected:
            fn += 1
            wrong.append(f"FN {entry!r}: got {got}, expected {expected}")
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    print(f"runbook matching: precision {precision:.3f}, recall {recall:.3f} on {len(CORPUS)} entries")
    assert precision >= 0.95, "\n".join(wrong)
    assert recall >= 0.9, "\n".join(wrong)


def test_starter_runbooks_cover_the_common_production_errors(matcher):
    ids = {rb.id for rb in matcher.runbooks}
    assert len(ids) >= 8
    assert {"database-connection", "redis-connection-refused", "module-not-found", "upstream-rate-limited",
            "upstream-timeout", "expired-session-or-token", "out-of-memory", "disk-full"} <= ids
    for rb in matcher.runbooks:
        assert "```" in rb.sections["Quick fix"] or "`" in rb.sections["Quick fix"], rb.id  # real commands


def test_readme_index_lists_exactly_the_runbooks(matcher):
    readme = (RUNBOOKS / "README.md").read_text()
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", readme))
    assert linked == {rb.path.name for rb in matcher.runbooks}
    for rb in matcher.runbooks:
        assert rb.title in readme, rb.id


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


BODY = "\n".join(f"## {s}\ntext `cmd`\n" for s in ("Symptoms", "Quick fix", "Diagnosis", "Fix", "Prevention"))


@pytest.mark.parametrize("name,front,reason", [
    ("bad-yaml.md", "title: x\npatterns: [unclosed\n", "front matter is not valid YAML"),
    ("bad-regex.md", "title: Bad regex\npatterns: ['(unclosed']\n", "bad regular expression '(unclosed'"),
    ("unknown.md", "title: Typo\npatterns: ['x']\npatern: ['y']\n", "unknown field 'patern'"),
    ("no-patterns.md", "title: Nothing\npatterns: []\n", "patterns"),
    ("bad-field.md", "title: Field\npatterns: ['x']\nfields: [stacktrace]\n", "fields.0"),
    ("lookahead.md", "title: Backtracking\npatterns: ['timeout(?! setting)']\n", "needs backtracking"),
])
def test_malformed_runbook_is_reported_and_the_others_still_load(tmp_path, name, front, reason):
    write(tmp_path, "good.md", f"---\ntitle: Good one\npatterns: ['boom']\n---\n{BODY}")
    write(tmp_path, name, f"---\n{front}---\n{BODY}")
    books, errors = load_runbooks(tmp_path)
    assert [b.id for b in books] == ["good"]
    assert len(errors) == 1 and errors[0].path.name == name and reason in errors[0].reason
    assert str(errors[0]).startswith(f"{name}: ")


def test_missing_sections_are_reported(tmp_path):
    path = write(tmp_path, "thin.md", "---\ntitle: Thin\npatterns: ['x']\n---\n## Symptoms\nsomething\n")
    with pytest.raises(ValueError, match="missing section\\(s\\): Quick fix, Diagnosis, Fix, Prevention"):
        parse_runbook(path)


def make(tmp_path, rid, patterns, priority=50, exclude=(), fields=None):
    front = f"title: {rid} runbook\npatterns: {list(patterns)!r}\npriority: {priority}\nexclude: {list(exclude)!r}\n"
    if fields:
        front += f"fields: {fields!r}\n"
    write(tmp_path, f"{rid}.md", f"---\n{front}---\n{BODY}")


def test_highest_priority_wins(tmp_path):
    make(tmp_path, "generic", ["timeout"], priority=30)
    make(tmp_path, "specific", ["timeout to postgres"], priority=80)
    matcher, _ = RunbookMatcher.from_directory(tmp_path)
    result = matcher.match_text("Connection timeout to PostgreSQL")
    assert result.runbook.id == "specific" and {h.runbook.id for h in result.candidates} == {"generic", "specific"}


def test_a_tie_at_the_top_links_nothing(tmp_path):
    make(tmp_path, "a", ["refused"], priority=60)
    make(tmp_path, "b", ["connection refused"], priority=60)
    matcher, _ = RunbookMatcher.from_directory(tmp_path)
    result = matcher.match_text("Connection refused")
    assert result.runbook is None and result.reason == "tie between a, b at priority 60"


def test_exclude_vetoes(tmp_path):
    make(tmp_path, "timeouts", ["timed out"], exclude=["postgres"])
    matcher, _ = RunbookMatcher.from_directory(tmp_path)
    assert matcher.match_text("upstream timed out").runbook.id == "timeouts"
    vetoed = matcher.match_text("postgres timed out")
    assert vetoed.runbook is None and vetoed.reason.startswith("excluded: timeouts")


def test_patterns_apply_only_to_their_fields(tmp_path):
    make(tmp_path, "cache", ["redis"], fields=["culprit"])
    matcher, _ = RunbookMatcher.from_directory(tmp_path)
    assert matcher.match(IssueFacts(title="redis down", culprit="app.web in view")).runbook is None
    assert matcher.match(IssueFacts(title="down", culprit="app.cache.redis in get")).runbook.id == "cache"


def test_tag_patterns_load_tags_only_when_needed(tmp_path):
    make(tmp_path, "db-tag", ["component:database"], fields=["tags"])
    make(tmp_path, "text", ["boom"])
    matcher, _ = RunbookMatcher.from_directory(tmp_path)
    loads = []

    def loader():
        loads.append(1)
        return {"component": "database"}

    assert matcher.match(IssueFacts(title="something", load_tags=loader)).runbook.id == "db-tag"
    assert loads == [1]


def test_link_uses_the_base_url(matcher):
    rb = matcher.get("disk-full")
    assert runbook_link(rb, None) == "runbooks/disk-full.md"
    assert runbook_link(rb, "https://git.example.com/acme/ops/blob/main/runbooks/") == \
        "https://git.example.com/acme/ops/blob/main/runbooks/disk-full.md"
