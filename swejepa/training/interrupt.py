"""Stopping a training job early, so that the scheduler's retry resumes it.

Two triggers, both acted on at the next step boundary (never mid-step):

* the time budget — ``time_budget_s`` seconds (None: none) since the guard was entered (the start of
  this session: a resumed job gets the whole budget again). This is the primary mechanism:
  the job's runtime minus a margin (``student.time_budget_s``, ``extract.time_budget_s``),
  because the SLURM executor plugin forwards no signal reliably;
* SIGTERM / SIGUSR1 — the handler only sets a flag (installed in the main thread only;
  the previous handlers come back on exit).

The loop then saves its resume state and raises :class:`Interrupted`; a script exits
with ``Interrupted.exit_code`` (75, EX_TEMPFAIL), Snakemake's ``retries`` resubmit the job
and it continues from the resume state.
"""

from __future__ import annotations

import signal
import threading
import time

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Interrupted(RuntimeError):
    """Training stopped early (signal or time budget) after saving resume state."""

    exit_code = 75  # EX_TEMPFAIL: the scheduler should retry


class InterruptGuard:
    """``with InterruptGuard(time_budget_s) as stop: ... if stop.reason(): save; raise``."""

    def __init__(self, time_budget_s: float | None = None, *, signals: bool = True):
        self.time_budget_s = time_budget_s
        self.signals = signals
        self.signal: str | None = None       # name of the signal received, if any
        self.started = time.time()
        self._old: dict = {}

    def __enter__(self) -> "InterruptGuard":
        self.started = time.time()
        if self.signals and threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old = {}

    def _handler(self, signum, frame) -> None:
        self.signal = signal.Signals(signum).name

    def budget_spent(self) -> bool:
        return self.time_budget_s is not None and time.time() - self.started > self.time_budget_s

    def reason(self) -> str | None:
        """Why to stop now (the signal's name or ``"time budget"``), or None."""
        if self.signal:
            return self.signal
        return "time budget" if self.budget_spent() else None
