"""Stack traces as GlitchTip stores them, turned into frames a person reads: in-app first, innermost first.

Handles chained exceptions (cause first in `values`), thread entries, and Python, JavaScript/Node,
Java and Go frames. Pure functions over the event JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

LIBRARY_PATH_MARKERS = (
    "site-packages/", "dist-packages/", "node_modules/", "node:internal", "<frozen ", "/lib/python3", "/lib/python2",
    "internal/process/", "/usr/local/go/src/", "/usr/lib/go", "/go/pkg/mod/", "/vendor/", "<anonymous>", "<string>",
)
LIBRARY_MODULE_PREFIXES = ("java.", "javax.", "jdk.", "sun.", "kotlin.", "scala.", "org.springframework.",
                           "org.apache.", "com.sun.", "io.netty.", "runtime", "net/http", "reflect")
_WEBPACK = re.compile(r"^webpack://[^/]*/(\./)?")
_SCHEMES = re.compile(r"^(app|file|http|https)://[^/]*/?")


@dataclass(frozen=True)
class StackFrame:
    path: str  # the path the SDK reported (absPath when there is one)
    function: str | None
    module: str | None
    line: int | None
    column: int | None
    context_line: str | None
    in_app: bool
    platform: str
    exception_type: str = ""
    exception_value: str = ""
    filename: str | None = None  # as the SDK named it (often repository-relative)

    @property
    def location(self) -> str:
        where = self.filename if self.filename and not self.filename.startswith("/") else (source_path(self) or self.path)
        line = f":{self.line}" if self.line else ""
        return f"{where}{line}" + (f" in {self.function}" if self.function else "")


def guess_platform(frame: dict[str, Any], event_platform: str | None) -> str:
    name = (frame.get("filename") or frame.get("absPath") or "").lower()
    if name.endswith((".java", ".kt", ".scala")):
        return "java"
    if name.endswith(".go"):
        return "go"
    if name.endswith((".js", ".ts", ".mjs", ".cjs", ".jsx", ".tsx")) or name.startswith(("webpack:", "node:")):
        return "node"
    if name.endswith(".py") or name.startswith("<frozen"):
        return "python"
    return {"javascript": "node", "node": "node", "java": "java", "go": "go", "python": "python"}.get(
        event_platform or "", event_platform or "unknown")


def is_library(frame: dict[str, Any]) -> bool:
    """Library code by its path or module, for SDKs (like Python's) that send no `inApp`."""
    path = (frame.get("absPath") or frame.get("filename") or "").replace("\\", "/")
    if any(marker in path for marker in LIBRARY_PATH_MARKERS):
        return True
    module = frame.get("module") or ""
    if path.endswith((".java", ".kt", ".scala")) or ("." in module and not path):
        return module.startswith(LIBRARY_MODULE_PREFIXES)
    if path.endswith(".go") and "/" not in module and module in ("runtime", "net/http", "reflect", "testing"):
        return True
    return False


def _in_app(frame: dict[str, Any]) -> bool:
    flag = frame.get("inApp", frame.get("in_app"))
    if isinstance(flag, bool):
        return flag and not is_library(frame)
    return not is_library(frame)


def _frames_of(stacktrace: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((stacktrace or {}).get("frames") or [])


def frames_from_event(event: dict[str, Any]) -> list[StackFrame]:
    """Every frame, innermost first: the root cause's stack first, then each exception that wrapped it.

    Frames from the crashed thread are used when the exceptions themselves carry no stack trace.
    """
    platform = event.get("platform")
    exceptions: list[dict[str, Any]] = []
    threads: list[dict[str, Any]] = []
    for entry in event.get("entries") or []:
        data = entry.get("data") or {}
        if entry.get("type") == "exception":
            exceptions = list(data.get("values") or [])
        elif entry.get("type") == "threads":
            threads = list(data.get("values") or [])
    out: list[StackFrame] = []
    for exc in exceptions:  # values[0] is the root cause
        raw = _frames_of(exc.get("stacktrace"))
        if not raw and threads:
            crashed = next((t for t in threads if t.get("crashed")), None) or next(
                (t for t in threads if t.get("current")), threads[0])
            raw = _frames_of(crashed.get("stacktrace"))
        for frame in reversed(raw):  # stored innermost last
            out.append(_to_frame(frame, platform, exc.get("type") or "", exc.get("value") or ""))
    if not exceptions and threads:
        crashed = next((t for t in threads if t.get("crashed")), threads[0])
        out += [_to_frame(f, platform, "", "") for f in reversed(_frames_of(crashed.get("stacktrace")))]
    return out


def _to_frame(frame: dict[str, Any], platform: str | None, exc_type: str, exc_value: str) -> StackFrame:
    line = frame.get("lineNo", frame.get("lineno"))
    column = frame.get("colNo", frame.get("colno"))
    return StackFrame(
        path=str(frame.get("absPath") or frame.get("abs_path") or frame.get("filename") or ""),
        function=frame.get("function"),
        module=frame.get("module"),
        line=int(line) if isinstance(line, (int, str)) and str(line).isdigit() else None,
        column=int(column) if isinstance(column, (int, str)) and str(column).isdigit() else None,
        context_line=frame.get("context_line") or frame.get("contextLine"),
        in_app=_in_app(frame),
        platform=guess_platform(frame, platform),
        exception_type=exc_type,
        exception_value=exc_value,
        filename=frame.get("filename"),
    )


def in_app_frames(frames: list[StackFrame]) -> list[StackFrame]:
    """In-app frames, innermost first, each place once; library frames only when nothing is in-app."""
    chosen = [f for f in frames if f.in_app] or frames
    seen: set[tuple] = set()
    unique = []
    for frame in chosen:
        key = (frame.path, frame.line, frame.function)
        if key not in seen:
            seen.add(key)
            unique.append(frame)
    return unique


def source_path(frame: StackFrame) -> str | None:
    """The frame's path with deployment prefixes removed, as a repository-relative guess (no leading /)."""
    path = frame.path.replace("\\", "/").split("?", 1)[0]
    if not path or path.startswith(("node:", "<")):
        return None
    if frame.platform == "java" and frame.module and "." in frame.module and "/" not in path:
        package = frame.module.split("$", 1)[0].rsplit(".", 1)[0].replace(".", "/")
        return f"{package}/{path}"
    path = _WEBPACK.sub("", path)
    path = _SCHEMES.sub("", path)
    for marker in ("site-packages/", "dist-packages/", "node_modules/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/") or None


def stack_excerpt(frames: list[StackFrame], limit: int = 1000) -> str:
    """A plain-text traceback of the frames (innermost first), cut at about `limit` characters."""
    lines = []
    for frame in frames:
        lines.append(f"{frame.location}")
        if frame.context_line:
            lines.append(f"    {frame.context_line.strip()}")
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit("\n", 1)[0]
    return f"{cut}\n… ({len(text) - len(cut)} more characters)"
