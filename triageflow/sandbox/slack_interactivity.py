"""Sandbox: Slack's interactivity requests, form-encoded and signed the way Slack signs them
(`v0=` HMAC-SHA256 of `v0:{timestamp}:{body}` with the app's signing secret).

`POST /_sandbox/slack/interact` with `{"url", "action_id", "value", "message_ts", "user", "age_seconds"}` posts a
`block_actions` payload to `url` and answers what came back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request

SLACK_SIGNING_SECRET = "dev_sandbox_slack_signing_9c2f4e7a1b"


def signed_request(body: str, secret: str, timestamp: int) -> dict[str, str]:
    signature = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={signature}",
            "Content-Type": "application/x-www-form-urlencoded"}


def build_slack_interactivity_router() -> APIRouter:
    router = APIRouter()

    @router.post("/_sandbox/slack/interact")
    async def interact(request: Request):
        spec = await request.json()
        payload = {"type": "block_actions", "user": {"id": "U0SANDBOX", "username": spec.get("user", "ops")},
                   "team": {"id": "T0SANDBOX"}, "channel": {"id": spec.get("channel", "C0CRIT")},
                   "message": {"ts": spec.get("message_ts", "")},
                   "actions": [{"action_id": spec["action_id"], "value": str(spec.get("value", "")), "type": "button",
                                "action_ts": f"{time.time():.6f}"}],
                   "response_url": f"{str(request.base_url).rstrip('/')}/_sandbox/slack/response", "trigger_id": "1.2.3"}
        body = urlencode({"payload": json.dumps(payload)})
        headers = signed_request(body, spec.get("secret", SLACK_SIGNING_SECRET),
                                 int(time.time()) - int(spec.get("age_seconds", 0)))
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(spec["url"], content=body, headers=headers)
        return {"status": answer.status_code, "body": answer.text}

    return router
