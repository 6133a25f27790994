"""Shared fixtures: the sandbox over loopback, clients pointed at it, databases on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest

from triageflow.settings import reset_settings

# what real servers and SDKs recorded (copied from the team's shared recordings; JSON data only)
PEERS = Path(__file__).resolve().parent / "fixtures" / "peers"

POSTGRES_ADMIN_URL = os.environ.get("TRIAGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

# Everything a test does is offline and quiet.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def peers() -> Path:
    if not PEERS.is_dir():
        pytest.fail(f"recorded peers not found at {PEERS}")
    return PEERS


# The GlitchTip releases every sandbox test runs against (issue 11); narrow it for a quick local run,
# e.g. TRIAGE_TEST_GLITCHTIP_RELEASES=5.1. A test for one release's behaviour says
# @pytest.mark.glitchtip_releases("2024").
GLITCHTIP_RELEASES = tuple(r.strip() for r in os.environ.get("TRIAGE_TEST_GLITCHTIP_RELEASES",
                                                                "2024,4.2.1,5.1").split(",") if r.strip())


def pytest_configure(config):
    config.addinivalue_line("markers", "glitchtip_releases(*names): run only against these sandbox GlitchTip releases")


def pytest_generate_tests(metafunc):
    """Every test that reaches the sandbox runs once per GlitchTip release (one sandbox per release)."""
    if "glitchtip_release" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("glitchtip_releases")
    names = [r for r in GLITCHTIP_RELEASES if marker is None or r in marker.args]
    metafunc.parametrize("glitchtip_release", names, indirect=True, scope="session")


@pytest.fixture(scope="session")
def glitchtip_release(request) -> str:
    """The release the sandbox answers as: `2024`, `4.2.1` or `5.1`."""
    return getattr(request, "param", "5.1")


@pytest.fixture(scope="session")
def sandbox_server(glitchtip_release, tmp_path_factory):
    from triageflow.sandbox import SandboxServer

    server = SandboxServer(codebase_dir=tmp_path_factory.mktemp("codebase") / "booking", keep_alive=1.0,
                           glitchtip_release=glitchtip_release)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server):
    """The live sandbox, reset to its seed (state, faults, request log) before each test."""
    httpx.post(f"{sandbox_server.url}/_sandbox/reset").raise_for_status()
    return sandbox_server


class SandboxControl:
    """The sandbox's control API, as a test uses it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def fault(self, path: str, kind: str, **kw) -> None:
        httpx.post(f"{self.url}/_sandbox/faults", json={"path": path, "kind": kind, **kw}).raise_for_status()

    def outbox(self, service: str | None = None) -> list[dict]:
        return httpx.get(f"{self.url}/_sandbox/outbox", params={"service": service} if service else None).json()

    def requests(self, path_prefix: str = "", method: str | None = None) -> list[dict]:
        rows = httpx.get(f"{self.url}/_sandbox/requests").json()
        return [r for r in rows if r["path"].startswith(path_prefix) and (method is None or r["method"] == method)]


@pytest.fixture
def control(sandbox) -> SandboxControl:
    return SandboxControl(sandbox.url)


@pytest.fixture
def glitchtip(sandbox, tmp_path):
    """A client on the sandbox with fast backoff and no rate limit, so fault tests stay quick."""
    from triageflow.clients.glitchtip import GlitchTip

    with GlitchTip(sandbox.url, sandbox.token, "acme", backoff_initial=0.01, backoff_max=0.05, rate_limit=0,
                   retries=3, backup_dir=tmp_path / "backups") as gt:
        yield gt


def _postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    ok = _postgres_available()
    if not ok and os.environ.get("TRIAGE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required (TRIAGE_REQUIRE_POSTGRES=1) but {POSTGRES_ADMIN_URL} does not answer")
    return ok


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty, migrated database: a SQLite file, and a fresh PostgreSQL database when the server answers."""
    from models.db import dispose_all, upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'triage.db'}"
        upgrade(url)
        yield url
        dispose_all()
        return
    if not request.getfixturevalue("postgres_available"):
        pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN_URL} does not answer")
    import psycopg

    name = f"triage_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    dispose_all()
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def triage_env(monkeypatch, sandbox, tmp_path):
    """Environment variables that point triageflow at the sandbox and a SQLite file."""
    from models.db import upgrade

    db = f"sqlite:///{tmp_path / 'env.db'}"
    upgrade(db)
    from triageflow.cli import sandbox_env

    values = dict(sandbox_env(sandbox), TRIAGE_DATABASE_URL=db, TRIAGE_ENV="development",
                  TRIAGE_BACKUP_DIR=str(tmp_path / "backups"), GLITCHTIP_RETRIES="1", GLITCHTIP_RATE_LIMIT="0")
    for key in ("TRIAGE_DRY_RUN", "GLITCHTIP_PROJECT", "PREFECT_API_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    reset_settings()
    yield values
    reset_settings()


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server and database for the whole session (flow tests only)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
