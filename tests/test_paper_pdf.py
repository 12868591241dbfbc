"""The paper as a reader sees it: the results-at-a-glance table and the generated
sentences (swejepa/glance.py), and the checks of the compiled PDF's text layer, table
widths and pages (swejepa/pdfcheck.py)."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from swejepa import glance, paper, pdfcheck

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = [s.number for s in paper.SECTIONS]
COLUMNS = ["experiment", "criterion", "metric", "value", "ci_low", "ci_high", "threshold", "direction",
           "verdict", "reason"]


def verdicts(override: dict | None = None) -> pd.DataFrame:
    rows = []
    for i, e in enumerate(EXPERIMENTS):
        v = 0.1 * (i + 1)
        rows.append({"experiment": e, "criterion": f"criterion {e}", "metric": f"metric of {e}", "value": v,
                     "ci_low": v - 0.05, "ci_high": v + 0.05, "threshold": 0.3, "direction": ">",
                     "verdict": "met" if v - 0.05 > 0.3 else ("not_met" if v + 0.05 < 0.3 else "underpowered"),
                     "reason": f"the reason for {e}"})
    df = pd.DataFrame(rows, columns=COLUMNS)
    for (e, col), val in (override or {}).items():
        df.loc[df["experiment"] == e, col] = val
    return df


def test_sentences_branch_on_the_verdict_and_quote_the_numbers():
    rows = verdicts().to_dict("records")
    by = {r["experiment"]: r for r in rows}
    met = glance.sentence(by["3.1"])          # 0.8 [0.75, 0.85] > 0.3
    assert "meets the seed's criterion" in met and "0.800" in met and "0.750 to 0.850" in met
    assert "above 0.300" in met and "The reason for 3.1." in met
    no = glance.sentence(by["0.1"])           # 0.1 [0.05, 0.15]
    assert "does not meet" in no and "0.100" in no
    up = glance.sentence(by["0.3"])           # 0.3 [0.25, 0.35] straddles
    assert "underpowered" in up and "cannot decide" in up
    empty = glance.sentence({**by["2.1"], "value": float("nan"), "ci_low": float("nan"),
                             "ci_high": float("nan"), "verdict": "underpowered"})
    assert "no measurement" in empty


def test_glance_table_has_a_row_per_criterion_and_counts_verdicts():
    df = verdicts()
    tex = glance.glance_tex(df)
    for e in EXPERIMENTS:
        assert f"\n{e} & " in tex and f"\\item[{e}]" in tex
    n = df["verdict"].value_counts()
    assert (f"{n.get('met', 0)} are met, {n.get('not_met', 0)} are not met and "
            f"{n.get('underpowered', 0)} are underpowered") in tex
    assert "\\label{tab:verdicts}" in tex and "Table~\\ref{tab:verdicts}" in tex
    # no CI: the value alone; no value: a dash, never n/a
    row = {**df.iloc[0].to_dict(), "ci_low": float("nan")}
    assert glance.measured(row) == "0.100"
    assert glance.measured({**row, "value": float("nan")}) == "--"
    assert glance.opener_tex("0.2", df).startswith("\\noindent\\emph{What was found.} Experiment 0.2")
    assert "no verdict" in glance.opener_tex("0.2", None)


def test_grids_and_key_numbers_go_to_the_appendix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from swejepa.tex import write_macros, write_table

    write_table(pd.DataFrame({"a": [1]}), "results/tables/exp02_retrieval.tex", caption="Headline.")
    write_table(pd.DataFrame({"a": [1]}), "results/tables/exp02_retrieval_grid.tex", caption="Grid.")
    write_macros({"PzeroRetrBest": 0.5}, "results/macros/phase0.tex")
    df = verdicts()
    df.to_csv("v.csv", index=False)
    out = paper.write_sections(["results/tables/exp02_retrieval.tex", "results/tables/exp02_retrieval_grid.tex"],
                               [], ["results/macros/phase0.tex"], "results/paper/generated", verdicts="v.csv")
    s02 = out["exp02"].read_text()
    assert "exp02_retrieval.tex" in s02 and "exp02_retrieval_grid.tex" not in s02
    assert "Appendix~\\ref{sec:grids}" in s02 and "Table~\\ref{tab:exp02-retrieval-grid}" in s02
    assert "What was found.} Experiment 0.2" in s02 and "Key numbers" not in s02
    assert "exp02_retrieval_grid.tex" in out["grids"].read_text()
    assert "\\PzeroRetrBest{}" in out["numbers"].read_text()
    assert "Results at a glance" in out["glance"].read_text()
    # the stage tables log their widths through \fittable, named after the file
    assert "\\fittable{exp02_retrieval_grid}" in Path("results/tables/exp02_retrieval_grid.tex").read_text()


def test_table_scales_read_from_the_last_latex_pass():
    log = ("This is pdfTeX, pass 1\nSWEJEPA-TABLE old natural=900.0pt, line=450.0pt\n"
           "This is pdfTeX, pass 2\nSWEJEPA-TABLE exp01_stats natural=500.0pt, line=450.0pt\n"
           "SWEJEPA-TABLE exp02_retrieval natural=300.0pt, line=450.0pt\nSWEJEPA-APPENDIX\n"
           "SWEJEPA-TABLE exp01_stats_grid natural=900.0pt, line=450.0pt\n")
    s = pdfcheck.table_scales(log)
    assert [t.name for t in s] == ["exp01_stats", "exp02_retrieval", "exp01_stats_grid"]
    assert s[0].scale == pytest.approx(0.9) and s[1].scale == 1.0 and s[2].scale == pytest.approx(0.5)
    assert [t.appendix for t in s] == [False, False, True]


def test_blank_fraction_of_a_half_empty_page(tmp_path):
    from PIL import Image, ImageDraw

    im = Image.new("L", (100, 200), 255)
    ImageDraw.Draw(im).rectangle([10, 25, 90, 60], fill=0)   # ink only near the top of the block
    im.save(tmp_path / "p.png")
    bottom, gap = pdfcheck.blank_fractions(tmp_path / "p.png")
    assert bottom > 0.7 and gap == 0.0
    im2 = Image.new("L", (100, 200), 255)
    d = ImageDraw.Draw(im2)
    d.rectangle([10, 25, 90, 40], fill=0)
    d.rectangle([10, 170, 90, 178], fill=0)                     # a gap in the middle
    im2.save(tmp_path / "q.png")
    bottom, gap = pdfcheck.blank_fractions(tmp_path / "q.png")
    assert bottom < 0.05 and gap > 0.7


def _latex_tools():
    if not (shutil.which("latexmk") and shutil.which("pdftotext") and shutil.which("pdftoppm")):
        pytest.skip("needs latexmk and poppler-utils")


def _build(tmp_path, monkeypatch, verdicts_df, key_numbers_in_section=False):
    monkeypatch.chdir(tmp_path)
    from swejepa.tex import write_macros, write_table

    wide = pd.DataFrame({f"column {i}": [0.123456] for i in range(10)})
    write_table(wide, "results/tables/exp01_stats_grid.tex", caption="Full grid.")
    write_table(pd.DataFrame({"teacher": ["minilm"], "R@1": [0.5]}), "results/tables/exp02_retrieval.tex",
                caption="Headline.")
    write_macros({"PzeroRetrBest": 0.5}, "results/macros/phase0.tex")
    macro_files = ["results/macros/phase0.tex"]
    vpath = None
    if verdicts_df is not None:
        from swejepa import verdicts as V

        Path("results/paper").mkdir(parents=True, exist_ok=True)
        verdicts_df.to_csv("results/paper/verdicts_detail.csv", index=False)
        vpath = "results/paper/verdicts_detail.csv"
        write_macros(V.macros(verdicts_df, 0.95), "results/macros/verdicts.tex")
        macro_files.append("results/macros/verdicts.tex")
    out = paper.write_sections(["results/tables/exp01_stats_grid.tex", "results/tables/exp02_retrieval.tex"], [],
                               macro_files, "results/paper/generated",
                               defaults=REPO / "paper" / "macro-defaults.tex", verdicts=vpath)
    if key_numbers_in_section:
        out["exp02"].write_text(out["exp02"].read_text() + paper.numbers_block({"PzeroRetrBest": ""}, "x"))
    Path("results/paper/generated/provenance.tex").write_text(
        paper.provenance_tex(paper.provenance({"seed": 0}, REPO, None)))
    paper.build_pdf(REPO / "paper" / "main.tex", REPO / "paper" / "references.bib", "results/paper/build",
                    "results/paper/main.pdf")
    return pdfcheck.check("results/paper/main.pdf", "results/paper/build/main.log", EXPERIMENTS,
                          images="results/paper/contact")


@pytest.mark.latex
def test_pdf_check_passes_a_good_paper_and_reads_the_glance_table_back(tmp_path, monkeypatch):
    _latex_tools()
    r = _build(tmp_path, monkeypatch, verdicts())
    assert r["problems"] == [], r["problems"]
    assert r["glance_rows"] == sorted(EXPERIMENTS)
    grid = next(t for t in r["tables"] if t["name"] == "exp01_stats_grid")
    assert grid["appendix"] and grid["scale"] < 1.0   # shrunk, but in the appendix
    assert (tmp_path / "results/paper/contact/contact-01.png").exists()


@pytest.mark.latex
def test_pdf_check_fails_without_the_glance_table(tmp_path, monkeypatch):
    _latex_tools()
    r = _build(tmp_path, monkeypatch, None)
    assert any("Results at a glance" in p for p in r["problems"]), r["problems"]


@pytest.mark.latex
def test_pdf_check_fails_on_key_numbers_in_a_main_section_and_on_na(tmp_path, monkeypatch):
    _latex_tools()
    # a verdict whose number could not be computed prints n/a (swejepa.verdicts._n)
    df = verdicts({("0.2", "metric"): "hard MRR n/a"})
    r = _build(tmp_path, monkeypatch, df, key_numbers_in_section=True)
    assert any("Key numbers" in p and "main section" in p for p in r["problems"]), r["problems"]
    assert any("results at a glance print n/a" in p for p in r["problems"]), r["problems"]
