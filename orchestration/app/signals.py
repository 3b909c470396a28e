"""Children of `rtinfer` start with SIGTERM at its default, whatever the caller's shell set.

A shell that runs rtinfer in the background may hand it SIGTERM ignored (or blocked); both survive
exec, so every process rtinfer spawns would inherit them. Dagster ends the `tail -F` processes of an
in-process run's log capture with SIGTERM: under an ignored SIGTERM they outlive rtinfer and keep
its caller's stdout and stderr open. Dagster only swaps in its own handler when a run executes on
the main thread, and the demo runs jobs on a worker thread (to show progress).
"""

from __future__ import annotations

import signal


def _ignore(_signum: int, _frame: object) -> None:
    """Ignore the signal in this process; unlike SIG_IGN, a handler is not inherited across exec."""


def children_start_with_default_sigterm() -> None:
    """Keep an inherited 'ignore SIGTERM' for rtinfer itself, not for what it spawns."""
    blocked = signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    if blocked or signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _ignore)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
