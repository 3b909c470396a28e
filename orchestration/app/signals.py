"""Children of `rtinfer` start with SIGTERM and SIGINT at their defaults, whatever the caller set.

A shell that runs rtinfer in the background hands it SIGINT ignored (a non-interactive shell does so
for every background job), and may hand it SIGTERM ignored or blocked; all survive exec, so every
process rtinfer spawns would inherit them. Dagster ends the `tail -F` processes of an in-process
run's log capture with SIGTERM: under an ignored SIGTERM they outlive rtinfer and keep its caller's
stdout and stderr open. An ignored SIGINT leads there too: whenever a run executes on the main
thread, Dagster gives SIGTERM whatever SIGINT has (dagster._utils.interrupts.setup_interrupt_handlers).
A Python handler that does nothing keeps the signal ignored in this process, and exec resets a
handler, unlike SIG_IGN, to the default.
"""

from __future__ import annotations

import signal

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _ignore(_signum: int, _frame: object) -> None:
    """Ignore the signal in this process; unlike SIG_IGN, a handler is not inherited across exec."""


def children_start_with_default_signals() -> None:
    """Keep an inherited 'ignore SIGTERM / SIGINT' for this process, not for what it spawns."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    for signum in _SIGNALS:
        if signum in blocked or signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, _ignore)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
