"""Checks of the compiled paper as a reader sees it: its text layer (``pdftotext``), its
pages as images (``pdftoppm``) and the table widths LaTeX logged (``\\fittable`` in
paper/main.tex).

:func:`check` returns the problems a reviewer would notice, each a sentence:

* the results-at-a-glance table is missing from pages 1-2, or lacks a row per criterion;
* a headline (the glance table, a section's generated opening sentences) prints ``n/a``,
  the default of a macro no stage produced;
* a "Key numbers" table sits in a main section (they belong to the appendix);
* a main-text table is shrunk below :data:`MIN_TABLE_SCALE` of its natural width;
* a page before the appendix is half empty (:data:`MAX_BLANK_FRACTION` of its text block
  blank at the bottom or in one gap), the mark of floats pushed to later pages.

:func:`contact_sheets` renders every page and tiles them into sheets for a quick look.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# A main-text table must keep at least this share of its natural width: below it, 10 pt
# table text prints smaller than ~8 pt (issue 17).
MIN_TABLE_SCALE = 0.8
# A page whose text block is blank over this share (at the bottom, or in one vertical gap)
# is "half empty"; a page break before a section heading leaves less than this.
MAX_BLANK_FRACTION = 0.4
GLANCE_TITLE = "Results at a glance"
APPENDIX_MARK = "SWEJEPA-APPENDIX"
_TABLE = re.compile(r"SWEJEPA-TABLE (\S+) natural=([\d.]+)pt, ?line=([\d.]+)pt")


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if not exe:
        raise FileNotFoundError(f"{name} (poppler-utils) is needed to check the PDF: "
                                "sudo apt-get install -y poppler-utils")
    return exe


# --------------------------------------------------------------------------- text layer

def page_texts(pdf: str | Path) -> list[str]:
    """The text of each page (``pdftotext -layout``; pages split at form feeds)."""
    r = subprocess.run([_tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True,
                       check=True)
    pages = r.stdout.split("\f")
    if pages and not pages[-1].strip():
        pages = pages[:-1]
    return pages


def appendix_page(pages: list[str]) -> int:
    """Index of the first appendix page (the "Full result grids" heading), or len(pages)."""
    for i, t in enumerate(pages):
        if re.search(r"^\s*A\s+Full result grids", t, flags=re.M):
            return i
    return len(pages)


@dataclass(frozen=True)
class TableScale:
    name: str
    natural_pt: float
    line_pt: float
    appendix: bool

    @property
    def scale(self) -> float:
        return min(1.0, self.line_pt / self.natural_pt) if self.natural_pt > 0 else 1.0


def table_scales(log_text: str) -> list[TableScale]:
    """Every table ``\\fittable`` set, in order, with the widths LaTeX logged (the last
    LaTeX pass of the log only: latexmk appends one log per run)."""
    runs = log_text.split("This is pdfTeX")
    text = runs[-1] if len(runs) > 1 else log_text
    out, appendix = [], False
    for line in text.splitlines():
        if APPENDIX_MARK in line:
            appendix = True
        m = _TABLE.search(line)
        if m:
            out.append(TableScale(m.group(1), float(m.group(2)), float(m.group(3)), appendix))
    return out


def glance_rows(pages: list[str], experiments) -> dict[str, str]:
    """``{experiment: its row's text}`` of the glance table on pages 1-2."""
    text = "\n".join(pages[:2])
    if GLANCE_TITLE not in text:
        return {}
    body = text.split(GLANCE_TITLE, 1)[1]
    out = {}
    for e in experiments:
        m = re.search(rf"^\s*{re.escape(e)}\s+\S.*$", body, flags=re.M)
        if m:
            out[e] = m.group(0)
    return out


# --------------------------------------------------------------------------- images

def render_pages(pdf: str | Path, outdir: str | Path, dpi: int = 40) -> list[Path]:
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("page-*.png"):
        old.unlink()
    subprocess.run([_tool("pdftoppm"), "-png", "-gray", "-r", str(dpi), str(pdf), str(outdir / "page")],
                   check=True)
    return sorted(outdir.glob("page-*.png"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))


def blank_fractions(png: str | Path, margin: float = 0.1) -> tuple[float, float]:
    """``(bottom, largest gap)``: shares of the text block (page minus ``margin`` top and
    bottom, ~1 inch) with no ink below the last inked row, and in the largest run of blank
    rows between inked rows. The page number in the footer lies outside the block."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(png).convert("L"), dtype=np.uint8)
    h = a.shape[0]
    top, bot = int(h * margin), int(h * (1 - margin))
    ink = (a[top:bot] < 128).any(axis=1)
    n = len(ink)
    if not ink.any():
        return 1.0, 1.0
    rows = np.flatnonzero(ink)
    bottom = (n - 1 - rows[-1]) / n
    gaps = np.diff(rows) - 1
    return float(bottom), float(gaps.max() / n if len(gaps) else 0.0)


def contact_sheets(pngs: list[Path], outdir: str | Path, cols: int = 4, rows: int = 2) -> list[Path]:
    """Tile page images ``cols`` × ``rows`` per sheet (``contact-01.png`` ...), each page
    framed and numbered."""
    from PIL import Image, ImageDraw

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("contact-*.png"):
        old.unlink()
    if not pngs:
        return []
    ims = [Image.open(p).convert("L") for p in pngs]
    w, h = max(i.width for i in ims), max(i.height for i in ims)
    pad, per = 8, cols * rows
    out = []
    for s in range(0, len(ims), per):
        chunk = ims[s:s + per]
        sheet = Image.new("L", (cols * (w + pad) + pad, rows * (h + pad + 12) + pad), 200)
        draw = ImageDraw.Draw(sheet)
        for k, im in enumerate(chunk):
            x, y = pad + (k % cols) * (w + pad), pad + (k // cols) * (h + pad + 12)
            sheet.paste(im, (x, y + 12))
            draw.rectangle([x - 1, y + 11, x + im.width, y + 12 + im.height], outline=0)
            draw.text((x, y), f"p. {s + k + 1}", fill=0)
        path = outdir / f"contact-{s // per + 1:02d}.png"
        sheet.save(path)
        out.append(path)
    return out


# --------------------------------------------------------------------------- the check

def check(pdf: str | Path, log: str | Path, experiments, images: str | Path | None = None,
          min_scale: float = MIN_TABLE_SCALE, max_blank: float = MAX_BLANK_FRACTION) -> dict:
    """``{"problems": [...], "pages": n, "tables": [...], "page_blank": [...]}`` (see module doc).

    ``images``: a folder for the page renders and contact sheets; without it, pages are
    not rendered and the half-empty check is skipped (``page_blank`` empty)."""
    pages = page_texts(pdf)
    app = appendix_page(pages)
    problems = []
    rows = glance_rows(pages, experiments)
    if not rows:
        problems.append(f"the '{GLANCE_TITLE}' table is not on page 1 or 2")
    else:
        missing = [e for e in experiments if e not in rows]
        if missing:
            problems.append(f"the '{GLANCE_TITLE}' table has no row for experiment(s) {', '.join(missing)}")
        block = re.split(r"^\s*1\s+Setup", "\n".join(pages[:3]).split(GLANCE_TITLE, 1)[1], flags=re.M)[0]
        for line in block.splitlines():
            if "n/a" in line:
                problems.append(f"the results at a glance print n/a (a number no stage produced): {line.strip()}")
    main_text = "\n".join(pages[:app])
    for m in re.finditer(r"What was found\..*?(?:\n\s*\n|$)", main_text, flags=re.S):
        if "n/a" in m.group(0):
            problems.append("a section's generated opening prints n/a: " + " ".join(m.group(0).split())[:200])
    if re.search(r"Key numbers", main_text):
        page = next(i for i, t in enumerate(pages[:app]) if "Key numbers" in t) + 1
        problems.append(f"a 'Key numbers' table is in a main section (page {page}); it belongs to the appendix")
    scales = table_scales(Path(log).read_text(errors="replace"))
    for t in scales:
        if not t.appendix and t.scale < min_scale:
            problems.append(f"main-text table {t.name} is shrunk to {t.scale:.0%} of its natural width "
                            f"(minimum {min_scale:.0%}); move its full grid to the appendix")
    blanks = []
    if images is not None:
        pngs = render_pages(pdf, images)
        contact_sheets(pngs, images)
        for i, p in enumerate(pngs):
            bottom, gap = blank_fractions(p)
            blanks.append({"page": i + 1, "blank_bottom": round(bottom, 3), "largest_gap": round(gap, 3)})
            # Main pages only (the page where the appendix starts is not one), never the last.
            if i < app and i < len(pngs) - 1 and max(bottom, gap) > max_blank:
                problems.append(f"page {i + 1} is {max(bottom, gap):.0%} blank (floats pushed to later pages?)")
    return {"problems": problems, "pages": len(pages), "appendix_page": app + 1,
            "tables": [{"name": t.name, "scale": round(t.scale, 3), "appendix": t.appendix} for t in scales],
            "page_blank": blanks, "glance_rows": sorted(rows)}
