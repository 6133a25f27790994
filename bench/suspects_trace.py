"""A pytest plugin that writes the first failing test's traceback as JSON, and a function that runs one test with it.

The stack trace the suspects evaluation investigates comes from really running the failing case:
`run_failing_test(checkout, "tests/test_x.py::test_y")` runs it in a subprocess at that checkout and
returns its frames (innermost first, repository-relative when in the checkout) and its exception.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

OUTPUT_VARIABLE = "SUSPECTS_TRACE_OUTPUT"


@dataclass(frozen=True)
class Trace:
    frames: list[tuple[str, int, str]]  # (path, line, function), innermost first; in-app paths are repo-relative
    in_app: list[bool]
    exception: str


def pytest_runtest_makereport(item, call):  # the plugin's one hook
    target = os.environ.get(OUTPUT_VARIABLE)
    if not target or call.when != "call" or call.excinfo is None or Path(target).exists():
        return
    root = Path(os.environ.get("SUSPECTS_TRACE_ROOT", ".")).resolve()
    frames = []
    for entry in reversed(traceback.extract_tb(call.excinfo.tb)):
        path = Path(entry.filename).resolve()
        inside = root in path.parents and "site-packages" not in path.parts
        frames.append({"path": str(path.relative_to(root)) if inside else str(path), "line": entry.lineno,
                       "function": entry.name, "in_app": inside})
    exc = call.excinfo.value
    Path(target).write_text(json.dumps({"frames": frames, "exception": f"{type(exc).__name__}: {exc}"[:300]}))


def run_failing_test(checkout: Path, test_id: str, *, timeout: float = 60.0, python: str | None = None) -> Trace | None:
    """Run one test at `checkout`; its traceback when it fails, None when it passes, errors out or times out."""
    checkout = Path(checkout).resolve()
    output = checkout / ".suspects-trace.json"
    output.unlink(missing_ok=True)
    env = dict(os.environ, **{OUTPUT_VARIABLE: str(output), "SUSPECTS_TRACE_ROOT": str(checkout)})
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), str(checkout), str(checkout / "src")])
    env.pop("PYTEST_ADDOPTS", None)
    try:
        subprocess.run([python or sys.executable, "-m", "pytest", "-x", "-q", "-p", "suspects_trace", "-p",
                        "no:cacheprovider", "--rootdir", str(checkout), "-o", "addopts=", test_id],
                       cwd=checkout, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if not output.exists():
        return None
    data = json.loads(output.read_text())
    output.unlink()
    frames = [(f["path"], f["line"], f["function"]) for f in data["frames"]]
    return Trace(frames, [f["in_app"] for f in data["frames"]], data["exception"])
