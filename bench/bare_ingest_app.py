"""The floor for `bench/telemetry_ingest.py`: an ASGI app that reads an envelope's body and answers 200 with a
small JSON body, doing nothing else. Served by the same uvicorn with the same flags and driven by the same
clients in the same run, it shows what this machine's HTTP layer alone costs."""

from __future__ import annotations

_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"2")]


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": b"{}"})
