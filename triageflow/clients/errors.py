"""The one exception family that every outside-service client raises.

    ClientError                 something went wrong talking to an outside service
     +-- Transient              worth retrying later
     |    +-- Unavailable       network error, timeout, 5xx
     |    +-- RateLimited       429; carries the server's Retry-After
     +-- CircuitOpen            too many failures in a row; calls are refused for a while
     +-- NotFound               404
     +-- Unauthorized           401/403: the token is wrong or lacks scope
     +-- Rejected               any other 4xx: the request itself is wrong
     +-- Refused                the client would not send it (unsafe or invalid before sending)
     +-- UnexpectedAnswer       the server answered something that is not API data (a web page)
     +-- Unsupported            the server's release has no such endpoint (e.g. issues-stats before 5.1)

Callers never see httpx exceptions or raw status codes.
"""

from __future__ import annotations


class ClientError(Exception):
    """An outside service call failed. Carries what was asked and what the server said."""

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        method: str = "",
        path: str = "",
        status: int | None = None,
        server_message: str = "",
    ) -> None:
        self.service = service
        self.method = method
        self.path = path
        self.status = status
        self.server_message = server_message
        super().__init__(message)

    @property
    def request_line(self) -> str:
        arrow = f" → {self.status}" if self.status is not None else ""
        return f"{self.method} {self.path}{arrow}"


class Transient(ClientError):
    """A failure that a retry may cure."""


class Unavailable(Transient):
    """The service did not answer, or answered 5xx."""


class RateLimited(Transient):
    """The service answered 429."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class CircuitOpen(ClientError):
    """Calls are refused for a while after repeated failures."""

    def __init__(self, message: str, *, reopens_in: float, **kw) -> None:
        self.reopens_in = reopens_in
        super().__init__(message, **kw)


class NotFound(ClientError):
    """The thing asked for does not exist."""


class Unauthorized(ClientError):
    """The credentials were refused."""


class Rejected(ClientError):
    """The server refused the request as invalid (4xx other than 401/403/404/429)."""


class Refused(ClientError):
    """The client refused to send a request that would do harm or cannot be right."""


class UnexpectedAnswer(ClientError):
    """The server answered with something other than API data (an HTML page where JSON was expected)."""


class Unsupported(ClientError):
    """The server's release does not offer this call; the caller should use another way."""
