"""The metrics log: one CSV row per logged step, written atomically."""

from __future__ import annotations

import csv
import math
import os


def write_metrics(rows: list[dict], path: str | os.PathLike, columns=None) -> None:
    """``rows`` to ``path`` under a temporary name, renamed when complete. ``columns``:
    default every key in first-seen order. Missing values and NaN are written as empty
    fields and lines end in LF, as pandas writes them (the student's own writer used to
    end them in CRLF; the values are the same)."""
    from ..runtime import atomic_path

    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_cell(r.get(k)) for k in columns])


def _cell(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return v
