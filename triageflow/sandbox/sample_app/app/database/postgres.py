"""PostgreSQL access for the booking service."""

import time

from app.database.pool import Pool, PoolExhausted

DB_HOST = "db.internal"
DB_PORT = 5432
CONNECT_TIMEOUT = 3


class ConnectionTimeout(Exception):
    pass


_pool = Pool(name="main", size=10)


def connect(attempt: int = 1):
    started = time.monotonic()
    conn = _pool.acquire(timeout=CONNECT_TIMEOUT)
    if conn is None:
        raise ConnectionTimeout(f"Connection timeout to PostgreSQL at {DB_HOST}:{DB_PORT} (attempt {attempt}, pool={_pool.name})")
    conn.started = started
    return conn


def query(sql: str, *params):
    conn = connect()
    try:
        return conn.execute(sql, params)
    finally:
        _pool.release(conn)


def checkout_for_report():
    try:
        return _pool.acquire(timeout=0)
    except PoolExhausted:
        raise
