"""The fingerprint that groups telemetry events: one SHA-256 per error, whichever user, browser or host sent it.

Components: the exception type, the message with the parts that vary per occurrence normalised away
(quoted values, UUIDs, hex, ids, numbers), and the top in-app frames (file without host, query or build
hash; function; no line numbers, which move with every release). An SDK's own `fingerprint` wins;
its `{{ default }}` entry stands for these components. Pure: no I/O.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

TOP_FRAMES = 5

_QUOTED = re.compile(r"""'[^'\n]{0,200}'|"[^"\n]{0,200}"|`[^`\n]{0,200}`""")
_UUID = re.compile(r"(?i)\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b")
_HEX = re.compile(r"(?i)\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b")
# a number with an optional unit (3.5s, 120ms, 404), then what still mixes letters and digits (ord_8f3k2)
_NUMBER = re.compile(r"(?<![A-Za-z_\d])[-+]?\d+(?:[.,]\d+)*(?:ms|s|kb|mb|gb|px|%)?(?![A-Za-z_\d])", re.IGNORECASE)
_ID = re.compile(r"\b[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\b")
_SPACE = re.compile(r"\s+")
_UNCAUGHT = re.compile(r"^(?:uncaught\s+(?:exception:?\s*)?|unhandled\s+rejection:?\s*)", re.IGNORECASE)
_BUILD_HASH = re.compile(r"(?i)[.-][0-9a-f]{6,}(?=\.(?:m?js|css|mjs|cjs)\b)")
_URL_PREFIX = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]*", re.IGNORECASE)


@dataclass(frozen=True)
class Frame:
    """One stack frame, innermost last (Sentry's order)."""

    filename: str = ""
    function: str = ""
    module: str = ""
    lineno: int | None = None
    in_app: bool | None = None
    context_line: str = ""


def normalise_message(message: str) -> str:
    """`Order 4812 for 'ann' failed after 3.5s` → `order <n> for <q> failed after <n>s`; hex ids are `<n>` too."""
    text = _UNCAUGHT.sub("", (message or "").strip())
    text = _QUOTED.sub("<q>", text)
    text = _UUID.sub("<uuid>", text)
    text = _HEX.sub("<n>", text)  # the same token as a number: a hex id with no letter a-f is a number
    text = _NUMBER.sub("<n>", text)
    text = _ID.sub("<id>", text)
    return _SPACE.sub(" ", text).strip().lower()


@functools.lru_cache(maxsize=65_536)  # frames are immutable and recur in every event of their group
def frame_key(frame: Frame) -> str:
    """Where a frame is, stable across hosts, deploys and line moves."""
    where = frame.module or frame.filename
    where = _URL_PREFIX.sub("", where).split("?", 1)[0].split("#", 1)[0]
    return f"{_BUILD_HASH.sub('', where)}:{frame.function or '?'}"


def top_frames(frames: Sequence[Frame], limit: int = TOP_FRAMES) -> list[Frame]:
    """The innermost in-app frames; every frame counts as in-app when none is marked so."""
    chosen = [f for f in frames if f.in_app] or list(frames)
    return chosen[-limit:]


def default_components(exception_type: str, message: str, frames: Sequence[Frame]) -> list[str]:
    return [exception_type.strip(), normalise_message(message), *(frame_key(f) for f in top_frames(frames))]


def fingerprint(exception_type: str, message: str, frames: Sequence[Frame],
                sdk_fingerprint: Sequence[str] | None = None) -> str:
    """SHA-256 hex of the grouping components (or of the SDK's fingerprint, `{{ default }}` expanded)."""
    default = default_components(exception_type, message, frames)
    if sdk_fingerprint:
        parts: list[str] = ["sdk"]
        for entry in sdk_fingerprint:
            parts.extend(default if entry.strip() in ("{{ default }}", "{{default}}") else [str(entry)])
    else:
        parts = ["default", *default]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()
