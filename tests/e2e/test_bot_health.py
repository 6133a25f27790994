"""/snooze, /unsnooze and the 😴 / 👍 👎 buttons, through real python-telegram-bot polling on the sandbox."""

from __future__ import annotations

import time

import pytest

from models.db import session_scope
from models.investigations import InvestigationLog
from tests.e2e.test_bot import Chat
from triageflow.bot import BotInBackground
from triageflow.settings import load_settings
from triageflow.snooze import is_snoozed


@pytest.fixture
def bot(triage_env):
    with BotInBackground(load_settings()) as running:
        yield running


@pytest.fixture
def chat(control):
    return Chat(control)


def test_snooze_command_and_button_are_kept_and_ended(triage_env, bot, chat):
    url = triage_env["TRIAGE_DATABASE_URL"]
    chat.say("/snooze 9 2h")
    (reply,) = chat.replies()
    assert "#9 snoozed until" in reply["text"] and is_snoozed(url, "9")
    chat.say("/unsnooze 9")
    assert "#9 alerts again" in chat.replies()[0]["text"] and not is_snoozed(url, "9")
    chat.say(callback="snooze:12:24h")
    assert "#12 snoozed until" in chat.replies()[0]["text"] and is_snoozed(url, "12")
    chat.say("/snooze 9 forever")
    assert "'forever' is not a duration" in chat.replies()[0]["text"] and not is_snoozed(url, "9")
    chat.say("/snooze")
    assert "usage: /snooze" in chat.replies()[0]["text"]


def test_a_stranger_cannot_snooze(triage_env, bot, chat):
    chat.say("/snooze 9 24h", chat_id="-999")
    assert "may not use triageflow" in chat.replies()[0]["text"]
    assert not is_snoozed(triage_env["TRIAGE_DATABASE_URL"], "9")


def test_feedback_buttons_fill_the_investigation_log(triage_env, bot, chat):
    url = triage_env["TRIAGE_DATABASE_URL"]
    chat.say(callback="feedback:9:up")
    assert "#9 has no investigation yet" in chat.replies()[0]["text"]
    with session_scope(url) as session:
        session.add(InvestigationLog(issue_id="9", title="t", duration_ms=1, comment_status="posted"))
    chat.say(callback="feedback:9:down")
    assert "marked not helpful" in chat.replies()[0]["text"]
    chat.say(callback="feedback:9:up")
    assert "marked helpful" in chat.replies()[0]["text"]
    with session_scope(url) as session:
        (row,) = session.query(InvestigationLog).all()
    assert row.helpful is True


def test_resolving_from_the_bot_edits_the_alert_to_say_so(prefect_harness, triage_env, bot, chat, control, glitchtip):
    from datetime import datetime, timezone

    from models.webhooks import IssueAlert
    from triageflow.clients.telegram import telegram_from_settings

    url = triage_env["TRIAGE_DATABASE_URL"]
    message_id = telegram_from_settings(load_settings()).send_message("🟧 <b>RateLimited</b> alert")
    chat.seen += 1
    with session_scope(url) as session:
        session.add(IssueAlert(issue_id="8", alerted_at=datetime.now(timezone.utc), message_id=str(message_id)))
    chat.say("/resolve 8")
    confirm = chat.replies()[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]  # the single-use button
    chat.say(callback=confirm)
    assert chat.replies()[0]["text"] == "✅ #8 is now resolved."
    deadline = time.monotonic() + 30
    edits = []
    while not edits and time.monotonic() < deadline:
        time.sleep(0.1)
        edits = [m for m in control.outbox("telegram") if m["method"] == "editMessageText"]
    (edit,) = edits
    assert "✅ Resolved</b> by @ann" in edit["text"] and "#8 RateLimited" in edit["text"]
    chat.say("/help")
    chat.replies()
    assert len([m for m in control.outbox("telegram") if m["method"] == "editMessageText"]) == 1, "edited once"
