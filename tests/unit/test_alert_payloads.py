"""Alert webhook bodies (real Alertmanager captures, Grafana's documented shape) → one alert each; the log
summary; the known-issue matcher. Pure."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from tasks.alert_known import match_known, validate_pattern
from tasks.alert_logs import logql_for, pattern_of, summarize_logs
from tasks.alert_payloads import parse_alert_group, parse_time
from tasks.alerts import WebhookError


def body(peers, name):
    data = json.loads((peers / "alerting" / name).read_text())
    return data.get("body") or data.get("body_json") or data


@pytest.mark.parametrize("name,source,expected", [
    ("alertmanager-firing-two-alerts.json", "alertmanager",
     [("17c769232630f7e0", "firing", "backend-api"), ("2fcc87574c2a7ba5", "firing", "backend-api")]),
    ("alertmanager-mixed-group.json", "alertmanager",
     [("ab5a824479f9da43", "resolved", "checkout"), ("f710b6df1f22f4f1", "firing", "checkout"),
      ("61ebb2887e4b0fbd", "firing", "checkout")]),
    ("alertmanager-from-prometheus-rule.json", "alertmanager", [("2601754a626c7316", "firing", "prom-selftest")]),
    ("grafana-webhook.json", "grafana", [("5b9f0c8e2a7d4e11", "firing", "backend-api")]),
    ("grafana-webhook-resolved.json", "grafana", None),
])
def test_every_alert_of_a_group_is_read(peers, name, source, expected):
    alerts = parse_alert_group(body(peers, name), source)
    if expected is not None:
        assert [(a.fingerprint, a.status, a.service) for a in alerts] == expected
    for alert in alerts:
        assert alert.starts_at.tzinfo is not None and (alert.ends_at is None) == (alert.status == "firing")


def test_grafana_values_links_and_nanosecond_times(peers):
    [alert] = parse_alert_group(body(peers, "grafana-webhook.json"), "grafana")
    assert alert.values == {"A": 0.124, "B": 1.0} and alert.links["silenceURL"].startswith("http://grafana.local")
    assert parse_time("2026-11-23T06:15:48.832123456Z", "x") == datetime(2026, 11, 23, 6, 15, 48, 832123,
                                                                          tzinfo=timezone.utc)
    assert parse_time("0001-01-01T00:00:00Z", "x") is None


def test_truncated_group_keeps_what_it_carries(peers):
    data = body(peers, "alertmanager-truncated.json")
    assert data["truncatedAlerts"] > 0 and len(parse_alert_group(data, "alertmanager")) == len(data["alerts"])


@pytest.mark.parametrize("bad,field", [
    ([], "body"), ({"version": "4"}, "alerts"), ({"version": "3", "alerts": [{}]}, "version"),
    ({"version": "4", "alerts": ["x"]}, "alerts[0]"),
    ({"version": "4", "alerts": [{"status": "firing", "labels": {}}]}, "alerts[0].labels.alertname"),
    ({"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "A"}, "startsAt": "yesterday"}]},
     "alerts[0].startsAt"),
    ({"version": "4", "alerts": [{"status": "firing", "labels": "a=b"}]}, "alerts[0].labels"),
])
def test_malformed_bodies_name_the_field(bad, field):
    with pytest.raises(WebhookError) as err:
        parse_alert_group(bad, "alertmanager")
    assert err.value.field == field


def test_log_summary_counts_users_without_keeping_them(peers):
    data = json.loads((peers / "alerting" / "loki" / "query-range-streams.json").read_text())
    start = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)
    lines = [SimpleNamespace(at=datetime.fromtimestamp(int(ts) / 1e9, tz=timezone.utc), line=text)
             for stream in data["data"]["result"] for ts, text in stream["values"]]
    lines += [SimpleNamespace(at=start + timedelta(seconds=i), line=f'GET /api/orders/{i} 500 user_id=jane{i}@example.com')
              for i in range(4)]
    summary = summarize_logs(lines, query="{service=\"checkout\"}", alert_start=start, error_window=timedelta(minutes=5))
    assert summary.lines == 7 and summary.distinct_users == 4 and summary.has_stack_trace
    assert summary.common_pattern == "GET /api/orders/<n> <n> user_id=[email]"
    assert "/api/orders/0" in summary.endpoints
    assert not any("jane0@example.com" in s for s in summary.samples)
    assert pattern_of("slot 42 for 9f8e7d6c5b4a3210 failed") == "slot <n> for <n> failed"
    assert logql_for({}, "checkout", '{service="{service}"}') == '{service="checkout"}'
    assert logql_for({"logql": '{app="x"}'}, "checkout", "t") == '{app="x"}'


def test_known_issue_matcher_uses_alert_words_logs_and_labels():
    known = [SimpleNamespace(id=1, name="disk-full", title="Disk full", pattern=r"No space left on device", real=True,
                             category="infrastructure", severity="critical", action=None, action_args={}, mode="off",
                             recommendation=""),
             SimpleNamespace(id=2, name="pool", title="Pool exhausted", pattern=r"QueuePool limit", real=True,
                             category="database", severity="high", action="reset_db_pool", action_args={},
                             mode="approve", recommendation="")]
    assert match_known(known, "HighErrorRate | | ", "TimeoutError: QueuePool limit of size 5").name == "pool"
    assert match_known(known, "DiskAlert | No space left on device | ").field == "title"
    assert match_known(known, "HighErrorRate | all fine | ") is None
    assert "backtracking" in validate_pattern(r"(a)\1") and validate_pattern(r"disk (full|low)") is None
