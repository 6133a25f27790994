"""One event an SDK sent to the sandbox's GlitchTip, stored as a new issue and rendered as GlitchTip renders an
event: its tags, user, extra and exception frames intact (the canary reads them back field by field)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

from . import seed
from .glitchtip_state import IssueRecord, _base36
from .seed import IssueSpec, SeedEvent, fmt_time


def _exception_entry(event: dict[str, Any]) -> tuple[list[dict[str, Any]], str, str]:
    values = (event.get("exception") or {}).get("values") or []
    rendered = []
    for v in values:
        frames = [{"filename": f.get("filename"), "absPath": f.get("abs_path"), "function": f.get("function"),
                   "module": f.get("module"), "lineNo": f.get("lineno"), "context_line": f.get("context_line"),
                   "inApp": f.get("in_app"), "vars": f.get("vars") or {}}
                  for f in (v.get("stacktrace") or {}).get("frames") or []]
        rendered.append({"type": v.get("type"), "value": v.get("value"), "mechanism": v.get("mechanism"),
                         "stacktrace": {"frames": frames}})
    last = values[-1] if values else {}
    return ([{"type": "exception", "data": {"values": rendered, "hasSystemFrames": False}}] if rendered else [],
            last.get("type") or "", last.get("value") or "")


def store_event(sandbox, project_id: str, event: dict[str, Any]) -> int:
    """A new sandbox issue holding this one event, rendered as GlitchTip renders an event."""
    state = sandbox.glitchtip
    project = next((p for p in seed.PROJECTS if p["id"] == str(project_id)), None)
    if project is None:
        raise KeyError(f"no project {project_id}")
    entries, type_, value = _exception_entry(event)
    title = f"{type_}: {value}" if type_ else str(event.get("message") or (event.get("logentry") or {}).get("message") or "")
    received = datetime.now(timezone.utc)
    try:
        at = datetime.fromisoformat(str(event.get("timestamp")).replace("Z", "+00:00"))
        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    except ValueError:
        at = received
    user = event.get("user") or None
    tags = event.get("tags") or {}
    tag_list = [{"key": k, "value": str(v)} for k, v in (tags.items() if isinstance(tags, dict) else tags)]
    event_id = str(event.get("event_id") or received.strftime("%Y%m%d%H%M%S%f"))
    with state.lock:
        issue_id = max(state.issues) + 1
        spec = IssueSpec(id=issue_id, project=project["slug"], level=str(event.get("level") or "error"), type="",
                         value=title, frames=(), component=str(tags.get("component", "")) if isinstance(tags, dict) else "",
                         operation="", daily=(1,))
        same_project = sum(1 for r in state.issues.values() if r.spec.project == project["slug"])
        record = IssueRecord(spec, f"{project['slug'].upper()}-{_base36(same_project)}", "unresolved",
                             [SeedEvent(event_id, issue_id, at, str(event.get("server_name") or ""),
                                        str(user["id"]) if user and user.get("id") else None)])
        record.ingested[event_id] = {
            "eventID": event_id, "id": event_id, "issue": issue_id, "context": event.get("extra") or {},
            "contexts": event.get("contexts") or {}, "culprit": event.get("transaction") or "",
            "dateCreated": fmt_time(at), "dateReceived": fmt_time(received), "entries": entries,
            "message": "" if entries else title, "metadata": {"type": type_, "value": value} if type_ else {"title": title},
            "platform": event.get("platform") or "python", "sdk": event.get("sdk"), "tags": tag_list,
            "title": title, "type": "error" if entries else "default", "user": user,
            "release": {"version": event.get("release")} if event.get("release") else None,
        }
        record.tag_values = {t["key"]: Counter({t["value"]: 1}) for t in tag_list}
        state.issues[issue_id] = record
    return issue_id
