"""Stack trace parsing on real recorded events and on the frame shapes of Java, Go and threads."""

from __future__ import annotations

import json

import pytest

from tasks.stacktrace import StackFrame, frames_from_event, in_app_frames, source_path, stack_excerpt


def recorded(peers, name):
    return json.loads((peers / "glitchtip" / "api" / f"{name}.json").read_text())["body"]


def test_python_event_innermost_first_and_in_app_decided_from_paths(peers):
    frames = frames_from_event(recorded(peers, "issue-event-latest"))
    assert [f.function for f in frames] == ["total_price", "<lambda>", "main"]
    assert all(f.in_app for f in frames)  # no in_app sent; /srv/booking is no library path
    assert frames[0].line == 16 and frames[0].platform == "python"
    assert frames[0].location == "app/services/booking_monitor.py:16 in total_price"


def test_chained_exception_puts_the_root_cause_first(peers):
    frames = in_app_frames(frames_from_event(recorded(peers, "event-latest-chained-exception")))
    assert frames[0].exception_type == "ConnectionTimeout" and frames[0].function == "connect"
    assert frames[-1].exception_type == "RuntimeError"


def test_node_frames_skip_node_internals_and_node_modules(peers):
    frames = frames_from_event(recorded(peers, "event-latest-node-webpack"))
    app = in_app_frames(frames)
    assert [f.function for f in app] == ["renderTotal"]
    assert source_path(app[0]) == "src/pages/checkout.ts" and app[0].column == 17


def test_message_event_has_no_frames(peers):
    assert frames_from_event(recorded(peers, "event-latest-message-cyrillic")) == []


JAVA_EVENT = {"platform": "java", "entries": [{"type": "exception", "data": {"values": [{
    "type": "java.lang.NullPointerException", "value": "name is null",
    "stacktrace": {"frames": [
        {"module": "java.lang.Thread", "filename": "Thread.java", "function": "run", "lineNo": 833},
        {"module": "org.springframework.web.servlet.FrameworkServlet", "filename": "FrameworkServlet.java",
         "function": "service", "lineNo": 897},
        {"module": "com.acme.booking.api.BookingController", "filename": "BookingController.java",
         "function": "create", "lineNo": 41},
        {"module": "com.acme.booking.PriceService$Inner", "filename": "PriceService.java", "function": "total",
         "lineNo": 17},
    ]}}]}}]}

GO_EVENT = {"platform": "go", "entries": [{"type": "exception", "data": {"values": [{
    "type": "*errors.errorString", "value": "index out of range",
    "stacktrace": {"frames": [
        {"filename": "proc.go", "absPath": "/usr/local/go/src/runtime/proc.go", "module": "runtime", "function": "main",
         "lineNo": 271},
        {"filename": "pay.go", "absPath": "/build/internal/pay/pay.go", "module": "github.com/acme/booking/internal/pay",
         "function": "Charge", "lineNo": 57, "inApp": True},
    ]}}]}}]}

THREADS_EVENT = {"platform": "java", "entries": [
    {"type": "exception", "data": {"values": [{"type": "OutOfMemoryError", "value": "Java heap space"}]}},
    {"type": "threads", "data": {"values": [
        {"id": 1, "name": "main", "crashed": False, "stacktrace": {"frames": [
            {"module": "com.acme.Idle", "filename": "Idle.java", "function": "sleep", "lineNo": 3}]}},
        {"id": 7, "name": "exporter", "crashed": True, "stacktrace": {"frames": [
            {"module": "com.acme.booking.Export", "filename": "Export.java", "function": "all", "lineNo": 88}]}},
    ]}}]}


def test_java_frames_map_modules_to_source_paths_and_skip_framework_code():
    app = in_app_frames(frames_from_event(JAVA_EVENT))
    assert [f.function for f in app] == ["total", "create"]
    assert source_path(app[0]) == "com/acme/booking/PriceService.java"
    assert app[0].platform == "java"


def test_go_frames_skip_the_runtime():
    app = in_app_frames(frames_from_event(GO_EVENT))
    assert [f.function for f in app] == ["Charge"] and source_path(app[0]) == "build/internal/pay/pay.go"


def test_crashed_thread_supplies_frames_when_the_exception_has_none():
    frames = frames_from_event(THREADS_EVENT)
    assert [f.function for f in frames] == ["all"] and frames[0].exception_type == "OutOfMemoryError"


def test_library_frames_are_kept_when_nothing_is_in_app():
    frames = [StackFrame("/usr/lib/python3.11/socket.py", "create_connection", "socket", 845, None, None, False, "python")]
    assert in_app_frames(frames) == frames


@pytest.mark.parametrize("path,platform,expected", [
    ("webpack://web/./src/pages/checkout.ts", "node", "src/pages/checkout.ts"),
    ("webpack:///./src/app.js", "node", "src/app.js"),
    ("app:///dist/main.js?v=3", "node", "dist/main.js"),
    ("/srv/booking/.venv/lib/python3.11/site-packages/httpx/_client.py", "python", "httpx/_client.py"),
    ("/srv/web/node_modules/express/lib/router/layer.js", "node", "express/lib/router/layer.js"),
    ("C:\\build\\app\\main.py", "python", "C:/build/app/main.py"),
    ("node:internal/process/task_queues", "node", None),
    ("<frozen importlib._bootstrap>", "python", None),
])
def test_source_path_strips_deployment_prefixes(path, platform, expected):
    frame = StackFrame(path, "f", None, 1, None, None, True, platform)
    assert source_path(frame) == expected


def test_stack_excerpt_is_trimmed_near_the_limit():
    frames = [StackFrame(f"app/m{i}.py", f"f{i}", None, i, None, "x = compute()" * 5, True, "python") for i in range(100)]
    text = stack_excerpt(frames, limit=1000)
    assert len(text) < 1100 and text.endswith("more characters)")
