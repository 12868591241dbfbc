"""One figure style for the whole paper; every figure is saved as PDF (paper) and PNG (report)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Column width of a two-column paper is ~3.3 in; full width ~6.9 in.
COLUMN_WIDTH = 3.4
FULL_WIDTH = 6.9

STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 150,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
    # Deterministic PDFs: no creation date in the metadata.
    "svg.hashsalt": "swejepa",
}


def use_style() -> None:
    plt.rcParams.update(STYLE)


def figure(width: float = COLUMN_WIDTH, height: float | None = None, **kw):
    use_style()
    return plt.subplots(figsize=(width, height or width * 0.7), **kw)


def savefig(fig, stem: str | Path) -> list[Path]:
    """Write ``<stem>.pdf`` and ``<stem>.png``; return both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    outs = []
    for ext in ("pdf", "png"):
        p = stem.with_suffix("." + ext)
        kw = {"metadata": {"CreationDate": None}} if ext == "pdf" else {"metadata": {"Software": None}}
        fig.savefig(p, **kw)
        outs.append(p)
    plt.close(fig)
    return outs
