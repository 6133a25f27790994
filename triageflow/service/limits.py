"""Limits checked on a webhook body before and while it is parsed, so hostile input gets a 4xx, not a 500."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from starlette.requests import Request

MAX_INT_DIGITS = 18
_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


class BodyRefused(ValueError):
    """The body breaks a limit; `status` is the answer to give, the message says which limit."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        super().__init__(reason)


def nests_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether arrays and objects in `raw` nest more than `limit` deep (brackets inside strings do not
    count). A body with no more than `limit` brackets in all cannot: only the others are scanned."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    return nesting_depth(raw, limit) > limit


def nesting_depth(raw: bytes, limit: int) -> int:
    """How deep arrays and objects nest in `raw`, strings skipped; stops counting once past `limit`."""
    depth = deepest = 0
    in_string = False
    skip = -1
    for match in _STRUCTURE.finditer(raw):
        at = match.start()
        if at == skip:
            continue  # the character after a backslash
        ch = raw[at:at + 1]
        if in_string:
            if ch == b"\\":
                skip = at + 1
            elif ch == b'"':
                in_string = False
            continue
        if ch == b'"':
            in_string = True
        elif ch in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif ch in b"]}":
            depth -= 1
    return deepest


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BodyRefused(422, f"a number in the body has more than {MAX_INT_DIGITS} digits")
    return int(text)


def parse_json(raw: bytes, *, max_depth: int) -> Any:
    """The body as JSON: nesting beyond `max_depth` or an over-long integer is a 422, bad JSON a 400."""
    if nests_deeper_than(raw, max_depth):
        raise BodyRefused(422, f"body nests deeper than {max_depth} levels")
    try:
        return json.loads(raw, parse_int=_bounded_int)
    except BodyRefused:
        raise
    except RecursionError:
        raise BodyRefused(422, f"body nests deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise BodyRefused(400, f"body is not JSON: {exc}") from None


async def read_limited(request: Request, limit: int, timeout: float) -> bytes:
    """The body, refused when it is larger than `limit` (413) or takes longer than `timeout` to arrive (408)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 12 or int(declared) > limit):
        raise BodyRefused(413, f"body larger than {limit} bytes")

    async def read() -> bytes:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise BodyRefused(413, f"body larger than {limit} bytes")
        return bytes(body)

    try:
        return await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError:
        raise BodyRefused(408, f"body not received within {timeout:g} s") from None
