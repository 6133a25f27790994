"""The draft pull request's text: the notes file carries the issue's facts and refers back to it."""

from tasks.telemetry_draft_pr import claim_key, notes_branch, notes_markdown, notes_path, pull_body, pull_title
from tasks.telemetry_triage import GroupFacts, marker

FACTS = GroupFacts(fingerprint="ab" * 32, project_id="7", title="TypeError: x is undefined", exception_type="TypeError",
                   level="error", count=12, first_seen="2026-12-01T10:00:00+00:00",
                   last_seen="2026-12-01T11:00:00+00:00", sample={"stack": "at f (app.js:1:2)", "url": "/cart"},
                   correlation_ids=("c-1",))


def test_names_are_short_and_stable_per_fingerprint():
    assert notes_branch(FACTS.fingerprint) == "triage/telemetry-abababababab"
    assert notes_path(FACTS.fingerprint) == "triage-notes/telemetry-abababababab.md"
    assert claim_key(FACTS.fingerprint) == f"draft-pr:telemetry:{FACTS.fingerprint}"


def test_notes_carry_facts_remediation_and_the_issue():
    notes = notes_markdown(FACTS, "Restart the widget.", 42)
    for needle in ("# Triage notes: TypeError: x is undefined", "Triage of #42.", "| count | 12 |", "app.js:1:2",
                   "`c-1`", "Restart the widget.", marker(FACTS.fingerprint)):
        assert needle in notes, needle
    assert "Triage of #" not in notes_markdown(FACTS, "r", None)


def test_pull_body_refers_to_the_issue_only_when_there_is_one():
    assert "Refs #42" in pull_body(FACTS, 42) and "Refs #" not in pull_body(FACTS, None)
    assert pull_title(FACTS).startswith("[telemetry] Triage notes: TypeError")
    assert len(pull_title(GroupFacts(**{**FACTS.__dict__, "title": "x" * 400}))) == 256
