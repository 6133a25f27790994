"""Which metric query stands behind an alert and whether its answer still holds, on a real Prometheus generatorURL."""

from __future__ import annotations

from tasks.alert_signal import alert_query, prometheus_base, still_holds

# the form Prometheus gives alerts: its external URL + /graph?g0.expr=<rule expression>&g0.tab=1 (the real-peer
# test in tests/e2e/test_alert_real_peers.py reads one from a live Prometheus)
GENERATOR = "http://127.0.0.1:40123/graph?g0.expr=sample_latency_seconds+%3E+1&g0.tab=1"
LABELS = {"alertname": "SampleLatencyHigh", "severity": "high", "instance": "127.0.0.1:4000", "job": "sample"}


def test_the_rule_expression_comes_from_the_generator_url():
    assert alert_query(LABELS, {}, GENERATOR) == "sample_latency_seconds > 1"
    assert prometheus_base(GENERATOR) == "http://127.0.0.1:40123"


def test_a_clear_query_annotation_wins_and_no_query_means_none():
    assert alert_query(LABELS, {"clear_query": "rate(errors[1m]) > 3"}, GENERATOR) == "rate(errors[1m]) > 3"
    assert alert_query(LABELS, {}, None) is None
    assert alert_query(LABELS, {}, "https://grafana.example/alerting/grafana/abc/view") is None
    assert prometheus_base("https://grafana.example/alerting/grafana/abc/view") is None


def test_only_the_alerts_own_series_keeps_it_holding():
    mine = {"metric": {"__name__": "sample_latency_seconds", "instance": "127.0.0.1:4000", "job": "sample"},
            "value": [1, "3"]}
    other = {"metric": {"__name__": "sample_latency_seconds", "instance": "10.0.0.9:4000", "job": "sample"},
             "value": [1, "3"]}
    assert still_holds([mine], LABELS)
    assert not still_holds([other], LABELS)  # another instance still slow: this alert's signal cleared
    assert not still_holds([], LABELS)
    assert still_holds([{"metric": {}, "value": [1, "1"]}], LABELS)  # an aggregate without labels is everyone's
