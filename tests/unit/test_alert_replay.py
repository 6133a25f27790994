"""Replay: labelled historical alerts through known issues, decision and categorisation, offline.
Prints precision/recall of "real" and severity accuracy, and holds them at what was measured."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from models.alerts import SEED_KNOWN_ISSUES
from tasks.alert_context import build_context
from tasks.alert_decision import Thresholds, categorize, decide
from tasks.alert_health import HealthCheck
from tasks.alert_known import match_known, matcher_for
from tasks.alert_logs import summarize_logs

from .alert_corpus import CORPUS

START = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)


def known_issues():
    return [SimpleNamespace(id=i, **{"severity": None, "action": None, "action_args": {}, "real": True, **k})
            for i, k in enumerate(SEED_KNOWN_ISSUES, 1)]


def triage(entry, known, matcher):
    name, labels, annotations, lines, health_failing, _, _ = entry
    event = SimpleNamespace(id=1, fingerprint="f", name=name, status="firing", service=labels.get("service", ""),
                            labels={"alertname": name, **labels}, annotations=annotations, payload={},
                            starts_at=START)
    ctx = build_context(event)
    logs = summarize_logs([SimpleNamespace(at=START - timedelta(seconds=s), line=text) for s, text in lines],
                          query="{}", alert_start=START, error_window=timedelta(minutes=5))
    health = [HealthCheck(ctx.service, "http://x/health", False, 503, 3.0)] if health_failing else []
    log_text = "\n".join([*logs.error_messages, *logs.stack_traces, logs.common_pattern])
    found = match_known(known, ctx.text, log_text, ctx.labels, matcher=matcher)
    decision = decide(ctx, logs, health, found, 0, Thresholds())
    return decision, categorize(ctx, logs, health, found, decision, Thresholds())


def test_replay_precision_recall_and_severity_accuracy():
    assert len(CORPUS) >= 50
    known = known_issues()
    matcher = matcher_for(known)
    tp = fp = fn = tn = severity_right = 0
    misses = []
    for entry in CORPUS:
        decision, category = triage(entry, known, matcher)
        real, severity = entry[5], entry[6]
        tp += decision.real and real
        fp += decision.real and not real
        fn += (not decision.real) and real
        tn += (not decision.real) and not real
        severity_right += category.severity == severity
        if decision.real != real or category.severity != severity:
            misses.append(f"{entry[0]}: said {decision.real}/{category.severity}, labelled {real}/{severity}"
                          f" ({decision.reason})")
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    accuracy = severity_right / len(CORPUS)
    print(f"\nreplay of {len(CORPUS)} labelled alerts: real precision {precision:.2f}, recall {recall:.2f} "
          f"(tp {tp}, fp {fp}, fn {fn}, tn {tn}); severity accuracy {accuracy:.2f}")
    print("\n".join(misses))
    assert precision >= PRECISION and recall >= RECALL and accuracy >= SEVERITY_ACCURACY


# measured 1.00, 0.95 and 0.93 on this corpus; held a little below so a rule change that loses ground fails
PRECISION, RECALL, SEVERITY_ACCURACY = 0.95, 0.90, 0.90
