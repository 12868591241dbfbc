"""The workflow's plan (swejepa/dag.py) as plain Python: which teachers, students, Phase-2
points and paper products exist for a configuration, without running Snakemake."""
from pathlib import Path

import pytest

from swejepa.dag import build_plan
from swejepa.layout import Layout
from swejepa.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[1]


def plan(*overlays, overrides=None):
    return build_plan(Settings.load(ROOT / "config.yaml", *[ROOT / o for o in overlays], overrides=overrides))


def test_default_plan():
    p = plan()
    assert p.teachers == ["tinyfim", "minilm", "randinit"]
    assert p.teachers_by_source("train") == ["tinyfim"] and p.teachers_by_source("random") == ["randinit"]
    assert p.students == [("tinyfim", "main"), ("minilm", "main"), ("randinit", "main"), ("tinyfim", "reference"),
                          ("tinyfim", "positions-rope"), ("tinyfim", "context-file"),
                          ("tinyfim", "predictor-mlp"), ("tinyfim", "contrastive-off"),
                          ("tinyfim", "loss-smooth_l1"), ("tinyfim", "loss-cosine"), ("tinyfim", "target_norm-none"),
                          ("tinyfim", "max_len-192"), ("tinyfim", "lr-0.0003")]
    assert p.decoder_on and p.decoder_teacher == "tinyfim"
    assert p.compute_teachers == ["tinyfim"] and p.floor_teacher == "tinyfim" and p.twin("tinyfim") == "randinit"
    assert p.compute_pcts == [0, 25, 50, 75]
    # the curve: step 0 = the twin's 2.1 student, the last Stage-1 step = the teacher's own
    assert [(c.step, c.final) for c in p.curve_points] == [
        (0, "results/student/randinit/main/final.pt"),
        (40, "results/phase2/compute/curve/tinyfim/seed0/step40/final.pt"),
        (100, "results/student/tinyfim/main/final.pt")]
    assert p.latent_files("minilm") == ["results/latents/minilm/shard0of1.h5"]
    assert "results/paper/main.pdf" in p.targets and "results/paper/main.pdf" not in p.stage_targets


def test_paper_products_follow_the_stages():
    p = plan()
    names = [Path(t).stem for t in p.tables]
    assert names == ["exp01_stats", "exp01_stats_grid", "exp02_headline", "exp02_transforms", "exp02_retrieval_grid",
                     "exp03_probes", "exp03_probes_grid", "exp11_student", "exp11_ablation", "exp11_student_grid",
                     "exp12_correlation", "exp21_teachers", "exp22_compute", "exp31_decoder"]
    assert "results/figures/teacher_loss_tinyfim.pdf" in p.figures
    assert all(f.replace(".pdf", ".png") in p.stage_targets for f in p.figures)
    assert p.layout.macros("paper_corpus") in p.macros
    # no vector pool: no retrieval products
    q = plan(overrides={"grid": {"pools": ["none"]}})
    assert "results/tables/exp02_headline.tex" not in q.tables and q.vector_pools == []


def test_verdicts_are_a_stage_target_with_the_stages_rows():
    p = plan()
    assert "results/paper/verdicts.csv" in p.stage_targets and p.layout.verdicts() == "results/paper/verdicts.csv"
    assert p.verdict_stages == ["results/student/verdicts.csv", "results/phase2/verdicts.csv",
                                "results/decoder/tinyfim/verdicts.csv"]
    assert p.random_control == "randinit"
    # the paper prints them: the table is a paper source, the verdict macros a macro file
    assert p.layout.verdicts_detail() in p.verdicts_csv and "results/macros/verdicts.tex" in p.macros
    inp = p.verdict_inputs()
    assert inp["stats"] == p.layout.stats_all() and inp["probes"] == p.layout.probes_all()
    assert inp["headline"] == "results/phase0/retrieval/headline.csv"
    # no retrieval in the plan: no headline input
    assert "headline" not in plan(overrides={"grid": {"pools": ["none"]}}).verdict_inputs()
    # stages switched off: their rows are not inputs (the collector marks them not run)
    q = plan(overrides={"student": {"ablation": {"enabled": False}, "teachers": ["minilm"]}})
    assert "results/decoder/tinyfim/verdicts.csv" not in q.verdict_stages


def test_student_variants_flip_one_option_each():
    p = plan()
    main = p.student_recipe("main")
    rope = p.student_recipe("positions-rope")
    assert main.model.positions == "abs" and rope.model.positions == "rope"
    st = p.settings.student
    assert rope.train.max_steps == st.ablation.max_steps < main.train.max_steps == st.train.max_steps  # shorter
    assert p.student_recipe("contrastive-off").train.contrastive_weight == 0.0
    # the job-only fields do not reach the recipe (a change there reruns no training)
    q = plan(overrides={"student": {"eval": {"val_regions": 9}, "runtime": 7}})
    assert q.student_recipe("main") == main
    off = plan(overrides={"student": {"train": {"contrastive_weight": 0.0}}})
    assert "contrastive-on" in off.student_variants
    assert off.student_recipe("contrastive-on").train.contrastive_weight == pytest.approx(0.1)


def test_collapse_ablation_flips_loss_norm_context_and_lr():
    p = plan()
    st = p.settings.student
    v = p.student_variants
    # each other loss, the norm flipped, 2x context, 0.3x lr; the main loss is not repeated
    assert {k for k in v if p.variant_kind(k) == "collapse"} == {
        "loss-smooth_l1", "loss-cosine", "target_norm-none", f"max_len-{2 * st.max_len}",
        f"lr-{st.train.lr * 0.3:g}"}
    assert p.student_recipe("loss-cosine").train.loss == "cosine"
    assert p.student_recipe("target_norm-none").target_norm == "none"
    assert p.student_recipe(f"max_len-{2 * st.max_len}").max_len == 2 * st.max_len
    assert p.student_recipe(f"lr-{st.train.lr * 0.3:g}").train.lr == pytest.approx(st.train.lr * 0.3)
    for k in v:  # one option flipped, everything else as the main student (but shorter)
        diff = {f for f in ("loss", "lr") if getattr(p.student_recipe(k).train, f) != getattr(st.train, f)}
        diff |= {f for f in ("target_norm", "max_len", "context") if getattr(p.student_recipe(k), f) != getattr(st, f)}
        assert len(diff) <= 1, (k, diff)
    assert p.variant_kind("positions-rope") == "design" and p.variant_kind("main") == "main"
    # the reference: the main recipe with the ablation's steps, nothing flipped
    ref = p.student_recipe("reference")
    assert ref.train.max_steps == st.ablation.max_steps and ref.without("train") == st.recipe().without("train")
    q = plan(overrides={"student": {"ablation": {"collapse": False}}})
    assert not any(q.variant_kind(k) == "collapse" for k in q.student_variants)
    r = plan(overrides={"student": {"train": {"loss": "cosine"}}})
    assert "loss-l1" in r.student_variants and "loss-cosine" not in r.student_variants


def test_ablation_and_decoder_can_be_switched_off():
    p = plan(overrides={"student": {"ablation": {"enabled": False}, "teachers": ["minilm"]}})
    assert p.students == [("minilm", "main")]
    assert not p.decoder_on   # the decoder's teacher (tinyfim) has no student now
    assert "results/tables/exp31_decoder.tex" not in p.tables


def test_phase2_reuses_student_stage_students():
    p = plan(overrides={"phase2": {"seeds": [0, 1]}})
    assert p.p2_student_final("minilm", 0) == "results/student/minilm/main/final.pt"
    assert p.p2_student_final("minilm", 1) == "results/phase2/teachers/minilm/seed1/final.pt"
    assert len(p.teachers21_jsons()) == 2 * (3 + 1)   # seeds x (teachers + untrained)


def test_cluster_plan():
    p = plan("config/cluster.yaml")
    assert len(p.teachers) == 8 and p.n_shards == 4
    assert sum(len(p.latent_files(t)) for t in p.teachers) == 32
    assert p.compute_teachers == ["tinyfim", "coder3b"] and p.finetunes("coder3b") and not p.finetunes("tinyfim")
    assert len(p.compute_eval_jsons()) == 2 * 3 * 6
    # coder3b (fine-tuned): step 0 is its own 2.1 student; every snapshot below its 2000 steps, and the end
    steps = p.curve_steps("coder3b")
    assert steps == [0, 250, 500, 1000, 2000] and p.curve_point("coder3b", 0, 0)[1].endswith("teachers/seed0/coder3b.json")
    assert p.curve_steps("tinyfim") == [0, 250, 500, 1000, 2000, 4000, 8000, 16000, 20000]


def test_layout_paths_and_wildcards():
    lay = Layout("results", "stdlib")
    assert lay.latents() == "results/latents/{teacher}/shard{shard}of{nshards}.h5"
    assert lay.latents("t", 0, 2) == "results/latents/t/shard0of2.h5"
    assert lay.stats_cell("t", "ast", "half", "mean", "raw") == "results/phase0/stats/t/ast/half_mean_raw.csv"
    assert lay.retrieval_ranks("t", "half", "mean", "centered") == \
        "results/phase0/retrieval/t/half_mean_centered_ranks.csv"
    assert lay.mask_csv("ast") == "results/masks/stdlib/ast.csv"
    assert Layout.of("/x/results/latents/t/shard0of1.h5") == Layout("/x/results")


def test_bad_cross_references_fail_before_planning():
    with pytest.raises(ConfigError, match="phase2.small_teacher"):
        plan(overrides={"phase2": {"teachers": ["minilm"], "small_teacher": "tinyfim"}})
    with pytest.raises(ConfigError, match="student.ablation.teacher"):
        plan(overrides={"student": {"ablation": {"teacher": "nobody"}}})
