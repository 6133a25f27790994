"""Sandbox Telegram Bot API and Slack Web API, answering as python-telegram-bot and slack-sdk expect
(as the recorded client calls in tests/fixtures/peers/clients show) and keeping everything they were sent in the outbox."""

from __future__ import annotations

import hmac
import itertools
import json
import re
import time
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

TELEGRAM_LIMIT = 4096
CAPTION_LIMIT = 1024
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span",
                 "tg-spoiler", "blockquote", "tg-emoji"}


_TAG = re.compile(r"<(/?)([a-z][a-z-]*)((?:\s+[a-z-]+=\"[^\"]*\")*)\s*>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def telegram_html_error(text: str) -> str | None:
    """Telegram's HTML rules: a few tags, balanced; a bare `<` or `&` is an error (Bad Request)."""
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = _TAG.match(text, i)
            if not m:
                return f"Unexpected character '<' at byte offset {len(text[:i].encode())}"
            closing, tag = m.group(1), m.group(2)
            if tag not in TELEGRAM_TAGS:
                return f'Unsupported start tag "{tag}" at byte offset {len(text[:i].encode())}'
            if closing:
                if not stack or stack[-1] != tag:
                    return f'Unexpected end tag "{tag}" at byte offset {len(text[:i].encode())}'
                stack.pop()
            else:
                stack.append(tag)
            i = m.end()
        elif ch == "&":
            m = _ENTITY.match(text, i)
            if not m:
                return f"Unsupported HTML entity at byte offset {len(text[:i].encode())}"
            i = m.end()
        else:
            i += 1
    return f'Unclosed start tag "{stack[-1]}"' if stack else None


class Outbox:
    """Every message the sandbox was sent, in order."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def add(self, service: str, method: str, **fields: Any) -> int:
        n = next(self._ids)
        self.items.append({"id": n, "service": service, "method": method,
                           "at": datetime.now(timezone.utc).isoformat(), **fields})
        return n

    def clear(self) -> None:
        self.items.clear()
        self._ids = itertools.count(1)


def _tg_error(code: int, description: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error_code": code, "description": description}, status_code=code)


async def _params(request: Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """PTB sends form posts (multipart for files); JSON is accepted too."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.body()
        return (json.loads(body) if body else {}), {}
    form = await request.form()
    params, files = {}, {}
    for key, value in form.multi_items():
        if hasattr(value, "read"):
            files[key] = await value.read()
        else:
            params[key] = value
    return params, files


def build_telegram_router(sandbox) -> APIRouter:
    router = APIRouter()
    chat = {"id": 0, "type": "group", "title": "triage sandbox"}

    def message(chat_id: str, **extra) -> dict[str, Any]:
        return {"message_id": extra.pop("message_id"), "date": int(time.time()),
                "chat": dict(chat, id=int(chat_id) if str(chat_id).lstrip("-").isdigit() else 0), **extra}

    @router.api_route("/bot{token}/{method}", methods=["GET", "POST"])
    async def bot_method(request: Request, token: str, method: str):
        if not hmac.compare_digest(token, sandbox.telegram_token):
            return _tg_error(401, "Unauthorized")
        params, files = await _params(request)
        markup = params.get("reply_markup")
        if isinstance(markup, str) and markup:
            markup = json.loads(markup)
        if method == "getMe":
            return {"ok": True, "result": {"id": 700000001, "is_bot": True, "first_name": "triageflow sandbox",
                                           "username": "triage_sandbox_bot", "can_join_groups": True,
                                           "can_read_all_group_messages": False, "supports_inline_queries": False}}
        if method in ("deleteWebhook", "setWebhook", "answerCallbackQuery", "close", "logOut"):
            if method == "answerCallbackQuery":
                sandbox.outbox.add("telegram", method, callback_query_id=params.get("callback_query_id"),
                                   text=params.get("text"))
            return {"ok": True, "result": True}
        if method == "getUpdates":
            return {"ok": True, "result": sandbox.take_updates(params)}
        if method in ("sendMessage", "editMessageText"):
            text = str(params.get("text", ""))
            if not params.get("chat_id"):
                return _tg_error(400, "Bad Request: chat_id is empty")
            if not text.strip():
                return _tg_error(400, "Bad Request: message text is empty")
            if len(text) > TELEGRAM_LIMIT:
                return _tg_error(400, "Bad Request: message is too long")
            if params.get("parse_mode") == "HTML" and (problem := telegram_html_error(text)):
                return _tg_error(400, f"Bad Request: can't parse entities: {problem}")
            n = sandbox.outbox.add("telegram", method, chat_id=str(params["chat_id"]), text=text,
                                   parse_mode=params.get("parse_mode"), reply_markup=markup or None)
            return {"ok": True, "result": message(params["chat_id"], message_id=n, text=text)}
        if method == "sendPhoto":
            photo = files.get("photo")
            caption = str(params.get("caption", ""))
            if not params.get("chat_id"):
                return _tg_error(400, "Bad Request: chat_id is empty")
            if photo is None:
                return _tg_error(400, "Bad Request: there is no photo in the request")
            if len(caption) > CAPTION_LIMIT:
                return _tg_error(400, "Bad Request: message caption is too long")
            if params.get("parse_mode") == "HTML" and caption and (problem := telegram_html_error(caption)):
                return _tg_error(400, f"Bad Request: can't parse entities: {problem}")
            n = sandbox.outbox.add("telegram", method, chat_id=str(params["chat_id"]), caption=caption,
                                   parse_mode=params.get("parse_mode"), reply_markup=markup or None,
                                   photo_bytes=len(photo), photo_is_png=photo.startswith(b"\x89PNG"))
            sizes = [{"file_id": f"photo-{n}-{w}", "file_unique_id": f"u{n}{w}", "width": w, "height": w * 3 // 4,
                      "file_size": len(photo)} for w in (320, 800)]
            return {"ok": True, "result": message(params["chat_id"], message_id=n, photo=sizes, caption=caption)}
        return _tg_error(404, "Not Found")

    return router


def build_slack_router(sandbox) -> APIRouter:
    router = APIRouter()
    uploads: dict[str, dict[str, Any]] = {}
    file_ids = itertools.count(1)

    def authorized(request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer ") and hmac.compare_digest(auth[7:], sandbox.slack_token)

    def fail(error: str) -> JSONResponse:
        return JSONResponse({"ok": False, "error": error})  # Slack answers 200 with ok=false

    @router.post("/api/auth.test")
    async def auth_test(request: Request):
        if not authorized(request):
            return fail("invalid_auth")
        return {"ok": True, "url": "https://sandbox.slack.com/", "team": "Sandbox", "user": "triageflow",
                "team_id": "T0SANDBOX", "user_id": "U0TRIAGE", "bot_id": "B0TRIAGE"}

    @router.post("/api/chat.postMessage")
    async def post_message(request: Request):
        if not authorized(request):
            return fail("invalid_auth")
        params, _ = await _params(request)
        if not params.get("channel"):
            return fail("channel_not_found")
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not params.get("text") and not blocks:
            return fail("no_text")
        if blocks and (len(blocks) > 50 or any(not isinstance(b, dict) or "type" not in b for b in blocks)):
            return fail("invalid_blocks")
        ts = f"{time.time():.6f}"
        sandbox.outbox.add("slack", "chat.postMessage", channel=params["channel"], text=params.get("text"),
                           blocks=blocks, thread_ts=params.get("thread_ts"), ts=ts)
        return {"ok": True, "channel": params["channel"], "ts": ts,
                "message": {"type": "message", "text": params.get("text", ""), "ts": ts, "bot_id": "B0TRIAGE"}}

    @router.post("/api/files.getUploadURLExternal")
    async def upload_url(request: Request):
        if not authorized(request):
            return fail("invalid_auth")
        params, _ = await _params(request)
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return fail("invalid_arguments")
        file_id = f"F{next(file_ids):09d}"
        uploads[file_id] = {"filename": params["filename"], "length": int(params["length"]), "data": None}
        base = str(request.base_url).rstrip("/")
        return {"ok": True, "upload_url": f"{base}/upload/{file_id}", "file_id": file_id}

    @router.post("/upload/{file_id}")
    async def upload(request: Request, file_id: str):
        if file_id not in uploads:
            return PlainTextResponse("not found", status_code=404)
        data = await request.body()
        uploads[file_id]["data"] = data
        return PlainTextResponse(f"OK - {len(data)}")

    @router.post("/api/files.completeUploadExternal")
    async def complete(request: Request):
        if not authorized(request):
            return fail("invalid_auth")
        params, _ = await _params(request)
        files = json.loads(params.get("files") or "[]")
        done = []
        for f in files:
            upload_ = uploads.get(f.get("id"))
            if upload_ is None or upload_["data"] is None:
                return fail("file_not_found")
            done.append({"id": f["id"], "title": f.get("title") or upload_["filename"], "name": upload_["filename"],
                         "size": len(upload_["data"])})
            sandbox.outbox.add("slack", "files.upload", channel=params.get("channel_id"), filename=upload_["filename"],
                               title=f.get("title"), size=len(upload_["data"]),
                               is_png=upload_["data"].startswith(b"\x89PNG"),
                               initial_comment=params.get("initial_comment"), thread_ts=params.get("thread_ts"))
        return {"ok": True, "files": done}

    return router
