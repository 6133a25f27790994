"""The bot's watcher commands: `/snooze ISSUE 24h`, `/unsnooze ISSUE`, the 😴 Snooze and 👍/👎 buttons.

Registered by `register(application, bot)` in a group before the bot's own handlers: a button of ours
is handled here and goes no further; everything else passes through untouched.
"""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import (Application, ApplicationHandlerStop, CallbackQueryHandler, CommandHandler, ContextTypes,
                          TypeHandler)

from .audit import audited
from .snooze import BadDuration, parse_duration, snooze, unsnooze

GROUP = -1  # before the bot's handlers (group 0)
AFTER = 1  # after them: reflect what they changed
USAGE = {
    "snooze": "/snooze <issue id> [30m|24h|7d] — no alerts about the issue for that long (default 24h)",
    "unsnooze": "/unsnooze <issue id> — alerts about the issue again",
}


def _actor(update: Update) -> str:
    user = update.effective_user
    return f"telegram:{user.id if user else '?'}"


class HealthHandlers:
    def __init__(self, bot) -> None:
        self.bot = bot  # the TriageBot: its settings, access guard and reply
        self.url = bot.s.triage_database_url

    async def _snooze(self, update: Update, issue_id: str, duration: str) -> None:
        from .bot import h

        if not issue_id.isdigit():
            await self.bot._reply(update, h("usage: " + USAGE["snooze"]))
            return
        try:
            span = parse_duration(duration)
        except BadDuration as exc:
            await self.bot._reply(update, h(f"❌ {exc}"))
            return
        until = await asyncio.to_thread(snooze, self.url, issue_id, span, _actor(update),
                                        dry_run=self.bot.s.triage_dry_run)
        await self.bot._reply(update, f"😴 #{h(issue_id)} snoozed until {until:%Y-%m-%d %H:%M} UTC: no alerts about it "
                                      f"until then. /unsnooze {h(issue_id)} ends it.")

    async def snooze_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from .bot import h

        if not await self.bot._guard(update, "snooze"):
            return
        args = list(context.args or [])
        if not 1 <= len(args) <= 2:
            await self.bot._reply(update, h("usage: " + USAGE["snooze"]))
            return
        await self._snooze(update, args[0], args[1] if len(args) == 2 else "24h")

    async def unsnooze_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from .bot import h

        if not await self.bot._guard(update, "unsnooze"):
            return
        args = list(context.args or [])
        if len(args) != 1 or not args[0].isdigit():
            await self.bot._reply(update, h("usage: " + USAGE["unsnooze"]))
            return
        ended = await asyncio.to_thread(unsnooze, self.url, args[0], _actor(update))
        await self.bot._reply(update, f"🔔 #{h(args[0])} " + ("alerts again." if ended else "was not snoozed."))

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`snooze:ID:24h` and `feedback:ID:up|down`; handled here, then no other handler sees it."""
        from tasks.health_report import record_feedback

        from .bot import h

        query = update.callback_query
        await query.answer()
        action, _, rest = (query.data or "").partition(":")
        issue_id, _, arg = rest.partition(":")
        if await self.bot._guard(update, action):
            if action == "snooze":
                await self._snooze(update, issue_id, arg or "24h")
            elif action == "feedback" and issue_id.isdigit() and arg in ("up", "down"):
                row = await asyncio.to_thread(record_feedback, self.url, issue_id, arg == "up", _actor(update))
                await self.bot._reply(update, h(f"Thanks: the investigation of #{issue_id} is marked "
                                                f"{'helpful' if arg == 'up' else 'not helpful'}.") if row else
                                      h(f"#{issue_id} has no investigation yet."))
        raise ApplicationHandlerStop


    async def reflect_status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """After the bot resolved or ignored an issue, edit the alerts about it to say so (each change once)."""
        from datetime import datetime, timezone

        from tasks.alert_status import alert_message_ids, mark_reflected, status_banner, unreflected_changes

        if update.effective_user is None or not self.bot._allowed(update):
            return
        changes = await asyncio.to_thread(unreflected_changes, self.url, _actor(update), datetime.now(timezone.utc))
        user = update.effective_user
        who = f"@{user.username}" if user.username else user.first_name
        dry = self.bot.s.triage_dry_run
        for change in changes:
            edited = []
            for message_id in await asyncio.to_thread(alert_message_ids, self.url, change.issue_id):
                try:
                    with audited(self.url, "telegram", "alert.edit", f"issue:{change.issue_id}", dry_run=dry,
                                 detail={"message_id": message_id, "status": change.status}, actor=_actor(update)):
                        if not dry:
                            await context.bot.edit_message_text(status_banner(change, who), parse_mode="HTML",
                                                                chat_id=self.bot.s.telegram_chat_id,
                                                                message_id=message_id)
                    edited.append(message_id)
                except Exception:  # noqa: BLE001 - audited as an error; an alert too old to edit must not fail the reply
                    pass
            await asyncio.to_thread(mark_reflected, self.url, change, edited)


def register(application: Application, bot) -> None:
    """Add the watcher's commands and buttons to the bot (one line in bot.py)."""
    handlers = HealthHandlers(bot)
    application.add_handler(CommandHandler("snooze", handlers.snooze_command), group=GROUP)
    application.add_handler(CommandHandler("unsnooze", handlers.unsnooze_command), group=GROUP)
    application.add_handler(CallbackQueryHandler(handlers.button, pattern=r"^(snooze|feedback):"), group=GROUP)
    application.add_handler(TypeHandler(Update, handlers.reflect_status), group=AFTER)

