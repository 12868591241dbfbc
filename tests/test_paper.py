"""The paper build: generated includes, macros, provenance, latexmk, CI acceptance."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from swejepa import paper
from swejepa.plotting import figure, savefig
from swejepa.tex import write_macros, write_table

REPO = Path(__file__).resolve().parents[1]
HAVE_LATEX = bool(shutil.which("latexmk") and shutil.which("pdflatex"))
REQUIRE_LATEX = os.environ.get("SWEJEPA_REQUIRE_LATEX") == "1"


def need_latex():
    if not HAVE_LATEX:
        if REQUIRE_LATEX:
            pytest.fail("SWEJEPA_REQUIRE_LATEX=1 but latexmk/pdflatex are not installed")
        pytest.skip("latexmk not installed (set SWEJEPA_REQUIRE_LATEX=1 to make this an error)")


def test_section_of_by_prefix():
    assert paper.section_of("results/tables/exp02_retrieval.tex") == "exp02"
    assert paper.section_of("results/figures/exp01_cosine_qwen.pdf") == "exp01"
    assert paper.section_of("results/macros/exp31.tex") == "exp31"
    assert paper.section_of("results/tables/exp011_x.tex") == "other"
    assert paper.section_of("results/macros/paper_corpus.tex") == "other"
    assert [s.number for s in paper.SECTIONS] == ["0.1", "0.2", "0.3", "1.1", "1.2", "2.1", "2.2", "3.1"]


def test_combine_macros_rejects_duplicates(tmp_path):
    a, b = tmp_path / "exp01.tex", tmp_path / "exp02.tex"
    write_macros({"bestLayer": 3, "meanCos": 0.25}, a)
    write_macros({"bestLayer": 4}, b)
    with pytest.raises(ValueError, match="bestLayer"):
        paper.combine_macros([a, b])
    write_macros({"recallAtTen": 0.5}, b)
    text, per_file = paper.combine_macros([b, a])
    assert per_file[str(a)] == ["bestLayer", "meanCos"]
    assert "\\newcommand{\\recallAtTen}{0.500}" in text
    assert paper.camel_words("recallAtTen") == "recall at ten"


def _products(root: Path):
    """A miniature results/ tree as two stages would write it."""
    os.chdir(root)
    df = pd.DataFrame({"layer": ["first", "last"], "recall@10": [0.25, 0.75], "n": [10, 10]})
    write_table(df, "results/tables/exp02_retrieval.tex", caption="Recall at 10.", label="tab:exp02")
    Path("results/tables/exp03_probes.tex").write_text(  # a bare tabular, no float
        "\\begin{tabular}{lr}\n\\toprule\na & b \\\\\n\\midrule\nx & 1 \\\\\n\\bottomrule\n\\end{tabular}\n")
    fig, ax = figure()
    ax.plot([0, 1], [0.2, 0.8])
    ax.set_xlabel("layer")
    ax.set_ylabel("recall@10")
    savefig(fig, "results/figures/exp02_recall")
    write_macros({"bestRecall": 0.75}, "results/macros/exp02.tex")
    write_macros({"nProbes": 7}, "results/macros/exp03.tex")
    tables = ["results/tables/exp02_retrieval.tex", "results/tables/exp03_probes.tex"]
    figures = ["results/figures/exp02_recall.pdf"]
    macros = ["results/macros/exp02.tex", "results/macros/exp03.tex"]
    return tables, figures, macros


def test_sections_include_products_and_mark_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tables, figures, macros = _products(tmp_path)
    out = paper.write_sections(tables, figures, macros, "results/paper/generated",
                               captions={"results/figures/exp02_recall.pdf": "Recall per layer."},
                               defaults=REPO / "paper" / "macro-defaults.tex")
    s02 = out["exp02"].read_text()
    assert "\\input{results/tables/exp02_retrieval.tex}" in s02
    assert "\\fitgraphics{results/figures/exp02_recall.pdf}" in s02
    assert "Recall per layer." in s02 and "\\bestRecall{}" not in s02
    assert "\\bestRecall{}" in out["numbers"].read_text()  # key numbers: appendix only
    s03 = out["exp03"].read_text()
    assert "\\begin{table}" in s03 and "\\input{results/tables/exp03_probes.tex}" in s03
    for key in ("exp01", "exp11", "exp12", "exp21", "exp22", "exp31", "other"):
        assert paper.NOT_PRODUCED in out[key].read_text(), key
        assert "no verdict for this experiment" in out[key].read_text() or key == "other"
    assert "verdicts.csv is missing" in out["glance"].read_text()
    assert paper.NOT_PRODUCED not in s02
    m = out["macros"].read_text()
    assert m.index("\\newcommand{\\bestRecall}") < m.index("\\providecommand{\\corpusFiles}")


def test_every_prose_macro_has_a_default():
    """main.tex may cite a number only through a macro with an n/a default."""
    main = (REPO / "paper" / "main.tex").read_text()
    defaults = paper.parse_defaults((REPO / "paper" / "macro-defaults.tex").read_text())
    body = main.split("\\begin{document}", 1)[1]
    import re
    used = set(re.findall(r"\\([A-Za-z]+)", re.sub(r"(?<!\\)%.*", "", body)))
    data_like = {u for u in used if u.startswith(("corpus", "regions", "prov", "Pzero", "Student", "phasetwo", "decoder"))}
    assert data_like <= set(defaults), sorted(data_like - set(defaults))
    # no digits typed into the prose outside math/citations/section numbers: numbers come from macros
    assert not re.search(r"\b\d+(\.\d+)?\s*(files|regions|functions|MB|\\%)", body)


def test_main_tex_has_one_fixed_input_per_section():
    main = (REPO / "paper" / "main.tex").read_text()
    for key in paper.GENERATED_KEYS:
        assert f"\\input{{results/paper/generated/sec_{key}.tex}}" in main
    # the glance table right after the abstract, the grids and key numbers after \appendix
    assert main.index("sec_glance.tex") < main.index("\\section{Setup}")
    assert main.index("\\appendix") < main.index("sec_grids.tex") < main.index("sec_numbers.tex")


def test_provenance_records_run(tmp_path):
    man = tmp_path / "manifest.json"
    man.write_text(json.dumps({"manifest_sha256": "ab" * 32, "files": []}))
    cfg = {"corpus": {"name": "smoke"}, "seed": 0}
    p = paper.provenance(cfg, REPO, man)
    assert p["corpus_manifest_sha256"] == "ab" * 32
    assert p["config_sha256"] == paper.config_hash({"seed": 0, "corpus": {"name": "smoke"}})
    assert p["config_sha256"] != paper.config_hash({"seed": 1, "corpus": {"name": "smoke"}})
    assert p["packages"]["torch"] and p["hardware"]["cores"] >= 1
    assert len(p["git"]["commit"]) in (40, 7) and isinstance(p["git"]["dirty"], bool)
    tex = paper.provenance_tex(p)
    assert "\\newcommand{\\provManifestHash}{abababababab}" in tex and "\\provTable" in tex


def test_table_html_and_references(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tables, figures, macros = _products(tmp_path)
    html = paper.tex_table_to_html(Path(tables[0]).read_text())
    assert "<th>recall@10</th>" in html and "<td>0.750</td>" in html and "Recall at 10." in html
    paper.write_sections(tables, figures, macros, "results/paper/generated")
    Path("main.tex").write_text("\\input{results/paper/generated/sec_exp02.tex}\n"
                                "% \\input{commented/out.tex}\n\\input{results/paper/generated/sec_exp03}\n")
    refs = [str(r) for r in paper.referenced_files("main.tex")]
    assert refs == ["results/paper/generated/sec_exp02.tex", "results/paper/generated/sec_exp03.tex",
                    "results/tables/exp02_retrieval.tex", "results/figures/exp02_recall.pdf",
                    "results/tables/exp03_probes.tex"]
    assert paper.check_references("main.tex") == []
    os.remove("results/figures/exp02_recall.pdf")
    assert paper.check_references("main.tex") == ["results/figures/exp02_recall.pdf"]
    n = paper.collect_report(figures[:0] + ["results/figures/exp02_recall.pdf"], tables, "rep/f", "rep/t")
    assert n["tables"] == 2 and (Path("rep/f") / "exp02_recall.png").exists()


def test_config_schema_paper_section():
    from swejepa.settings import ConfigError, Settings

    assert Settings.load(REPO / "config.yaml").paper.pdf is True
    for bad in ({"pdf": "yes"}, {"report_dpi": 0}, {"colour": 1}):
        with pytest.raises(ConfigError, match="paper"):
            Settings.load(REPO / "config.yaml", overrides={"paper": bad})


@pytest.mark.latex
def test_pdf_builds_from_generated_products(tmp_path, monkeypatch):
    need_latex()
    monkeypatch.chdir(tmp_path)
    tables, figures, macros = _products(tmp_path)
    paper.write_sections(tables, figures, macros, "results/paper/generated",
                         defaults=REPO / "paper" / "macro-defaults.tex")
    prov = paper.provenance({"seed": 0}, REPO, None)
    Path("results/paper/generated/provenance.tex").write_text(paper.provenance_tex(prov))
    pdf = paper.build_pdf(REPO / "paper" / "main.tex", REPO / "paper" / "references.bib",
                          "results/paper/build", "results/paper/main.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    log = Path("results/paper/build/main.log").read_text(errors="replace")
    assert "Citation" not in log or "undefined" not in log.split("Citation", 1)[1][:200]
    fb = paper.fallback_macros(REPO / "paper" / "main.tex", "results/paper/generated/macros.tex",
                               "results/paper/generated/provenance.tex")
    assert "corpusFiles" in fb and "provCommit" not in fb


def test_latex_missing_message(monkeypatch):
    monkeypatch.setattr(paper.shutil, "which", lambda name: None)
    with pytest.raises(paper.LatexMissing, match="apt-get install -y latexmk"):
        paper.find_latexmk()


# ---------------------------------------------------------------- CI acceptance

@pytest.mark.slow
@pytest.mark.latex
def test_ci_smoke_paper_end_to_end(smoke_run, tmp_path_factory):
    """Smoke config from an empty results dir to the PDF; page 1 renders; every file
    main.tex references exists and was written by this run."""
    need_latex()
    assert smoke_run.targets == ["all"]
    start = smoke_run.started
    tmp_path = smoke_run.workdir
    png_dir = tmp_path_factory.mktemp("page1")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
           "-c2", "--configfile", str(REPO / "config" / "smoke.yaml")]
    pdf = tmp_path / "results" / "paper" / "main.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                        str(png_dir / "page1")], check=True)
        assert (png_dir / "page1.png").stat().st_size > 10_000
    elif REQUIRE_LATEX:
        pytest.fail("pdftoppm (poppler-utils) is required in CI")
    refs = paper.referenced_files(REPO / "paper" / "main.tex", tmp_path)
    sections = [r for r in refs if r.name.startswith("sec_")]
    assert len(sections) == len(paper.GENERATED_KEYS)
    for ref in refs:
        p = tmp_path / ref
        assert p.exists(), ref
        assert p.stat().st_mtime >= start, f"{ref} was not produced in this run"
    # the PDF as a reader sees it (swejepa/pdfcheck.py): the glance table on page 1-2 with
    # a row per criterion, no n/a there, no key numbers in main sections, no main table
    # shrunk below 80 %, no half-empty page; contact sheets rendered
    layout = json.loads((tmp_path / "results" / "paper" / "layout_check.json").read_text())
    assert layout["problems"] == [], layout["problems"]
    assert layout["glance_rows"] == sorted(s.number for s in paper.SECTIONS)
    assert list((tmp_path / "results" / "paper" / "contact").glob("contact-*.png"))
    listing = json.loads((tmp_path / "results" / "paper" / "referenced_files.json").read_text())
    assert listing["missing"] == [] and {f["path"] for f in listing["files"]} == {str(r) for r in refs}
    # every product the stages registered for the paper is referenced
    products = {str(p.relative_to(tmp_path)) for d in ("tables", "figures")
                for p in (tmp_path / "results" / d).glob("*") if p.suffix in (".tex", ".pdf")}
    unreferenced = sorted(products - {str(r) for r in refs})
    if unreferenced:  # written but not registered in PAPER_TABLES/PAPER_FIGURES
        import warnings
        warnings.warn(f"tables/figures not in the paper: {unreferenced}")
    rep = subprocess.run(cmd[:-3] + ["--configfile", str(REPO / "config" / "smoke.yaml"),
                                     "--report", str(tmp_path / "report.html")],
                         capture_output=True, text=True, timeout=600)
    assert rep.returncode == 0, rep.stderr[-4000:]
    assert (tmp_path / "report.html").stat().st_size > 10_000
    # Without TeX the PDF job fails at once, naming the packages to install.
    (tmp_path / "results" / "paper" / "main.pdf").unlink()
    nolatex = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "SWEJEPA_LATEXMK": "/nonexistent/latexmk"})
    assert nolatex.returncode != 0
    assert "apt-get install -y latexmk" in nolatex.stdout + nolatex.stderr
    assert not (tmp_path / "results" / "paper" / "main.pdf").exists()
