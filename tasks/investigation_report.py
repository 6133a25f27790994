"""The investigation as one markdown comment a person reads in GlitchTip. Pure: data in, text out."""

from __future__ import annotations

from models.investigations import Investigation

FOOTER = "Automated investigation by triageflow"


def _cell(text: str, limit: int = 120) -> str:
    text = " ".join((text or "").split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def identity(inv: Investigation) -> str:
    """The short id when the server gives one (GlitchTip 4.2.1 sends it empty), else the issue number."""
    return f"`{inv.short_id}`" if inv.short_id else f"issue {inv.issue_id}"


def summary_line(inv: Investigation) -> str:
    where = inv.frames[0].location if inv.frames else (inv.culprit or "no stack trace")
    line = f"**{_cell(inv.title, 200)}** — fails at `{where}`"
    if inv.suspects:
        s = inv.suspects[0]
        line += (f"; most likely introduced by `{s.commit.short}` \"{_cell(s.commit.subject, 80)}\" "
                 f"({s.commit.author}), {s.before_first_seen} before it was first seen ({s.confidence} confidence)")
    elif inv.similar:
        line += f"; looks like #{inv.similar[0].issue_id} (resolved before)"
    return line + "."


def render(inv: Investigation, *, excerpt_limit: int = 1000) -> str:
    out = [
        f"### Automated investigation: {_cell(inv.title, 200)}",
        f"{identity(inv)} · {inv.level} · {inv.events} events · project {inv.project} · "
        f"first seen {inv.first_seen:%Y-%m-%d %H:%M} UTC · last seen {inv.last_seen:%Y-%m-%d %H:%M} UTC",
        "",
        summary_line(inv),
    ]
    if inv.frames:
        out += ["", "#### Where it fails (in-app frames, innermost first)"]
        for n, frame in enumerate(inv.frames[:8], 1):
            mapped = "" if frame.repo_path else " _(not found in the codebase)_"
            out.append(f"{n}. `{frame.location}`{mapped}")
            if frame.context_line:
                out.append(f"   `{_cell(frame.context_line.strip(), 160).replace('`', '')}`")
        if inv.stack_excerpt:
            excerpt = inv.stack_excerpt[:excerpt_limit]
            out += ["", "<details><summary>Stack excerpt</summary>", "", "```", excerpt, "```", "</details>"]
    if inv.files:
        out += ["", "#### Related files", "| file | last change |", "| --- | --- |"]
        for f in inv.files:
            change = (f"`{f.last_change.short}` {_cell(f.last_change.subject, 70)} — {f.last_change.author}, "
                      f"{f.last_change.date:%Y-%m-%d}") if f.last_change else "—"
            out.append(f"| `{f.path}` | {change} |")
    if inv.suspects:
        out += ["", "#### Suspect commits", "| commit | subject | author | landed | why | confidence |",
                "| --- | --- | --- | --- | --- | --- |"]
        for s in inv.suspects:
            out.append(f"| `{s.commit.short}` | {_cell(s.commit.subject, 80)} | {s.commit.author} | "
                       f"{s.commit.date:%Y-%m-%d %H:%M}, {s.before_first_seen} before first seen | {_cell(s.reason, 200)} | "
                       f"{s.confidence} |")
    if inv.suspect_note:
        out += ([] if inv.suspects else ["", "#### Suspect commits"]) + ["", f"_{inv.suspect_note[0].upper()}{inv.suspect_note[1:]}._"]
    if inv.recent_commits:
        out += ["", "#### Recent commits on these files"]
        out += [f"- `{c.short}` {c.date:%Y-%m-%d} {_cell(c.subject, 90)} ({c.author})" for c in inv.recent_commits[:8]]
    if inv.code_matches:
        out += ["", "#### Where the names and the message occur"]
        by_term: dict[str, list[str]] = {}
        for m in inv.code_matches:
            by_term.setdefault(m.term, []).append(f"`{m.path}:{m.line}`")
        out += [f"- `{_cell(term, 60)}`: {', '.join(places)}" for term, places in by_term.items()]
    out += ["", "#### Similar resolved issues"]
    if inv.similar:
        out += ["| issue | similarity | status | what was done |", "| --- | --- | --- | --- |"]
        for s in inv.similar:
            done = _cell(s.resolution[0], 200) if s.resolution else "no comment"
            out.append(f"| [#{s.issue_id} {_cell(s.title, 70)}]({s.link}) | {s.score:.0f}% | {s.status} | {done} |")
    else:
        out.append("None found.")
    out += ["", "#### Runbook"]
    if inv.runbook:
        out.append(f"[{inv.runbook.title}]({inv.runbook.link}) — pattern `{inv.runbook.pattern}` on "
                   f"{inv.runbook.field.replace('_', ' ')}.")
    else:
        out.append("No runbook matches.")
    if inv.limitations:
        out += ["", "#### Not checked"] + [f"- {note}" for note in inv.limitations]
    out += ["", "---",
            f"_{FOOTER} in {inv.seconds:.1f} s: it gathers evidence, the decision is yours. "
            f"Run again with `triage investigate {inv.issue_id} --force`._"]
    return "\n".join(out)
