"""LaTeX output helpers: booktabs tables and number macros, generated from data."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from .runtime import write_text_atomic

_ESC = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def escape(s) -> str:
    return "".join(_ESC.get(c, c) for c in str(s))


def fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "--"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}".replace(",", "{,}")
    if isinstance(v, float):
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 10 ** (-digits)):
            return f"{v:.2e}"
        return f"{v:.{digits}f}"
    return escape(v)


def booktabs(df: pd.DataFrame, caption: str | None = None, label: str | None = None,
             digits: int = 3, column_format: str | None = None, float_env: bool = True,
             name: str | None = None) -> str:
    """A booktabs ``tabular`` (optionally in a ``table`` float) from a DataFrame.

    In a float, the tabular is set at its natural size and handed to ``\\fittable{name}``
    (paper/main.tex), which shrinks it to the line width only when wider and logs both
    widths, so the paper check can tell how far a table was scaled."""
    cols = list(df.columns)
    if column_format is None:
        column_format = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in cols)
    lines = [r"\begin{tabular}{" + column_format + "}", r"\toprule",
             " & ".join(escape(c) for c in cols) + r" \\", r"\midrule"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(fmt(v.item() if hasattr(v, "item") else v, digits) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    body = "\n".join(lines)
    if not float_env:
        return body + "\n"
    out = [r"\begin{table}[tbp]", r"\centering", r"\small", r"\sbox0{%", body + "%", "}%",
           r"\fittable{" + re.sub(r"[^A-Za-z0-9:_.-]", "", name or label or "table") + "}"]
    if caption:
        out.append(r"\caption{" + caption + "}")
    if label:
        out.append(r"\label{" + label + "}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def write_table(df: pd.DataFrame, path: str | Path, **kw) -> None:
    kw.setdefault("name", Path(path).stem)
    write_text_atomic(path, booktabs(df, **kw))


_MACRO = re.compile(r"^[A-Za-z]+$")


def macros(values: dict, digits: int = 3) -> str:
    """``\\newcommand{\\name}{value}`` lines; names must be letters only (TeX rule)."""
    out = []
    for name, v in sorted(values.items()):
        if not _MACRO.match(name):
            raise ValueError(f"LaTeX macro name {name!r} must contain letters only")
        out.append(f"\\newcommand{{\\{name}}}{{{fmt(v, digits)}}}")
    return "\n".join(out) + "\n"


def write_macros(values: dict, path: str | Path, digits: int = 3) -> None:
    write_text_atomic(path, macros(values, digits))
