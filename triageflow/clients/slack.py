"""Slack Web API through slack-sdk, with its errors mapped onto the client family."""

from __future__ import annotations

from typing import Any
from urllib.error import URLError

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from .errors import ClientError, RateLimited, Rejected, Unauthorized, Unavailable
from .tls import tls_context

AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "missing_scope"}


class Slack:
    """Posts to one channel."""

    service = "slack"

    def __init__(self, token: SecretStr | str, channel: str, *, api_url: str = "https://slack.com/api/",
                 timeout: int = 20) -> None:
        raw = token.get_secret_value() if isinstance(token, SecretStr) else token
        base = api_url if api_url.endswith("/") else api_url + "/"  # slack-sdk joins method names onto it
        self.channel = channel
        self._client = WebClient(token=raw, base_url=base, timeout=timeout, ssl=tls_context())

    def __repr__(self) -> str:
        return f"Slack({self._client.base_url!r}, channel={self.channel!r}, token=**********)"

    def _call(self, method: str, fn, *args, **kwargs) -> Any:
        try:
            return fn(*args, **kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error", "") if exc.response is not None else ""
            status = getattr(exc.response, "status_code", None)
            if status == 429:
                retry = float(exc.response.headers.get("Retry-After", 1))
                raise RateLimited(f"slack rate limited on {method}", retry_after=retry, service=self.service,
                                  method="POST", path=method, status=429) from None
            if status is not None and status >= 500:  # every step, the upload's three included, may be retried
                raise Unavailable(f"slack answered {status} on {method}", service=self.service, method="POST",
                                  path=method, status=status) from None
            if error in AUTH_ERRORS:
                raise Unauthorized(f"slack refused the token: {error}", service=self.service, method="POST",
                                   path=method, status=status, server_message=error) from None
            raise Rejected(f"slack rejected {method}: {error or exc}", service=self.service, method="POST",
                           path=method, status=status, server_message=error) from None
        except (URLError, ConnectionError, TimeoutError, OSError) as exc:
            raise Unavailable(f"slack unreachable: {exc}", service=self.service, method="POST", path=method) from None
        except Exception as exc:  # noqa: BLE001 - slack-sdk raises plain errors for malformed answers
            raise ClientError(f"slack error on {method}: {exc}", service=self.service, path=method) from None

    def auth_test(self) -> dict:
        return self._call("auth.test", self._client.auth_test).data

    def post_message(self, text: str, blocks: list[dict] | None = None, thread_ts: str | None = None) -> str:
        response = self._call("chat.postMessage", self._client.chat_postMessage, channel=self.channel, text=text,
                              blocks=blocks, thread_ts=thread_ts, unfurl_links=False)
        return response["ts"]

    def upload_file(self, data: bytes, filename: str, title: str, initial_comment: str | None = None,
                    thread_ts: str | None = None) -> str:
        response = self._call("files.upload", self._client.files_upload_v2, content=data, filename=filename,
                              title=title, channel=self.channel, initial_comment=initial_comment, thread_ts=thread_ts)
        return response["files"][0]["id"] if response.get("files") else ""


def slack_from_settings(s) -> Slack:
    s.require("SLACK_BOT_TOKEN", "SLACK_CHANNEL")
    return Slack(s.slack_bot_token, s.slack_channel, api_url=s.slack_api_url)
