"""When a Prefect task may retry: only on transient outside-service failures."""

from __future__ import annotations

from triageflow.clients.errors import Transient


def transient_only(task, task_run, state) -> bool:
    """`retry_condition_fn` for tasks that do I/O: retry Unavailable/RateLimited, never NotFound or a 4xx."""
    try:
        state.result()
    except Transient:
        return True
    except BaseException:
        return False
    return False
