"""The Loki client against the sandbox's Loki over loopback: seeded lines, LogQL filters, metric queries, faults."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from triageflow.clients.errors import Rejected, Unavailable
from triageflow.clients.loki import Loki


@pytest.fixture
def loki(sandbox):
    with Loki(sandbox.url) as client:
        yield client


def window():
    now = datetime.now(timezone.utc)
    return now - timedelta(minutes=15), now + timedelta(minutes=1)


def test_stream_query_with_line_filters_returns_newest_first(loki, control):
    lines = loki.logs('{service="backend-api"} |= "timeout"', *window())
    assert len(lines) == 6 and all("timeout" in x.line for x in lines)
    assert lines[0].at >= lines[-1].at and lines[0].labels["service"] == "backend-api"
    assert loki.logs('{service="backend-api"} |~ "(?i)queuepool" != "nothing"', *window())[0].line.startswith(
        "Traceback")
    httpx.post(f"{control.url}/_sandbox/loki/push", json={"labels": {"service": "new"}, "lines": [
        {"line": "ERROR one", "seconds_ago": 30}, {"line": "ERROR two", "seconds_ago": 10}]}).raise_for_status()
    assert [x.line for x in loki.logs('{service=~"ne.*"}', *window())] == ["ERROR two", "ERROR one"]
    assert loki.logs('{service="nobody"}', *window()) == []


def test_metric_query_answers_a_matrix(loki):
    start, end = window()
    points = loki.metric('count_over_time({service="backend-api"} [5m])', start, end)
    assert sum(p.value for p in points) >= 7


def test_bad_query_and_server_faults_map_onto_the_family(loki, control):
    with pytest.raises(Rejected) as bad:
        loki.logs("service=backend-api", *window())
    assert "400" in str(bad.value)
    with pytest.raises(Rejected):
        loki.logs('count_over_time({service="x"} [1m])', *window())  # a metric query asked for lines
    control.fault("/loki/", "error", status=503)
    with pytest.raises(Unavailable):
        loki.logs('{service="backend-api"}', *window())
