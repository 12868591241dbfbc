"""What the three training loops share (teachers/train.py ``train_fim``, student/train.py
``train_student``, decoder/train.py ``train_decoder``), each written once:

* :mod:`.schedule`  — linear warm-up + cosine decay of the learning rate.
* :mod:`.precision` — the bf16 autocast context (CUDA by default, selectable on CPU).
* :mod:`.resume`    — atomic resume state (model, optimizer, scheduler, step, RNG states,
  extra) with a settings fingerprint: state written under other settings is ignored.
* :mod:`.interrupt` — time budget and SIGTERM/SIGUSR1: a flag the loop acts on at the next
  step boundary, saving resume state and raising :class:`Interrupted` (exit code 75).
* :mod:`.metrics`   — the metrics CSV, written atomically.

The loops stay in their modules and read top to bottom; only these parts moved here.
"""

from .interrupt import Interrupted, InterruptGuard
from .metrics import write_metrics
from .precision import autocast, autocast_for, bf16_wanted
from .resume import RESUME_NAME, atomic_save, fingerprint, load_resume, save_resume, unwrap
from .schedule import WarmupCosine

__all__ = ["Interrupted", "InterruptGuard", "write_metrics", "autocast", "autocast_for", "bf16_wanted",
           "RESUME_NAME", "atomic_save", "fingerprint", "load_resume", "save_resume", "unwrap", "WarmupCosine"]
