"""A labelled corpus of realistic error titles: which runbook each should link to, or none.

Half are look-alikes that share words with a runbook's topic but are a different problem. Entries
are (text, expected runbook id or None) or (dict of issue fields, expected).
"""

DB, REDIS, MODULE, RATE, TIMEOUT, TOKEN, OOM, DISK = (
    "database-connection", "redis-connection-refused", "module-not-found", "upstream-rate-limited",
    "upstream-timeout", "expired-session-or-token", "out-of-memory", "disk-full",
)

CORPUS = [
    # ---- database connection / pool (Python, Java, Node, Go)
    ("ConnectionTimeout: Connection timeout to PostgreSQL at db.internal:5432 (attempt 1, pool=main)", DB),
    ("PoolExhausted: QueuePool limit of size 10 overflow 0 reached, connection timed out, timeout 0", DB),
    ("TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00", DB),
    ("OperationalError: FATAL:  remaining connection slots are reserved for non-replication superuser connections", DB),
    ("psycopg2.OperationalError: could not connect to server: Connection refused", DB),
    ("OperationalError: connection to server at \"db.internal\" (10.0.0.12), port 5432 failed: timeout expired", DB),
    ("java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.", DB),
    ("com.mysql.cj.jdbc.exceptions.CommunicationsException: Communications link failure", DB),
    ("KnexTimeoutError: Knex: Timeout acquiring a connection. The pool is probably full.", DB),
    ("pq: sorry, too many clients already", DB),
    ("dial tcp 10.0.0.12:5432: i/o timeout", DB),
    # look-alikes
    ("ValueError: Connection timeout must be an integer, got '3s'", None),
    ("Slow query: bookings by company took 2.4 s", None),
    ("IntegrityError: duplicate key value violates unique constraint \"bookings_pkey\"", None),
    ("ProgrammingError: relation \"bookings_archive\" does not exist", None),
    ("KeyError: 'pool'", None),
    ("psycopg2.errors.SerializationFailure: could not serialize access due to concurrent update", None),

    # ---- redis
    ("redis.exceptions.ConnectionError: Error 111 connecting to cache.internal:6379. Connection refused.", REDIS),
    ({"title": "ConnectionRefusedError: [Errno 111] Connection refused", "culprit": "app.cache.redis_client in _command",
      "message": "[Errno 111] Connection refused", "exception_type": "ConnectionRefusedError"}, REDIS),
    ("Error: connect ECONNREFUSED 10.0.0.5:6379", REDIS),
    ("org.springframework.data.redis.RedisConnectionFailureException: Unable to connect to Redis", REDIS),
    ("dial tcp 10.0.0.5:6379: connect: connection refused", REDIS),
    # look-alikes
    ("LookupError: Redis key not found: availability:962302:2026-11-23", None),
    ("redis.exceptions.ResponseError: WRONGTYPE Operation against a key holding the wrong kind of value", None),
    ({"title": "ConnectionRefusedError: [Errno 111] Connection refused", "culprit": "app.integrations.sms in send",
      "message": "[Errno 111] Connection refused", "exception_type": "ConnectionRefusedError"}, None),
    ("Redis cache hit ratio dropped below 50%", None),

    # ---- module not found
    ("ModuleNotFoundError: No module named 'app.plugins.loyalty'", MODULE),
    ("ImportError: cannot import name 'Booking' from 'app.models' (/srv/booking/app/models/__init__.py)", MODULE),
    ("Error: Cannot find module 'express'", MODULE),
    ("Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'zod' imported from /srv/web/dist/index.js", MODULE),
    ("java.lang.NoClassDefFoundError: org/apache/commons/lang3/StringUtils", MODULE),
    ("main.go:7:2: no required module provides package github.com/acme/booking/internal/pay", MODULE),
    # look-alikes
    ("AttributeError: module 'app.services.booking_monitor' has no attribute 'total'", None),
    ("FileNotFoundError: [Errno 2] No such file or directory: '/srv/booking/config/module.yaml'", None),
    ("TypeError: Cannot read properties of undefined (reading 'module')", None),
    ("KeyError: 'module_name'", None),

    # ---- rate limited
    ("RateLimited: YClients API returned 429 Too Many Requests for company 962302 page 1", RATE),
    ("HTTPError: 429 Client Error: Too Many Requests for url: https://api.yclients.com/api/v1/records/962302", RATE),
    ("openai.RateLimitError: Error code: 429 - rate limit exceeded", RATE),
    ("AxiosError: Request failed with status code 429", RATE),
    ("github.RateLimitExceededException: 403 API rate limit exceeded for installation", RATE),
    ("Error: googleapi: Error 429: Quota exceeded, rateLimitExceeded", RATE),
    # look-alikes
    ("ValueError: invalid rate limit setting '10/s/x'", None),
    ("Booking rate for company 962302 exceeded the monthly plan", None),
    ("KeyError: 'rate'", None),
    ("Request failed with status 502", None),

    # ---- upstream timeout
    ("ReadTimeout: timed out", TIMEOUT),
    ("ReadTimeout: The read operation timed out", TIMEOUT),
    ("TimeoutError: Gateway did not answer within 5.0 s", TIMEOUT),
    ("httpx.ConnectTimeout: timed out", TIMEOUT),
    ("java.net.SocketTimeoutException: Read timed out", TIMEOUT),
    ("Get \"https://pay.example.net/v2/charges\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)", TIMEOUT),
    ("Error: connect ETIMEDOUT 203.0.113.7:443", TIMEOUT),
    ("Error: 504 Gateway Timeout from https://pay.example.net/v2/charges", TIMEOUT),
    # look-alikes
    ("ValueError: timeout must be a positive number", None),
    ("Booking timeout reminder sent twice", None),
    ("asyncio.CancelledError", None),
    ("TypeError: Failed to fetch", None),

    # ---- expired session / token
    ("SessionExpired: WhatsApp session expired for company 962302", TOKEN),
    ("TokenExpired: Access token expired at 1763800000 for partner partner-17", TOKEN),
    ("jwt.exceptions.ExpiredSignatureError: Signature has expired", TOKEN),
    ("TokenExpiredError: jwt expired", TOKEN),
    ("io.jsonwebtoken.ExpiredJwtException: JWT expired at 2026-11-22T10:00:00Z", TOKEN),
    ("OAuthError: invalid_grant: refresh token is expired or revoked", TOKEN),
    ("Ошибка отправки напоминания клиенту: сессия WhatsApp недействительна", TOKEN),
    # look-alikes
    ("Session created for company 962302", None),
    ("KeyError: 'session'", None),
    ("TypeError: token.split is not a function", None),
    ("Certificate for pay.example.net will expire in 7 days", None),
    ("Partner token rotated by admin", None),

    # ---- out of memory
    ("MemoryError", OOM),
    ("java.lang.OutOfMemoryError: Java heap space", OOM),
    ("FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory", OOM),
    ("fatal error: runtime: out of memory", OOM),
    ("OSError: [Errno 12] Cannot allocate memory", OOM),
    ("Container booking-worker was OOMKilled (exit code 137)", OOM),
    # look-alikes
    ("Memory usage at 71% on worker-2", None),
    ("ValueError: memory limit setting must end in M or G", None),
    ("KeyError: 'memory'", None),
    ("RecursionError: maximum recursion depth exceeded", None),

    # ---- disk full
    ("OSError: [Errno 28] No space left on device: '/var/lib/booking/uploads/contract.pdf'", DISK),
    ("Error: ENOSPC: no space left on device, write", DISK),
    ("sqlite3.OperationalError: database or disk is full", DISK),
    ("psycopg2.errors.DiskFull: could not extend file \"base/16384/2619\": No space left on device", DISK),
    ("write /var/log/booking/api.log: no space left on device", DISK),
    ("OSError: [Errno 122] Disk quota exceeded", DISK),
    # look-alikes
    ("Disk usage report generated for 2026-11", None),
    ("FileNotFoundError: [Errno 2] No such file or directory: '/var/lib/booking/uploads/x.pdf'", None),
    ("PermissionError: [Errno 13] Permission denied: '/var/log/booking/worker.log'", None),

    # ---- plain application bugs: no runbook
    ("ZeroDivisionError: division by zero", None),
    ("TypeError: Cannot read properties of undefined (reading 'price')", None),
    ("java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"name\" is null", None),
    ("panic: runtime error: index out of range [3] with length 3", None),
    ("KeyError: 'booking_id'", None),
    ("ValueError: Payment gateway rejected card [card]: insufficient funds", None),
    ("Booking monitor heartbeat missed", None),
    ("ResizeObserver loop completed with undelivered notifications", None),
]
