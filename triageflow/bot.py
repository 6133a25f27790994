"""The Telegram bot: /errors, /stats, /investigate, /resolve, /ignore, /help, and the alert buttons.

Only chats in TELEGRAM_CHAT_ID/TELEGRAM_ALLOWED_CHATS (and, when set, users in TELEGRAM_ALLOWED_USERS)
may use it; anyone else gets a refusal and an audit row. Changes ask for confirmation first.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from tasks.glitchtip_actions import change_status
from tasks.metrics import aggregate, events_frame, window_for
from tasks.similarity import issue_link

from . import bot_confirm as confirmations
from .audit import acting_as, audited
from .bot_health import register as register_health_handlers  # issue 14
from .clients.errors import ClientError
from .clients.glitchtip import glitchtip_from_settings
from .scrub import scrub
from .settings import Settings, load_settings

LIMIT = 4000
USAGE = {
    "errors": "/errors [component] [hours] — unresolved issues seen in the last hours (default 24), top 10",
    "stats": "/stats [24h|7d|30d] — events by component and level, against the period before",
    "investigate": "/investigate <issue id> — investigate now and post the findings on the issue",
    "resolve": "/resolve <issue id> — resolve, after you confirm",
    "ignore": "/ignore <issue id> — ignore, after you confirm",
    "help": "/help — this list",
}
PERIODS = {"24h": 1, "7d": 7, "30d": 30}


def h(text) -> str:
    """Escaped for Telegram's HTML, personal data scrubbed first."""
    return escape(scrub(str(text)), quote=False)


def _ids(raw: str) -> set[int]:
    return {int(x) for x in raw.replace(" ", "").split(",") if x.lstrip("-").isdigit()}


class TriageBot:
    def __init__(self, settings: Settings | None = None) -> None:
        self.s = settings or load_settings()
        self.chats = _ids(self.s.telegram_allowed_chats) | _ids(self.s.telegram_chat_id or "")
        self.users = _ids(self.s.telegram_allowed_users)

    # ------------------------------------------------------------------ access

    def _allowed(self, update: Update) -> bool:
        chat, user = update.effective_chat, update.effective_user
        return bool(chat and chat.id in self.chats and (not self.users or (user and user.id in self.users)))

    async def _guard(self, update: Update, action: str) -> bool:
        if self._allowed(update):
            return True
        chat, user = update.effective_chat, update.effective_user
        target = f"chat:{chat.id if chat else '?'}/user:{user.id if user else '?'}"

        def record():
            with audited(self.s.triage_database_url, "telegram", "bot.refused", target, dry_run=False,
                         detail={"action": action}, actor=f"telegram:{user.id if user else '?'}") as entry:
                entry.outcome = "refused"

        await asyncio.to_thread(record)
        await self._reply(update, "⛔ This chat or user may not use triageflow.")
        return False

    @staticmethod
    async def _reply(update: Update, html: str, buttons=None) -> None:
        if len(html) > LIMIT:
            html = html[: LIMIT - 20].rsplit("\n", 1)[0] + "\n…"
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in row] for row in buttons]) if buttons else None
        await update.effective_chat.send_message(html, parse_mode="HTML", reply_markup=markup,
                                                 disable_web_page_preview=True)

    def _link(self, issue_id: str) -> str:
        return issue_link(self.s.glitchtip_url, self.s.glitchtip_org, issue_id)

    # ------------------------------------------------------------------ commands

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._guard(update, "help"):
            await self._reply(update, "<b>triageflow</b>\n" + "\n".join(h(u) for u in USAGE.values()))

    async def errors(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._guard(update, "errors"):
            return
        args = list(context.args or [])
        hours = int(args.pop()) if args and args[-1].isdigit() else 24
        component = args.pop(0) if args else None
        if args or not 1 <= hours <= 24 * 30 or (component and not component.replace("-", "").replace("_", "").isalnum()):
            await self._reply(update, h("usage: " + USAGE["errors"]))
            return
        await self._reply(update, await asyncio.to_thread(self._errors_text, component, hours))

    def _errors_text(self, component: str | None, hours: int) -> str:
        since = datetime.now(timezone.utc) - timedelta(hours=hours)
        query = "is:unresolved" + (f" component:{component}" if component else "")
        with glitchtip_from_settings(self.s) as gt:
            seen = [i for i in gt.issues(query) if i.last_seen >= since]
        seen.sort(key=lambda i: i.event_count, reverse=True)
        where = f" in <b>{h(component)}</b>" if component else ""
        if not seen:
            return f"✅ No unresolved issues{where} seen in the last {hours} h."
        lines = [f"<b>{len(seen)} unresolved issues{where} seen in the last {hours} h</b> (top 10 by events)"]
        for i in seen[:10]:
            lines.append(f'<a href="{escape(self._link(i.id))}">#{h(i.id)}</a> {h(i.level)} · {i.event_count} · '
                         f"{h(i.title[:100])}")
        return "\n".join(lines)

    async def stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._guard(update, "stats"):
            return
        args = list(context.args or [])
        period = args[0] if args else "24h"
        if len(args) > 1 or period not in PERIODS:
            await self._reply(update, h("usage: " + USAGE["stats"]))
            return
        await self._reply(update, await asyncio.to_thread(self._stats_text, period))

    def _stats_text(self, period: str) -> str:
        from flows.daily_metrics import collect_events

        days = PERIODS[period]
        now = datetime.now(timezone.utc)
        window = window_for(None, 24 * days, now, "bot")
        with glitchtip_from_settings(self.s) as gt:
            rows, meta = collect_events.fn(gt, now - timedelta(days=2 * days))
        frame = events_frame(rows)
        previous = window_for(None, 24 * days, window.start, "bot")
        earlier = aggregate(frame, meta, previous, history={})
        history = {c.component: {window.previous.day: c.events} for c in earlier.components}
        report = aggregate(frame, meta, window, history=history, history_is_complete=True)
        if report.quiet:
            return f"✅ All quiet: no errors in the last {period}."
        lines = [f"<b>Last {period}: {report.total_events} events in {report.total_issues} issues</b> "
                 f"(previous {period}: {earlier.total_events})", "", "<b>By component</b>"]
        lines += [f"{c.priority} {h(c.component)}: {c.events} {c.trend} (was {c.previous})" for c in report.components]
        lines += ["", "<b>By level</b>: " + h(", ".join(f"{k} {v}" for k, v in report.levels))]
        return "\n".join(lines)

    async def investigate(self, update: Update, context: ContextTypes.DEFAULT_TYPE, issue_id: str | None = None) -> None:
        if not await self._guard(update, "investigate"):
            return
        issue_id = issue_id or (context.args[0] if context.args and len(context.args) == 1 else "")
        if not issue_id.isdigit():
            await self._reply(update, h("usage: " + USAGE["investigate"]))
            return
        await self._reply(update, f"🔎 Investigating #{h(issue_id)}…")
        await self._reply(update, await asyncio.to_thread(self._investigate_text, issue_id, update))

    def _investigate_text(self, issue_id: str, update: Update) -> str:
        from .service.alerting import deployment_exists, start_investigation

        user = update.effective_user
        with acting_as(f"telegram:{user.id if user else '?'}"):
            if deployment_exists():
                start_investigation(issue_id, self.s)
                return f"Investigation of #{h(issue_id)} started on the Prefect server; its comment will be on the issue."
            from flows.investigate import investigate_issue
            from tasks.investigation_report import summary_line
            from models.investigations import Investigation

            state = investigate_issue(issue_id, return_state=True)
            try:
                result = state.result()
            except ClientError as exc:
                return f"❌ {h(exc)}"
        inv = Investigation.model_validate(result["investigation"])
        status = {"posted": "comment posted", "already posted": "already commented earlier"}.get(
            result["comment_status"], result["comment_status"])
        return (f"{h(summary_line(inv)).replace('**', '')}\n"
                f'<a href="{escape(inv.link)}">#{h(issue_id)}</a> · {h(status)}')

    async def ask_to_change(self, update: Update, context: ContextTypes.DEFAULT_TYPE, status: str,
                            issue_id: str | None = None) -> None:
        verb = "resolve" if status == "resolved" else "ignore"
        if not await self._guard(update, verb):
            return
        issue_id = issue_id or (context.args[0] if context.args and len(context.args) == 1 else "")
        if not issue_id.isdigit():
            await self._reply(update, h("usage: " + USAGE[verb]))
            return
        try:
            issue = await asyncio.to_thread(self._issue, issue_id)
        except ClientError as exc:
            await self._reply(update, f"❌ {h(exc)}")
            return
        token = await asyncio.to_thread(self._ask, update, issue.id, verb)
        minutes = max(1, self.s.bot_confirm_seconds // 60)
        await self._reply(update, f"{verb.capitalize()} #{h(issue.id)} <b>{h(issue.title[:200])}</b>? "
                                  f"(this button works for you, once, for {minutes} min)",
                          [[(f"Yes, {verb}", f"confirm:{token}"), ("Cancel", f"cancel:{token}")]])

    def _ask(self, update: Update, issue_id: str, verb: str) -> str:
        user = update.effective_user
        return confirmations.ask(self.s.triage_database_url, chat_id=update.effective_chat.id,
                                 user_id=user.id if user else None, issue_id=issue_id, action=verb,
                                 ttl_seconds=self.s.bot_confirm_seconds)

    def _consume(self, update: Update, token: str, outcome: str):
        """The confirmation behind `token`, used up; None (refused and audited) when it may not be used."""
        chat, user = update.effective_chat, update.effective_user
        try:
            return confirmations.consume(self.s.triage_database_url, token, chat_id=chat.id,
                                         user_id=user.id if user else None, outcome=outcome)
        except confirmations.NotConfirmable as exc:
            with audited(self.s.triage_database_url, "telegram", "bot.confirm.refused",
                         f"chat:{chat.id}/user:{user.id if user else '?'}", dry_run=False,
                         detail={"callback": scrub(token)[:64], "reason": str(exc)},
                         actor=f"telegram:{user.id if user else '?'}") as entry:
                entry.outcome = "refused"
            return None

    def _issue(self, issue_id: str):
        with glitchtip_from_settings(self.s) as gt:
            return gt.issue(issue_id)

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer()
        data = query.data or ""
        action, _, issue_id = data.partition(":")
        if action == "investigate":
            await self.investigate(update, context, issue_id)
        elif action in ("resolve", "ignore"):
            await self.ask_to_change(update, context, "resolved" if action == "resolve" else "ignored", issue_id)
        elif action == "confirm":
            if not await self._guard(update, "confirm"):
                return
            confirmed = await asyncio.to_thread(self._consume, update, issue_id, "confirmed")
            if confirmed is None:
                await self._reply(update, "⛔ That confirmation is not valid here (unknown, expired, used, or asked "
                                          "for by someone else). Ask again with /resolve or /ignore.")
                return
            status = "resolved" if confirmed.action == "resolve" else "ignored"
            text = await asyncio.to_thread(self._change, confirmed.issue_id, status, update)
            await self._reply(update, text)
        elif action == "cancel" and await self._guard(update, "cancel"):
            if issue_id:
                await asyncio.to_thread(self._consume, update, issue_id, "cancelled")
            await self._reply(update, "Cancelled.")

    def _change(self, issue_id: str, status: str, update: Update) -> str:
        user = update.effective_user
        try:
            with glitchtip_from_settings(self.s) as gt, acting_as(f"telegram:{user.id if user else '?'}"):
                outcome = change_status(gt, issue_id, status, dry_run=self.s.triage_dry_run,
                                        database_url=self.s.triage_database_url)
        except ClientError as exc:
            return f"❌ {h(exc)}"
        done = {"changed": f"✅ #{issue_id} is now {status}.", "dry-run": f"#{issue_id} would be {status} (dry-run)."}
        return h(done.get(outcome.reason, f"#{issue_id}: {outcome.reason}"))


def build_application(settings: Settings | None = None) -> Application:
    s = settings or load_settings()
    s.require("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")
    bot = TriageBot(s)
    api = s.telegram_api_url.rstrip("/")
    application = (ApplicationBuilder().token(s.telegram_bot_token.get_secret_value()).base_url(f"{api}/bot")
                   .base_file_url(f"{api}/file/bot").concurrent_updates(True).build())
    application.add_handler(CommandHandler(["help", "start"], bot.help))
    application.add_handler(CommandHandler("errors", bot.errors))
    application.add_handler(CommandHandler("stats", bot.stats))
    application.add_handler(CommandHandler("investigate", bot.investigate))
    application.add_handler(CommandHandler("resolve", lambda u, c: bot.ask_to_change(u, c, "resolved")))
    application.add_handler(CommandHandler("ignore", lambda u, c: bot.ask_to_change(u, c, "ignored")))
    application.add_handler(CallbackQueryHandler(bot.button))
    register_health_handlers(application, bot)  # issue 14: /snooze, /unsnooze, 😴 and 👍/👎 buttons
    return application


class BotInBackground:
    """The bot polling from a thread with its own event loop (tests, demo); `stop()` ends it cleanly."""

    def __init__(self, settings: Settings | None = None, poll_interval: float = 0.05) -> None:
        self.application = build_application(settings)
        self.poll_interval = poll_interval
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="triage-bot", daemon=True)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        app = self.application
        await app.initialize()
        await app.start()
        await app.updater.start_polling(poll_interval=self.poll_interval, timeout=1)
        self._ready.set()
        await self._stop.wait()
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    def __enter__(self) -> "BotInBackground":
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the bot did not start polling")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
