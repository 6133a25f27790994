"""Redis cache for availability lookups."""

import socket

REDIS_HOST = "cache.internal"
REDIS_PORT = 6379


def get_availability(company_id: int, day: str):
    key = f"availability:{company_id}:{day}"
    return _command("GET", key)


def _command(*args):
    sock = socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1)
    try:
        sock.sendall(" ".join(args).encode() + b"\r\n")
        return sock.recv(4096)
    finally:
        sock.close()
