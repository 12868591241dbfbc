"""The parse-time check (swejepa/preflight.py): a run whose targets need latexmk stops
before any job when it is missing; other targets, -n and --sdm conda do not."""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from swejepa import preflight as pf
from swejepa.settings import Settings

SETTINGS = Settings.load(Path(__file__).resolve().parents[1] / "config.yaml")

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "config" / "smoke.yaml"
ALL = {"latexmk", "pdflatex", "bibtex"}


def which_without(*missing):
    return lambda tool: None if tool in missing else f"/usr/bin/{tool}"


@pytest.mark.parametrize("targets, pdf, missing", [
    ((), True, True),                                   # default target: rule all -> the PDF
    (("all",), True, True),
    (("paper_pdf",), True, True),
    (("paper_check",), True, True),
    (("results/paper/main.pdf",), True, True),
    (("/abs/work/results/paper/referenced_files.json",), True, True),
    (("paper_sources",), True, False),
    (("results/corpus/smoke/manifest.json", "properties"), True, False),
    ((), False, False),                                 # paper.pdf: false
    (("all",), False, False),
    (("paper_pdf",), False, True),                      # asked for explicitly
])
def test_which_targets_need_latexmk(targets, pdf, missing):
    got = pf.missing_requirements(targets, pdf, which=which_without("latexmk"), environ={})
    assert bool(got) == missing
    if missing:
        assert got[0].startswith("latexmk (needed by: ")


def test_conda_and_installed_tex_need_nothing():
    assert pf.missing_requirements((), True, conda=True, which=which_without(*ALL), environ={}) == []
    assert pf.missing_requirements((), True, which=which_without(), environ={}) == []
    got = pf.missing_requirements((), True, which=which_without(*ALL), environ={})
    assert [g.split()[0] for g in got] == ["latexmk", "pdflatex", "bibtex"]


def test_swejepa_latexmk_names_the_binary():
    env = {"SWEJEPA_LATEXMK": "/opt/tex/bin/latexmk"}
    got = pf.missing_requirements((), True, which=which_without("/opt/tex/bin/latexmk"), environ=env)
    assert got and got[0].startswith("/opt/tex/bin/latexmk")
    assert pf.missing_requirements((), True, which=which_without("latexmk"), environ=env) == []


def test_message_says_what_to_install_and_the_alternatives():
    msg = pf.message(["latexmk (needed by: all)"])
    for part in ("latexmk", "apt-get install", "latexmk texlive-latex-recommended", "scripts/setup.sh",
                 "--sdm conda", "paper_sources"):
        assert part in msg


@pytest.mark.parametrize("argv, targets, runs", [
    (["snakemake", "-c2", "--configfile", "config/smoke.yaml"], (), True),
    (["snakemake", "-c2", "paper_sources", "--configfile", "a.yaml"], ("paper_sources",), True),
    (["snakemake", "-c2", "--configfile", "a.yaml", "paper_sources"], (), True),  # --configfile takes it, as in Snakemake
    (["snakemake", "-n", "-c2"], (), False),
    (["/x/lib/snakemake/__main__.py", "--dry-run"], (), False),
    (["snakemake", "--lint"], (), False),
    (["snakemake", "--report", "r.html"], (), False),
    (["snakemake", "-t"], (), False),
    (["snakemake", "--dag"], (), False),
    (["snakemake", "--summary"], (), False),
])
def test_invocation_is_read_with_snakemakes_parser(argv, targets, runs):
    inv = pf.invocation_from_argv(argv)
    assert inv.known and inv.targets == targets and inv.runs_jobs == runs


def test_unknown_command_line_only_warns():
    assert not pf.invocation_from_argv(["pytest", "-q"]).known
    notes = []
    wf = SimpleNamespace(is_main_process=True, deployment_settings=SimpleNamespace(deployment_method=set()))
    got = pf.check_workflow(SETTINGS, wf, ["pytest"], which=which_without("latexmk"), environ={}, warn=notes.append)
    assert got and "latexmk" in notes[0]


def test_check_workflow_raises_warns_or_stays_silent():
    def wf(main=True, methods=()):
        return SimpleNamespace(is_main_process=main, deployment_settings=SimpleNamespace(deployment_method=set(methods)))

    kw = dict(which=which_without("latexmk"), environ={})
    with pytest.raises(pf.PreflightError, match="latexmk"):
        pf.check_workflow(SETTINGS, wf(), ["snakemake", "-c2"], **kw)
    notes = []
    assert pf.check_workflow(SETTINGS, wf(), ["snakemake", "-n"], warn=notes.append, **kw)
    assert notes and notes[0].startswith("NOTE")
    assert pf.check_workflow(SETTINGS, wf(main=False), ["snakemake", "-c2"], **kw) == []        # a job process
    assert pf.check_workflow(SETTINGS, wf(methods=["CONDA"]), ["snakemake", "-c2"], **kw) == []  # --sdm conda
    assert pf.check_workflow(SETTINGS, wf(), ["snakemake", "-c2", "paper_sources"], **kw) == []


def test_apt_packages_command_is_what_setup_installs():
    out = subprocess.run([sys.executable, "-m", "swejepa.preflight", "apt-packages"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == list(pf.APT_PACKAGES) and {"latexmk", "poppler-utils"} <= set(out)
    assert "swejepa.preflight apt-packages" in (ROOT / "scripts" / "setup.sh").read_text()


# ----------------------------------------------------------------------------- through Snakemake

def path_without(tool: str, tmp: Path) -> str:
    """PATH with ``tool`` hidden: each directory that has it is replaced by a copy made
    of symlinks to everything else in it."""
    out = []
    for i, d in enumerate(os.environ.get("PATH", "").split(os.pathsep)):
        if d and os.path.exists(os.path.join(d, tool)):
            shadow = tmp / f"shadow{i}"
            if shadow.exists():
                out.append(str(shadow))
                continue
            shadow.mkdir()
            for name in os.listdir(d):
                if name != tool:
                    os.symlink(os.path.join(d, name), shadow / name)
            d = str(shadow)
        out.append(d)
    return os.pathsep.join(out)


def snakemake_without_latexmk(tmp_path, *args):
    env = dict(os.environ, PATH=path_without("latexmk", tmp_path))
    env.pop("SWEJEPA_LATEXMK", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    return p, work


def test_run_without_latexmk_stops_before_any_job(tmp_path):
    p, work = snakemake_without_latexmk(tmp_path, "-c2", "--configfile", str(SMOKE))
    out = p.stdout + p.stderr
    assert p.returncode != 0, out[-3000:]
    assert "PreflightError" in out and "latexmk" in out and "apt-get install -y latexmk" in out, out[-3000:]
    assert "paper_sources" in out
    assert not (work / "results").exists()  # no job ran
    assert "Building DAG" not in out


def test_dry_run_and_other_targets_without_latexmk_go_on(tmp_path):
    p, work = snakemake_without_latexmk(tmp_path, "-n", "-c2", "--configfile", str(SMOKE))
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    assert "NOTE: these tools are missing" in p.stdout + p.stderr
    p, work = snakemake_without_latexmk(tmp_path, "-c1", "results/corpus/smoke/manifest.json",
                                        "--configfile", str(SMOKE))
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    assert (work / "results" / "corpus" / "smoke" / "manifest.json").exists()
