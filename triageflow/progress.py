"""Progress of long work, told to whoever listens: the CLI draws a rich bar, flows log it.

Tasks call `report(what, done, total)`; nothing listens unless a caller opened `listening(...)`,
so a flow run by a worker pays nothing for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, int, int], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def report(what: str, done: int, total: int = 0) -> None:
    """`done` of `total` (0: not known yet) for the step named `what`."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(what, done, total)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


@contextmanager
def progress_bar(console, transient: bool = True) -> Iterator[None]:
    """A rich progress bar on `console`, one line per step, while the block runs."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=transient)
    steps: dict[str, int] = {}

    def show(what: str, done: int, total: int) -> None:
        if what not in steps:
            steps[what] = bar.add_task(what, total=total or None)
        bar.update(steps[what], completed=done, total=total or None)

    with bar, listening(show):
        yield
