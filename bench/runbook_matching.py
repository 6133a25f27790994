"""Runbook matching: 10,000 issues against 200 patterns, next to one combined-regex scan of the same texts.

Target: <= 1 s for the matcher. The combined scan is the floor: it only says whether anything matches.
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.runbooks import FLAGS, IssueFacts, RunbookMatcher  # noqa: E402
from tests.unit.runbook_corpus import CORPUS  # noqa: E402

SECTIONS = "\n".join(f"## {s}\n`cmd`\n" for s in ("Symptoms", "Quick fix", "Diagnosis", "Fix", "Prevention"))


_GLOBAL_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")


def scoped(pattern: str) -> str:
    """A pattern made safe to join with others: a leading `(?s)` becomes a scoped `(?s:...)` group."""
    m = _GLOBAL_FLAGS.match(pattern)
    return f"(?{m.group(1)}:{pattern[m.end():]})" if m else f"(?:{pattern})"


def build_runbooks(folder: Path, total_patterns: int) -> RunbookMatcher:
    for path in (ROOT / "runbooks").glob("*.md"):
        if path.name != "README.md":
            (folder / path.name).write_text(path.read_text())
    real, _ = RunbookMatcher.from_directory(folder)
    count = sum(len(rb.meta.patterns) for rb in real.runbooks)
    n = 0
    while count < total_patterns:  # plausible extra runbooks: vendor-specific errors
        patterns = [f"{vendor}{kind}Error: .*(code|status) {n * 7 + i}\\b" for i, (vendor, kind) in
                    enumerate([("Stripe", "Card"), ("Twilio", "Rest"), ("Sendgrid", "Mail"), ("S3", "Upload"),
                               ("Kafka", "Produce"), ("Elastic", "Search"), ("Mongo", "Write"), ("Rabbit", "Channel")])]
        patterns = patterns[: total_patterns - count]
        quoted = "\n".join(f"  - '{p}'" for p in patterns)
        (folder / f"vendor-{n}.md").write_text(f"---\ntitle: Vendor errors {n}\npriority: {20 + n % 50}\n"
                                               f"patterns:\n{quoted}\n---\n{SECTIONS}")
        count += len(patterns)
        n += 1
    matcher, errors = RunbookMatcher.from_directory(folder)
    assert not errors, errors
    return matcher


def issues(n: int) -> list[IssueFacts]:
    rng = random.Random(42)
    texts = [entry if isinstance(entry, str) else entry["title"] for entry, _ in CORPUS]
    out = []
    for i in range(n):
        base = rng.choice(texts)
        title = f"{base} (request {rng.randint(1, 10**6)})" if rng.random() < 0.5 else base
        out.append(IssueFacts(title=title, culprit=f"app.module{i % 50} in handler", message=title,
                              exception_type=title.split(":", 1)[0] if ":" in title else ""))
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        matcher = build_runbooks(Path(tmp), 200)
        patterns = sum(len(rb.meta.patterns) for rb in matcher.runbooks)
        facts = issues(10_000)
        combined = re.compile("|".join(scoped(p) for rb in matcher.runbooks for p in rb.meta.patterns), FLAGS)
        ours, floor = [], []
        for _ in range(5):
            started = time.perf_counter()
            results = [matcher.match(f) for f in facts]
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            hits = [bool(combined.search(f"{f.title}\n{f.culprit}\n{f.message}\n{f.exception_type}")) for f in facts]
            floor.append(time.perf_counter() - started)
        o, b = statistics.median(ours), statistics.median(floor)
        print(f"runbook matching: {len(facts)} issues, {len(matcher.runbooks)} runbooks, {patterns} patterns, "
              f"median of 5")
        print(f"  matcher        {o * 1000:7.1f} ms  ({sum(r.matched for r in results)} linked)   target <= 1000 ms")
        print(f"  combined regex {b * 1000:7.1f} ms  ({sum(hits)} with any hit)")
        print(f"  ratio {o / b:.2f}")


if __name__ == "__main__":
    main()
