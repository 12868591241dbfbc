"""The smoke workflow, to the PDF, over a `dir` corpus full of pathological files
(tests/pathological.py, the merely big cases at a tenth of the fuzz test's size; every
file with regions is extracted by every teacher) beside a slice of real code: no stage
may fail, and every file is accounted for (issue 15). Slow: one smoke run."""
import csv
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from swejepa.corpus import build_corpus
from swejepa.paper import run_snakemake
from swejepa.settings import CorpusSettings

sys.path.insert(0, str(Path(__file__).parent))
import pathological  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "config" / "smoke.yaml"

pytestmark = pytest.mark.slow


def latex_available() -> bool:
    return bool(shutil.which(os.environ.get("SWEJEPA_LATEXMK") or "latexmk")) and bool(shutil.which("pdflatex"))


def build_tree(root: Path) -> dict:
    """40 real stdlib modules (their own packages, so every split has some) and the
    pathological cases spread over five packages; returns the special entries' reasons."""
    real = build_corpus(CorpusSettings(max_files=40), seed=0)
    pathological.write_files(root, {f["path"]: f["content"].encode("utf-8") for f in real.files})
    groups = {"patho_enc": ("bom", "cr", "crlf", "latin", "cp1252", "cookie", "utf", "nul", "binary", "line_",
                            "form", "lone", "vertical", "unicode", "zero", "combining", "invalid", "overlong",
                            "encoded", "empty", "whitespace"),
              "patho_deep": ("deep", "nested", "long_", "elif", "if_chain"),
              "patho_big": ("giant", "huge", "thousands", "generated", "many", "long_identifier")}
    files = {}
    for name, data in pathological.pathological_files(scale=0.1).items():  # big cases at a tenth: tokens cost
        pkg = next((g for g, keys in groups.items() if name.startswith(keys)), "patho_syntax")
        files[name if "/" in name else f"{pkg}/{name}"] = data
    files.update({f"patho_mut/{k}": v for k, v in pathological.mutants(7, 40).items()})
    pathological.write_files(root, files)
    return pathological.special_entries(root)


@pytest.fixture(scope="module")
def patho_run(tmp_path_factory):
    require = os.environ.get("SWEJEPA_REQUIRE_LATEX") == "1"
    if not latex_available() and not require:
        pytest.skip("latexmk not found (set SWEJEPA_REQUIRE_LATEX=1 to fail instead)")
    base = tmp_path_factory.mktemp("patho")
    corpus = base / "corpus"
    corpus.mkdir()
    specials = build_tree(corpus)
    overlay = base / "patho.yaml"
    # every file with regions is extracted (not a seeded subset), so each teacher meets them all
    overlay.write_text(yaml.safe_dump({"corpus": {"name": "patho", "source": "dir", "path": str(corpus),
                                                  "max_files": None},
                                       "extract": {"max_files": None}}))
    work = base / "work"
    try:
        r = run_snakemake(work, [SMOKE, overlay], ["all"], 2, timeout=3600, check=False)
    finally:
        pathological.restore_permissions(corpus)
    return work / "results", corpus, specials, r


def test_pathological_corpus_reaches_the_pdf(patho_run):
    res, corpus, specials, r = patho_run
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
    assert (res / "paper" / "main.pdf").stat().st_size > 10_000
    assert (res / "paper" / "referenced_files.json").exists()


def test_every_path_accounted_for_and_every_failure_reported(patho_run):
    res, corpus, specials, r = patho_run
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
    rep = json.loads((res / "corpus" / "patho" / "report.json").read_text())
    walked = pathological.walk_py_paths(corpus)
    assert rep["n_files"] + rep["n_skipped"] == len(walked) == rep["walk"]["n_py_paths"]
    with open(res / "corpus" / "patho" / "skipped.csv", encoding="utf-8", newline="") as fh:
        reasons = {row["path"]: row["reason"] for row in csv.DictReader(fh)}
    for path, reason in specials.items():
        if reason and not (reason == "unreadable" and os.geteuid() == 0):  # root reads a mode-000 file
            assert reasons.get(path) == reason, path
    for reason in ("binary", "not_utf8", "empty", "duplicate", "too_large", "symlink", "symlink_loop",
                   "not_a_file", "excluded_test_dir"):
        assert rep["skipped_by_reason"].get(reason), reason
    # the later stages processed what remained and said what they could not
    import pandas as pd

    ast_rows = pd.read_csv(res / "masks" / "patho" / "ast.csv", keep_default_na=False)
    props = pd.read_csv(res / "properties" / "patho" / "properties.csv", keep_default_na=False)
    n_funcs = int(ast_rows["kind"].isin(["function", "method"]).sum())
    assert len(props) == n_funcs > 1000
    prep = json.loads((res / "properties" / "patho" / "report.json").read_text())
    assert prep["n_unparsable"] == len(prep["skipped_functions"]) == int((props["parse_ok"].astype(str) == "False").sum())
    assert {"recursion_limit", "memory_error", "syntax_error"} <= set(prep["skipped_by_reason"])
    for mask in ("regex", "ast"):
        mrep = json.loads((res / "masks" / "patho" / f"{mask}_report.json").read_text())
        assert mrep["n_skipped_files"] == len(mrep["skipped_files"])
