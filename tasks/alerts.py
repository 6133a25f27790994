"""GlitchTip webhook alerts: what the payload names, and the rich Telegram alert. Pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any

from models.payloads import Event, Issue
from triageflow.scrub import scrub

from .stacktrace import frames_from_event, in_app_frames, stack_excerpt

LEVEL_EMOJI = {"fatal": "🟥", "error": "🟧", "warning": "🟨", "info": "🟦", "debug": "⬜"}
_ISSUE_LINK = re.compile(r"/issues/(\d{1,18})/?$")
MAX_ATTACHMENTS = 50
_TOTAL = re.compile(r"\((\d+) issues?\)")
MAX_TOTAL_DIGITS = 6


class WebhookError(ValueError):
    """The payload is not a GlitchTip alert; names the field."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class GlitchTipAlert:
    issue_ids: list[str]  # those the payload lists (at most three)
    total: int  # how many the alert counts


def parse_glitchtip_alert(body: Any) -> GlitchTipAlert:
    """GlitchTip sends Slack-style attachments with no issue id field: ids come from `title_link`."""
    if not isinstance(body, dict):
        raise WebhookError("body", "must be a JSON object")
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        raise WebhookError("attachments", "must be a non-empty list")
    if len(attachments) > MAX_ATTACHMENTS:
        raise WebhookError("attachments", f"lists more than {MAX_ATTACHMENTS} issues")
    ids: list[str] = []
    for n, attachment in enumerate(attachments):
        link = attachment.get("title_link") if isinstance(attachment, dict) else None
        match = _ISSUE_LINK.search(link) if isinstance(link, str) else None
        if not match:
            raise WebhookError(f"attachments[{n}].title_link", "must be a link ending in /issues/<id>")
        if match.group(1) not in ids:
            ids.append(match.group(1))
    counted = _TOTAL.search(str(body.get("text", ""))[:10_000])
    if counted and len(counted.group(1)) > MAX_TOTAL_DIGITS:
        raise WebhookError("text", f"the issue count has more than {MAX_TOTAL_DIGITS} digits")
    return GlitchTipAlert(ids, max(int(counted.group(1)), len(ids)) if counted else len(ids))


def alert_html(issue: Issue, event: Event | None, link: str, stack_limit: int = 500) -> str:
    """The rich alert: what, where, how often, since when, the top of the in-app stack, the tags, the link."""
    h = lambda text: escape(scrub(str(text)), quote=False)  # noqa: E731 - users' data never reaches the chat
    tags = {t.key: t.value for t in event.tags} if event else {}
    component = tags.get("component") or issue.project.slug
    lines = [
        f"{LEVEL_EMOJI.get(issue.level, '▫️')} <b>{h(issue.title[:300])}</b>",
        f"{h(issue.short_id)} · project <b>{h(issue.project.slug)}</b> · component <b>{h(component)}</b> · {h(issue.level)}",
        f"{issue.event_count} events · first seen {issue.first_seen:%Y-%m-%d %H:%M} · last seen {issue.last_seen:%Y-%m-%d %H:%M} UTC",
    ]
    if issue.culprit:
        lines.append(f"<code>{h(issue.culprit[:200])}</code>")
    frames = in_app_frames(frames_from_event(event.model_dump(by_alias=True, mode="json"))) if event else []
    if frames:
        lines.append(f"<pre>{h(stack_excerpt(frames, stack_limit))}</pre>")
    shown = {k: v for k, v in tags.items() if k in ("environment", "release", "server_name", "operation", "component")}
    if shown:
        lines.append(h(" · ".join(f"{k}={v}" for k, v in shown.items())))
    lines.append(f'<a href="{escape(link)}">Open in GlitchTip</a>')  # our own link: escaped, not scrubbed
    return "\n".join(lines)


def alert_buttons(issue_id: str) -> list[list[tuple[str, str]]]:
    return [[("🔎 Investigate", f"investigate:{issue_id}"), ("✅ Resolve", f"resolve:{issue_id}"),
             ("🙈 Ignore", f"ignore:{issue_id}")],
            [("👍", f"feedback:{issue_id}:up"), ("👎", f"feedback:{issue_id}:down"),  # issue 14: helpfulness, snooze
             ("😴 24h", f"snooze:{issue_id}:24h")]]
