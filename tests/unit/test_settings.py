"""Settings: names in errors, dev tokens refused in production, secrets never shown."""

import pytest

from triageflow.settings import ConfigError, load_settings

GOOD_TOKEN = "a3f1" * 16  # 64 hex characters, as GlitchTip issues them
DEV_TOKEN = "dev_sandbox_5f1c2e8a9b7d4c3e8f6a1b2c3d4e5f60"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for key in ("GLITCHTIP_URL", "GLITCHTIP_TOKEN", "GLITCHTIP_ORG", "TRIAGE_ENV", "TELEGRAM_BOT_TOKEN",
                "SLACK_BOT_TOKEN", "GITHUB_TOKEN", "GITHUB_REPO", "TRIAGE_DRY_RUN", "GLITCHTIP_PROJECT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_need_nothing(monkeypatch):
    s = load_settings()
    assert s.triage_database_url.startswith("sqlite:///")
    assert s.triage_env == "development" and s.triage_dry_run is False
    assert s.glitchtip_timeout == 30.0 and s.glitchtip_rate_limit == 10.0 and s.glitchtip_max_in_flight == 2


def test_missing_variables_are_named():
    with pytest.raises(ConfigError, match="GLITCHTIP_URL, GLITCHTIP_TOKEN, GLITCHTIP_ORG"):
        load_settings().require("GLITCHTIP_URL", "GLITCHTIP_TOKEN", "GLITCHTIP_ORG")


@pytest.mark.parametrize("variable,value", [
    ("GLITCHTIP_TOKEN", "short"),
    ("GLITCHTIP_TOKEN", "abc def" * 8),
    ("TELEGRAM_BOT_TOKEN", "not-a-bot-token"),
    ("SLACK_BOT_TOKEN", "bearer-something-long"),
    ("GITHUB_TOKEN", "password123"),
])
def test_malformed_tokens_fail_naming_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert variable in str(info.value)
    assert value not in str(info.value)


def test_dev_token_works_in_development_and_is_refused_in_production(monkeypatch):
    monkeypatch.setenv("GLITCHTIP_TOKEN", DEV_TOKEN)
    assert load_settings().glitchtip_token.get_secret_value() == DEV_TOKEN
    monkeypatch.setenv("TRIAGE_ENV", "production")
    with pytest.raises(ConfigError, match="GLITCHTIP_TOKEN is a development token"):
        load_settings()
    monkeypatch.setenv("GLITCHTIP_TOKEN", GOOD_TOKEN)
    assert load_settings().triage_env == "production"


def test_secrets_are_masked_in_repr_and_display(monkeypatch):
    monkeypatch.setenv("GLITCHTIP_TOKEN", GOOD_TOKEN)
    s = load_settings()
    assert GOOD_TOKEN not in repr(s) and GOOD_TOKEN not in str(s.model_dump())
    assert s.masked()["GLITCHTIP_TOKEN"] == "set (64 chars)"


def test_bad_url_and_repo_are_named(monkeypatch):
    monkeypatch.setenv("GLITCHTIP_URL", "glitchtip.local")
    monkeypatch.setenv("GITHUB_REPO", "just-a-name")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "GLITCHTIP_URL" in str(info.value) and "GITHUB_REPO" in str(info.value)


def test_env_file_is_read(tmp_path):
    (tmp_path / ".env").write_text(f"GLITCHTIP_ORG=from-file\nGLITCHTIP_TOKEN={GOOD_TOKEN}\n")
    s = load_settings()
    assert s.glitchtip_org == "from-file"
