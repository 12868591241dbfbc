"""Incremental rebuilds: after a full smoke run, changing a paper/plotting or probe
setting schedules only analysis, table and paper jobs - never extraction or training;
changing a training setting does rerun the training it belongs to (the settings reach
Snakemake's params as plain dicts, which it compares). Checked with `snakemake -n` and an
overlay config (slow: needs one full smoke run)."""

import re
from pathlib import Path

import pytest
import yaml

from swejepa.paper import dry_run_jobs, parse_job_stats

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "config" / "smoke.yaml"
# Rules that must never rerun for a probe/plotting change.
EXPENSIVE = re.compile(r"^(corpus|mask|properties|phase0_retrieval_items|extract\w*|teacher_(tokenizer|train|random)"
                       r"|\w*_train|decoder_prepare|phase2_compute_(point|snapshots|curve))$")


def test_parse_job_stats():
    text = ("Job stats:\njob                 count\n----------------  -------\n"
            "paper_report            1\nprobe              12\ntotal                  13\n\nReasons: ...")
    assert parse_job_stats(text) == {"paper_report": 1, "probe": 12}
    assert parse_job_stats("Nothing to be done (all requested files are present and up to date).") == {}
    assert all(EXPENSIVE.match(r) for r in ("extract", "teacher_train", "teacher_random", "student_train",
                                            "decoder_train", "teacher_tokenizer", "phase2_teachers_train",
                                            "phase2_compute_point", "phase2_compute_curve"))
    assert not any(EXPENSIVE.match(r) for r in ("phase0_probes", "student_eval", "paper_pdf", "student_report",
                                              "phase2_eval", "phase2_report"))


def _config():
    from swejepa.settings import Settings

    return Settings.load(REPO / "config.yaml", SMOKE).to_dict()


def _probe_override(cfg):
    """Change one scalar probe setting (whatever the probe stage calls it)."""
    for sec in ("probes", "probe"):
        for key, val in (cfg.get(sec) or {}).items():
            if isinstance(val, bool):
                return {sec: {key: not val}}
            if isinstance(val, int) and key not in ("seed",):
                return {sec: {key: val + 1}}
            if isinstance(val, float):
                return {sec: {key: val * 0.5}}
    return None


@pytest.fixture(scope="module")
def built(smoke_run):
    work = smoke_run.workdir
    assert dry_run_jobs(work, [SMOKE], ["paper_sources"]) == {}, "a second run must have nothing to do"
    return work


def _dry(work, override, tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump(override))
    return dry_run_jobs(work, [SMOKE, overlay], ["paper_sources"])


@pytest.mark.slow
def test_paper_setting_reruns_only_paper_jobs(built, tmp_path):
    jobs = _dry(built, {"paper": {"report_dpi": 123}}, tmp_path)
    assert "paper_report" in jobs
    assert all(r.startswith("paper") or r == "all" for r in jobs), jobs


@pytest.mark.slow
def test_probe_setting_never_reruns_extraction_or_training(built, tmp_path):
    override = _probe_override(_config())
    if override is None:
        pytest.skip("no probe stage in this configuration yet")
    jobs = _dry(built, override, tmp_path)
    assert jobs, f"changing {override} must rerun something (at least the provenance)"
    if list((built / "results").glob("phase0/probes/**/*.csv")):  # probes ran in this configuration
        assert any("probe" in r for r in jobs), f"changing {override} must rerun the probes: {jobs}"
    assert not [r for r in jobs if EXPENSIVE.match(r)], jobs


@pytest.mark.slow
def test_training_setting_reruns_that_training_only(built, tmp_path):
    """A student learning rate reruns the students (and what reads them), no teacher or
    extraction; a student *evaluation* setting reruns no training at all."""
    lr = _config()["student"]["train"]["lr"]
    jobs = _dry(built, {"student": {"train": {"lr": lr * 0.5}}}, tmp_path)
    assert jobs.get("student_train"), jobs
    assert not {"extract", "teacher_train", "teacher_random", "teacher_tokenizer"} & set(jobs), jobs
    jobs = _dry(built, {"student": {"eval": {"val_regions": 17}}}, tmp_path)
    assert jobs.get("student_eval") and not [r for r in jobs if EXPENSIVE.match(r)], jobs
