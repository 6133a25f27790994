"""Telegram Bot API through python-telegram-bot, with its errors mapped onto the client family."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import SecretStr
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram import error as tg
from telegram.request import HTTPXRequest

from .errors import ClientError, RateLimited, Rejected, Unauthorized, Unavailable
from .tls import tls_context

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

Button = tuple[str, str]  # (label, "https://..." URL or callback data)


def keyboard(rows: Sequence[Sequence[Button]] | None) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, url=target) if target.startswith(("http://", "https://"))
                                  else InlineKeyboardButton(label, callback_data=target[:64])
                                  for label, target in row] for row in rows])


class Telegram:
    """Sends to one chat. Each call runs python-telegram-bot's async Bot to completion."""

    service = "telegram"

    def __init__(self, token: SecretStr | str, chat_id: str, *, api_url: str = "https://api.telegram.org",
                 timeout: float = 20.0) -> None:
        self._token = token.get_secret_value() if isinstance(token, SecretStr) else token
        self.chat_id = chat_id
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Telegram({self.api_url!r}, chat_id={self.chat_id!r}, token=**********)"

    def _bot(self) -> Bot:
        """A Bot for one call. Both of its requesters get the process's TLS context: left to themselves
        they build two (about 80 ms of CPU an alert, holding the interpreter)."""
        def requester() -> HTTPXRequest:
            return HTTPXRequest(connect_timeout=self.timeout, read_timeout=self.timeout, write_timeout=self.timeout,
                                httpx_kwargs={"verify": tls_context()})

        return Bot(self._token, base_url=f"{self.api_url}/bot", base_file_url=f"{self.api_url}/file/bot",
                   request=requester(), get_updates_request=requester())

    def _run(self, method: str, call):
        async def go():
            async with self._bot() as bot:
                return await call(bot)

        try:
            return asyncio.run(go())
        except tg.RetryAfter as exc:
            seconds = exc.retry_after.total_seconds() if hasattr(exc.retry_after, "total_seconds") else exc.retry_after
            raise RateLimited(f"telegram rate limited: {exc}", retry_after=float(seconds), service=self.service,
                              method="POST", path=method, status=429) from None
        except (tg.InvalidToken, tg.Forbidden) as exc:
            raise Unauthorized(f"telegram refused the bot: {exc}", service=self.service, method="POST",
                               path=method, status=403) from None
        except tg.BadRequest as exc:
            raise Rejected(f"telegram rejected {method}: {exc}", service=self.service, method="POST", path=method,
                           status=400, server_message=str(exc)) from None
        except (tg.TimedOut, tg.NetworkError) as exc:
            raise Unavailable(f"telegram unreachable: {exc}", service=self.service, method="POST", path=method) from None
        except tg.TelegramError as exc:
            raise ClientError(f"telegram error on {method}: {exc}", service=self.service, method="POST",
                              path=method) from None

    def get_me(self) -> dict:
        return self._run("getMe", lambda bot: bot.get_me()).to_dict()

    def send_message(self, html: str, buttons: Sequence[Sequence[Button]] | None = None) -> int:
        if len(html) > TEXT_LIMIT:
            raise Rejected(f"telegram message is {len(html)} characters; the limit is {TEXT_LIMIT}", service=self.service)
        message = self._run("sendMessage", lambda bot: bot.send_message(
            self.chat_id, html, parse_mode="HTML", reply_markup=keyboard(buttons), disable_web_page_preview=True))
        return message.message_id

    def send_photo(self, png: bytes, caption_html: str = "", buttons: Sequence[Sequence[Button]] | None = None) -> int:
        if len(caption_html) > CAPTION_LIMIT:
            raise Rejected(f"telegram caption is {len(caption_html)} characters; the limit is {CAPTION_LIMIT}",
                           service=self.service)
        message = self._run("sendPhoto", lambda bot: bot.send_photo(
            self.chat_id, png, caption=caption_html or None, parse_mode="HTML", reply_markup=keyboard(buttons)))
        return message.message_id


def telegram_from_settings(s) -> Telegram:
    s.require("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")
    return Telegram(s.telegram_bot_token, s.telegram_chat_id, api_url=s.telegram_api_url)
