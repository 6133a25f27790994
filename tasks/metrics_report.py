"""The morning report as Telegram HTML, Slack Block Kit and markdown. Pure: escaping and limits live here."""

from __future__ import annotations

from html import escape

from .metrics import DayReport

TELEGRAM_LIMIT = 4096
LEVEL_EMOJI = {"fatal": "🟥", "error": "🟧", "warning": "🟨", "info": "🟦"}


def _h(text: str) -> str:
    return escape(str(text), quote=False)


def _title(report: DayReport) -> str:
    w = report.window
    kind = "Weekly" if w.period == "weekly" else "Daily"
    return f"{kind} error report {w.day:%Y-%m-%d} ({w.start:%d %b %H:%M} – {w.end:%d %b %H:%M} UTC)"


def _total_line(report: DayReport) -> str:
    change = ""
    if report.previous_total is not None:
        delta = report.total_events - report.previous_total
        arrow = "↑" if delta > 0 else "↓" if delta < 0 else "→"
        change = f" ({arrow} {delta:+d} vs previous)"
    return f"{report.total_events} events in {report.total_issues} issues{change}"


def telegram_html(report: DayReport, limit: int = TELEGRAM_LIMIT) -> str:
    """HTML for sendMessage: every dynamic text escaped, cut to Telegram's limit at a line boundary."""
    lines = [f"<b>{_h(_title(report))}</b>"]
    if report.quiet:
        lines += ["", "✅ All quiet: no errors in this window."]
        return "\n".join(lines)
    lines += [_h(_total_line(report)), ""]
    lines.append("<b>By component</b>")
    for c in report.components:
        flag = " ⚠️ rising" if c.rising else ""
        prev = f", prev {c.previous}" if c.previous is not None else ""
        avg = f", 7d avg {c.average_7d:g}" if c.average_7d is not None else ""
        lines.append(f"{c.priority} <b>{_h(c.component)}</b>: {c.events} {c.trend}{_h(prev)}{_h(avg)}; "
                     f"{c.issues} issues, {c.new_issues} new{flag}")
    if report.levels:
        lines += ["", "<b>By level</b>: " + _h(", ".join(f"{k} {v}" for k, v in report.levels))]
    if report.services:
        lines.append("<b>By service</b>: " + _h(", ".join(f"{k} {v}" for k, v in report.services[:8])))
    lines += ["", "<b>Top issues</b>"]
    for n, i in enumerate(report.top_issues, 1):
        lines.append(f'{n}. {LEVEL_EMOJI.get(i.level, "▫️")} <a href="{_h(i.link)}">#{_h(i.issue_id)}</a> '
                     f"{_h(i.title[:120])} — {i.events}")
    if report.new_issues:
        lines += ["", f"<b>New</b> ({len(report.new_issues)}): " + ", ".join(
            f'<a href="{_h(i.link)}">#{_h(i.issue_id)}</a>' for i in report.new_issues[:15])]
    if report.regressed:
        lines.append(f"<b>Back again</b> ({len(report.regressed)}): " + ", ".join(
            f'<a href="{_h(i.link)}">#{_h(i.issue_id)}</a>' for i in report.regressed[:15]))
    lines.append(f"<b>Resolved</b>: {report.resolved}")
    for note in report.notes:
        lines.append(f"<i>{_h(note)}</i>")
    return _fit(lines, limit)


def _fit(lines: list[str], limit: int) -> str:
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    kept: list[str] = []
    for line in lines:
        candidate = "\n".join(kept + [line])
        if len(candidate) + 40 > limit:
            break
        kept.append(line)
    return "\n".join(kept + [f"… ({len(lines) - len(kept)} more lines)"])


def _mrkdwn(text: str) -> str:
    """Slack's escaping: only &, < and > (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_blocks(report: DayReport) -> tuple[str, list[dict]]:
    """Fallback text and Block Kit blocks (at most 50 blocks, 3,000 characters per text)."""
    fallback = f"{_title(report)}: " + ("all quiet" if report.quiet else _total_line(report))
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": _title(report)[:150]}}]
    if report.quiet:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": ":white_check_mark: All quiet: no errors in this window."}})
        return fallback, blocks
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{_mrkdwn(_total_line(report))}*"}})
    rows = [f"{c.priority} *{_mrkdwn(c.component)}*: {c.events} {c.trend}"
            + (f" (prev {c.previous})" if c.previous is not None else "") + f", {c.issues} issues, {c.new_issues} new"
            + (" :warning: rising" if c.rising else "") for c in report.components]
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": ("*By component*\n" + "\n".join(rows))[:3000]}})
    top = [f"{n}. <{i.link}|#{i.issue_id}> {_mrkdwn(i.title[:120])} — {i.events}" for n, i in enumerate(report.top_issues, 1)]
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": ("*Top issues*\n" + "\n".join(top))[:3000]}})
    facts = [f"*New:* {len(report.new_issues)}", f"*Back again:* {len(report.regressed)}",
             f"*Resolved:* {report.resolved}", "*Levels:* " + _mrkdwn(", ".join(f"{k} {v}" for k, v in report.levels))]
    blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in facts]})
    if report.notes:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(n)} for n in report.notes[:10]]})
    return fallback, blocks


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(report: DayReport) -> str:
    out = [f"# {_title(report)}", ""]
    if report.quiet:
        return "\n".join(out + ["All quiet: no errors in this window."])
    out += [f"**{_total_line(report)}** · new {len(report.new_issues)} · back again {len(report.regressed)} · "
            f"resolved {report.resolved}", "", "| priority | component | events | trend | previous | 7d avg | issues | new |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in report.components:
        out.append(f"| {c.priority} | {_md(c.component)} | {c.events} | {c.trend}{' rising' if c.rising else ''} | "
                   f"{'' if c.previous is None else c.previous} | {'' if c.average_7d is None else c.average_7d} | "
                   f"{c.issues} | {c.new_issues} |")
    out += ["", "## Top issues", "| issue | events | level | component | title |", "| --- | --- | --- | --- | --- |"]
    out += [f"| [#{i.issue_id}]({i.link}) | {i.events} | {i.level} | {_md(i.component)} | {_md(i.title[:120])} |"
            for i in report.top_issues]
    out += [""] + [f"_{_md(n)}_" for n in report.notes]
    return "\n".join(out)
