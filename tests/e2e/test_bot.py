"""The Telegram bot, driven through the sandbox's getUpdates with real python-telegram-bot polling."""

from __future__ import annotations

import time

import httpx
import pytest

from triageflow.audit import recent
from triageflow.bot import BotInBackground
from triageflow.sandbox import TELEGRAM_CHAT_ID, seed
from triageflow.settings import load_settings

STRANGER_CHAT = "-999"


@pytest.fixture
def bot(triage_env):
    with BotInBackground(load_settings()) as running:
        yield running


class Chat:
    def __init__(self, control):
        self.control = control
        self.seen = 0

    def say(self, text=None, *, callback=None, chat_id=TELEGRAM_CHAT_ID, user_id=1001):
        body = {"chat_id": chat_id, "user_id": user_id}
        body.update({"callback_data": callback} if callback else {"text": text})
        httpx.post(f"{self.control.url}/_sandbox/telegram/updates", json=body).raise_for_status()

    def replies(self, count=1, seconds=90):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sent = [m for m in self.control.outbox("telegram") if m["method"] == "sendMessage"]
            if len(sent) >= self.seen + count:
                new, self.seen = sent[self.seen:self.seen + count], self.seen + count
                return new
            time.sleep(0.1)
        raise AssertionError(f"no reply within {seconds} s")


@pytest.fixture
def chat(control):
    return Chat(control)


def test_help_and_usage_lines(prefect_harness, triage_env, bot, chat):
    chat.say("/help")
    [reply] = chat.replies()
    assert "/errors [component] [hours]" in reply["text"] and "/resolve" in reply["text"]
    chat.say("/errors database 9999")
    assert "usage: /errors" in chat.replies()[0]["text"]
    chat.say("/stats 2w")
    assert "usage: /stats" in chat.replies()[0]["text"]
    chat.say("/investigate abc")
    assert "usage: /investigate" in chat.replies()[0]["text"]


def test_errors_lists_top_issues_with_links(prefect_harness, triage_env, bot, chat):
    chat.say("/errors")
    text = chat.replies()[0]["text"]
    unresolved = [s for s in seed.ISSUES if s.status == "unresolved"]
    top = max(unresolved, key=lambda s: sum(s.daily))
    assert "unresolved issues seen in the last 24 h" in text
    assert text.splitlines()[1].startswith(f'<a href="{triage_env["GLITCHTIP_URL"]}/acme/issues/{top.id}">#{top.id}</a>')
    chat.say("/errors database 48")
    text = chat.replies()[0]["text"]
    assert "in <b>database</b>" in text and "#1<" in text and "#23" not in text


def test_stats_compares_with_the_period_before(prefect_harness, triage_env, bot, chat):
    chat.say("/stats 24h")
    text = chat.replies()[0]["text"]
    today = sum(s.daily[0] for s in seed.ISSUES)
    yesterday = sum(s.daily[1] for s in seed.ISSUES)
    assert f"Last 24h: {today} events" in text and f"(previous 24h: {yesterday})" in text
    assert "database:" in text


def test_investigate_replies_at_once_then_with_the_summary(prefect_harness, triage_env, bot, chat, glitchtip):
    chat.say("/investigate 9")
    first, second = chat.replies(2, seconds=120)
    assert first["text"] == "🔎 Investigating #9…"
    assert "Average the price over paid items only" in second["text"] and "comment posted" in second["text"]
    assert [c for c in glitchtip.comments(9) if "triageflow:investigation:9" in c.text]


def test_resolve_asks_first_then_acts_and_audits(prefect_harness, triage_env, bot, chat, glitchtip):
    chat.say("/resolve 8")
    ask = chat.replies()[0]
    assert ask["text"].startswith("Resolve #8 <b>RateLimited")
    confirm, cancel = [b["callback_data"] for b in ask["reply_markup"]["inline_keyboard"][0]]
    assert confirm.startswith("confirm:") and cancel == "cancel:" + confirm.removeprefix("confirm:")
    assert glitchtip.issue(8).status == "unresolved"
    chat.say(callback=confirm)
    assert chat.replies()[0]["text"] == "✅ #8 is now resolved."
    assert glitchtip.issue(8).status == "resolved"
    row = recent(triage_env["TRIAGE_DATABASE_URL"])[0]
    assert (row.action, row.target, row.actor, row.outcome) == ("issue.status", "issue:8", "telegram:1001", "ok")


def test_alert_buttons_work_like_commands(prefect_harness, triage_env, bot, chat, glitchtip):
    chat.say(callback="ignore:7")
    assert chat.replies()[0]["text"].startswith("Ignore #7")
    chat.say(callback="cancel")
    assert chat.replies()[0]["text"] == "Cancelled."
    assert glitchtip.issue(7).status == "unresolved"


def test_other_chats_are_refused_and_audited(prefect_harness, triage_env, bot, chat, glitchtip):
    chat.say("/resolve 8", chat_id=STRANGER_CHAT, user_id=666)
    assert "may not use triageflow" in chat.replies()[0]["text"]
    chat.say(callback="confirm:resolve:8", chat_id=STRANGER_CHAT, user_id=666)
    assert "may not use triageflow" in chat.replies()[0]["text"]
    assert glitchtip.issue(8).status == "unresolved"
    refused = [r for r in recent(triage_env["TRIAGE_DATABASE_URL"]) if r.action == "bot.refused"]
    assert len(refused) == 2 and refused[0].target == f"chat:{STRANGER_CHAT}/user:666"


def refusals(url) -> list:
    return [r for r in recent(url, 100) if r.action == "bot.confirm.refused"]


def test_a_forged_confirmation_is_refused_and_audited(prefect_harness, triage_env, bot, chat, glitchtip):
    chat.say(callback="confirm:resolve:2")  # no /resolve 2 was ever asked
    assert "not valid here" in chat.replies()[0]["text"]
    assert glitchtip.issue(2).status == "unresolved"
    [row] = refusals(triage_env["TRIAGE_DATABASE_URL"])
    assert row.outcome == "refused" and row.detail["reason"] == "no such confirmation"


def test_a_confirmation_works_once_for_the_user_who_asked(prefect_harness, triage_env, bot, chat, glitchtip):
    chat.say("/ignore 7")
    confirm = chat.replies()[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    chat.say(callback=confirm, user_id=2002)  # another member of the same chat presses the button
    assert "not valid here" in chat.replies()[0]["text"]
    assert glitchtip.issue(7).status == "unresolved"
    chat.say(callback=confirm)
    assert chat.replies()[0]["text"] == "✅ #7 is now ignored."
    glitchtip.set_status("7", "unresolved")
    chat.say(callback=confirm)  # a replay of the same button
    assert "not valid here" in chat.replies()[0]["text"]
    assert glitchtip.issue(7).status == "unresolved"
    reasons = [r.detail["reason"] for r in refusals(triage_env["TRIAGE_DATABASE_URL"])]
    assert sorted(reasons) == ["already used", "asked for by another chat or user"]


def test_an_expired_confirmation_is_refused(prefect_harness, triage_env, bot, chat, glitchtip):
    from sqlalchemy import text

    from models.db import engine_for

    chat.say("/resolve 8")
    confirm = chat.replies()[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    with engine_for(triage_env["TRIAGE_DATABASE_URL"]).begin() as conn:  # the clock moves past its expiry
        conn.execute(text("UPDATE bot_confirmation SET expires_at_ms = expires_at_ms - 86400000"))
    chat.say(callback=confirm)
    assert "not valid here" in chat.replies()[0]["text"]
    assert glitchtip.issue(8).status == "unresolved"
    assert [r.detail["reason"] for r in refusals(triage_env["TRIAGE_DATABASE_URL"])] == ["expired"]
