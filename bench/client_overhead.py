"""Client overhead: our GlitchTip client vs a bare httpx loop, on the same sandbox, in the same run.

Prints the median of several rounds for N sequential and N concurrent issue fetches, and the ratio
(target: <= 1.3 with the client's rate limit off).
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from triageflow.clients.glitchtip import GlitchTip
from triageflow.sandbox import SandboxServer

ISSUE_IDS = [1, 2, 3, 4, 6, 7, 8, 9, 12, 113]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=300, help="fetches per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    ids = [ISSUE_IDS[i % len(ISSUE_IDS)] for i in range(args.n)]

    with SandboxServer(build_codebase=False) as sb:
        headers = {"Authorization": f"Bearer {sb.token}"}
        bare = httpx.Client(base_url=sb.url, headers=headers)
        ours = GlitchTip(sb.url, sb.token, "acme", rate_limit=0, max_in_flight=args.threads)

        def bare_one(i):
            r = bare.get(f"/api/0/issues/{i}/")
            r.raise_for_status()
            return r.json()

        def ours_one(i):
            return ours.issue(i)

        def sequential(fetch):
            return lambda: [fetch(i) for i in ids]

        def concurrent(fetch):
            def run():
                with ThreadPoolExecutor(args.threads) as pool:
                    list(pool.map(fetch, ids))
            return run

        for warm in (bare_one, ours_one):
            [warm(i) for i in ISSUE_IDS]
        results = {}
        for mode, wrap in (("sequential", sequential), ("concurrent", concurrent)):
            bare_times, our_times = [], []
            for _ in range(args.rounds):  # interleaved so machine noise hits both alike
                bare_times.append(timed(wrap(bare_one)))
                our_times.append(timed(wrap(ours_one)))
            results[mode] = (statistics.median(bare_times), statistics.median(our_times))
        bare.close()
        ours.close()

    print(f"client overhead, {args.n} issue fetches, median of {args.rounds} rounds, {args.threads} threads when concurrent")
    for mode, (b, o) in results.items():
        print(f"  {mode:<10}  bare httpx {b * 1000:8.1f} ms ({b / args.n * 1000:.2f} ms/fetch)   "
              f"triageflow {o * 1000:8.1f} ms ({o / args.n * 1000:.2f} ms/fetch)   ratio {o / b:.2f}  (target <= 1.30)")


if __name__ == "__main__":
    main()
