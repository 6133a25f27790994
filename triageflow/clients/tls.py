"""One verified TLS context for the whole process.

Building one reads the CA bundle: 20–40 ms of CPU that holds the interpreter lock. A client built per
call (a Telegram alert, a GlitchTip client per batch of webhooks) paid it every time, and the service's
request path waited behind it. An SSL context is safe to share between clients and threads.
"""

from __future__ import annotations

import ssl
from functools import lru_cache

import httpx


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR), built once."""
    return httpx.create_ssl_context()
