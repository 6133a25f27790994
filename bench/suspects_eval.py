"""Offline evaluation of suspect commits: hit@1 and hit@3 of triageflow's suspects beside the plain heuristic
("the newest commit touching a file in the stack"), per category of bug.

    python bench/suspects_eval.py                  # the generated corpus (bench/suspects_corpus.py): runs anywhere
    python bench/suspects_eval.py --repos DIR...   # bugs mined from git checkouts (bench/suspects_mining.py)

A hit is an introducing commit among the first k suspects. Also printed: how many reports had no candidate
although the stack had an in-app frame (the target is none), and the time per investigation's suspects.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.suspects_corpus import CATEGORIES, Case, build_corpus  # noqa: E402
from tasks.suspect_search import find_suspects  # noqa: E402


def heuristic(case: Case, k: int = 3) -> list[str]:
    """The newest commits touching any file of the stack, landed before the issue was first seen."""
    paths = list(dict.fromkeys(p for p, _ in case.frames))
    if not paths:
        return []
    done = subprocess.run(["git", "log", f"-n{k}", f"--until={case.first_seen.isoformat()}", "--format=%H", "--", *paths],
                          cwd=case.repo, capture_output=True, text=True)
    return done.stdout.split()


def tool(case: Case) -> tuple[list[str], list[str]]:
    findings = find_suspects(case.repo, case.frames, case.first_seen, release=case.release)
    return [s.commit.sha for s in findings.suspects], [s.confidence for s in findings.suspects]


def evaluate(cases: list[Case], *, verbose: bool = False) -> dict:
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    empty, seconds, confidences = 0, [], defaultdict(lambda: [0, 0])
    for case in cases:
        started = time.perf_counter()
        ranked, levels = tool(case)
        seconds.append(time.perf_counter() - started)
        plain = heuristic(case)
        row = rows[case.category]
        row["bugs"] += 1
        row["tool@1"] += bool(set(ranked[:1]) & case.introducing)
        row["tool@3"] += bool(set(ranked[:3]) & case.introducing)
        row["plain@1"] += bool(set(plain[:1]) & case.introducing)
        row["plain@3"] += bool(set(plain[:3]) & case.introducing)
        if levels:
            confidences[levels[0]][0] += 1
            confidences[levels[0]][1] += bool(set(ranked[:1]) & case.introducing)
        if case.frames and not ranked:
            empty += 1
        if verbose:
            print(f"  {case.name} [{case.category}] {case.exception[:50]!r} frames={case.frames[:3]} "
                  f"tool={'hit' if set(ranked[:1]) & case.introducing else 'miss'} "
                  f"plain={'hit' if set(plain[:1]) & case.introducing else 'miss'} top={levels[:1]}")
    return {"rows": rows, "empty": empty, "seconds": seconds, "confidences": confidences}


def report(title: str, result: dict) -> bool:
    rows = result["rows"]
    print(title)
    print(f"  {'category':40} {'bugs':>4}  {'hit@1':>11} {'plain@1':>11}  {'hit@3':>11} {'plain@3':>11}")
    beats = True
    total = defaultdict(float)
    order = [c for c in CATEGORIES if c in rows] + [c for c in rows if c not in CATEGORIES]
    for category in order + ["all"]:
        row = total if category == "all" else rows[category]
        if category != "all":
            for key, value in row.items():
                total[key] += value
            beats &= row["tool@1"] > row["plain@1"] or row["tool@1"] == row["bugs"]
        n = int(row["bugs"])
        cell = lambda key: f"{int(row[key]):>3}/{n:<3}{row[key] / n:>5.0%}" if n else "-"  # noqa: E731
        print(f"  {category:40} {n:>4}  {cell('tool@1'):>11} {cell('plain@1'):>11}  {cell('tool@3'):>11} {cell('plain@3'):>11}")
    print(f"  reports without a candidate although the stack has an in-app frame: {result['empty']}")
    for level, (count, hits) in sorted(result["confidences"].items()):
        print(f"  first suspect '{level}': {count} reports, right in {hits}")
    s = sorted(result["seconds"])
    if s:
        print(f"  suspects per report: median {s[len(s) // 2] * 1000:.0f} ms, max {s[-1] * 1000:.0f} ms")
    print(f"  hit@1 beats the heuristic in every category: {'yes' if beats else 'NO'}")
    return beats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", nargs="+", type=Path, help="git checkouts to mine bug fixes from")
    parser.add_argument("--max-fixes", type=int, default=40, help="bug fixes tried per repository")
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the generated repositories")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="triage-suspects-"))
    try:
        if args.repos:
            from bench.suspects_mining import mine, project_name

            cases = []
            for repo in args.repos:
                found = mine(repo, workdir / project_name(repo), max_fixes=args.max_fixes, log=print if args.verbose else None)
                print(f"{repo}: {len(found)} bugs with a stack trace")
                cases += found
            report(f"mined corpus: {len(cases)} bugs from {len(args.repos)} repositories",
                   evaluate(cases, verbose=args.verbose))
            real = [c for c in cases if not c.synthetic]
            report(f"of which with a real stack trace (the failing test run on the buggy checkout): {len(real)} bugs",
                   evaluate(real))
            synthetic = [c for c in cases if c.synthetic]
            report(f"of which with a synthetic trace (innermost frame = a fixed line, by construction): "
                   f"{len(synthetic)} bugs", evaluate(synthetic))
        else:
            started = time.perf_counter()
            cases = build_corpus(workdir / "corpus")
            print(f"generated corpus: {len(cases)} bugs in {time.perf_counter() - started:.1f} s")
            report("generated corpus", evaluate(cases, verbose=args.verbose))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
