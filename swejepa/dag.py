"""The workflow's plan: which jobs exist for a given configuration.

Pure functions of the :class:`~swejepa.settings.Settings` and the
:class:`~swejepa.layout.Layout`: the teachers to build, the students and their design
variants, the Phase-2 sweep points, the decoder's wiring, the paper's products and the
targets of ``rule all``. The Snakefile builds one :class:`Plan` and every ``rules/*.smk``
reads it (input functions are its methods), so the DAG can be tested in pytest without
``snakemake -n``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from .layout import Layout
from .settings import MASKS, Settings, StudentSettings

# The design options of the student ablation (the seed's three questions + the
# anti-collapse term): (section, option) and the flip of each value.
FLIPS = {
    "positions": ("model", {"abs": "rope", "rope": "abs"}),
    "context": (None, {"signature": "file", "file": "signature"}),
    "predictor": ("model", {"transformer": "mlp", "mlp": "transformer"}),
}
CONTRASTIVE_ON = 0.1  # weight of the `contrastive-on` variant when the design has it off
# Options of the collapse ablation (student.ablation.collapse): variant names start with them.
COLLAPSE_OPTIONS = ("loss", "target_norm", "max_len", "lr")
REFERENCE = "reference"  # the ablation's baseline: the main recipe with the ablation's steps

NEVER = "(?!x)x"  # a wildcard constraint that matches nothing


def alternatives(names) -> str:
    """A wildcard constraint matching exactly these names."""
    names = list(names)
    return "|".join(re.escape(n) for n in names) if names else NEVER


@dataclass(frozen=True)
class CurvePoint:
    teacher: str
    step: int
    seed: int
    final: str   # the student's final.pt
    json: str    # its evaluation


@dataclass
class Plan:
    settings: Settings
    layout: Layout
    # Products the paper consumes (filled by the stage sections below, in order).
    tables: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    macros: list[str] = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        for part in (self._teacher_products, self._phase0_products, self._student_products,
                     self._phase2_products, self._decoder_products):
            part()
        self.macros.append(self.layout.macros("paper_corpus"))
        self.macros.append(self.layout.macros("verdicts"))  # paper_verdicts: \\Verdict<Exp> per criterion

    # ================================================================== teachers, extraction
    @property
    def teachers(self) -> list[str]:
        return self.settings.teacher_names

    def teachers_by_source(self, *sources) -> list[str]:
        return [t.name for t in self.settings.teachers if t.source in sources]

    @property
    def n_shards(self) -> int:
        return self.settings.extract.n_shards

    def latent_files(self, teacher: str) -> list[str]:
        return self.layout.latent_files(teacher, self.n_shards)

    def built_model(self, teacher: str) -> list[str]:
        """``[model/config.json]`` of a teacher the workflow builds (train/random), else []."""
        return [self.layout.teacher_model_config(teacher)] if self.settings.teacher(teacher).builds_here else []

    def teacher_model_dir(self, teacher: str) -> str:
        """Where a teacher's weights and tokenizer are (built here, a package dir, an hf id/dir)."""
        t = self.settings.teacher(teacher)
        if t.builds_here:
            return self.layout.teacher_model(teacher)
        from .teachers.registry import resolve_source

        return str(resolve_source(t, self.layout, self.settings.teacher_index(teacher))["path"])

    def extract_inputs(self, wc) -> dict:
        lay = self.layout
        inp = {"files": lay.corpus_files(), "manifest": lay.corpus_manifest(),
               "masks": [lay.mask_csv(m) for m in self.settings.masks.strategies],
               "bench": lay.bench_items()}
        if self.built_model(wc.teacher):
            inp["model"] = self.built_model(wc.teacher)[0]
        return inp

    def _teacher_products(self):
        for t in self.teachers_by_source("train"):
            self.figures.append(self.layout.figure(f"teacher_loss_{t}"))

    # ================================================================== Phase 0
    mask_names = MASKS  # every strategy a rule can build (properties need ast, whatever the grid)

    @property
    def vector_pools(self) -> list[str]:
        """Pools with one vector per region (retrieval, probes)."""
        return [p for p in self.settings.grid.pools if p != "none"]

    @property
    def main_mask(self) -> str:
        """The mask shown in the paper's tables."""
        ms = self.settings.masks.strategies
        return "ast" if "ast" in ms else ms[0]

    @property
    def main_pool(self) -> str:
        vp = self.vector_pools
        return "mean" if "mean" in vp else (vp or ["mean"])[0]

    @property
    def random_control(self) -> str | None:
        """The random-init teacher every Phase-0 score is compared with (the first `random` one)."""
        r = self.teachers_by_source("random")
        return r[0] if r else None

    @property
    def centers(self) -> list[str]:
        """The anisotropy axis of the stats and retrieval cells (raw | centered)."""
        return list(self.settings.grid.centers)

    def cells(self, pattern, pools, centers=None, **fixed) -> list[str]:
        """Per-cell paths of one job: a Layout method with {layer}/{pool} (and {center} when
        ``centers`` is given) filled for the grid, the wildcards given in ``fixed``
        (teacher=, mask=) filled, the others kept."""
        cs = [{}] if centers is None else [{"center": c} for c in centers]
        return [pattern(layer=layer, pool=pool, **c, **fixed) for layer in self.settings.grid.layers
                for pool in pools for c in cs]

    def all_cells(self, pattern, pools, masks=True, centers=None) -> list[str]:
        out = []
        for t in self.teachers:
            for m in (self.settings.masks.strategies if masks else [None]):
                out += self.cells(pattern, pools, centers, teacher=t, **({"mask": m} if m else {}))
        return out

    @property
    def random_teachers(self) -> list[str]:
        """The random-init controls (every retrieval table and figure shows them)."""
        return self.teachers_by_source("random")

    def _phase0_products(self):
        lay, ts = self.layout, self.teachers
        self.tables += [lay.table("exp01_stats"), lay.table("exp01_stats_grid")]
        self.figures += [lay.figure("exp01_cosine_best_worst")] + [lay.figure(f"exp01_cosine_hist_{t}_grid") for t in ts]
        self.captions[lay.figure("exp01_cosine_best_worst")] = (
            "Experiment 0.1: distribution of pairwise cosine similarities between regions (raw vectors, the main "
            "mask) for each teacher at its best- and worst-differentiated cell (lowest and highest mean cosine); "
            "dotted: 0.9. Every cell: the appendix.")
        for t in ts:
            self.captions[lay.figure(f"exp01_cosine_hist_{t}_grid")] = (
                f"Experiment 0.1, teacher {t}: distribution of pairwise cosine similarities between regions "
                "(per-token vectors for pool none), layers as rows, pools as columns, one line per mask.")
        if self.vector_pools:
            self.tables += [lay.table("exp02_headline"), lay.table("exp02_transforms"), lay.table("exp02_retrieval_grid")]
            self.figures += [lay.figure("exp02_recall_by_layer"), lay.figure("exp02_hard_part")]
        self.tables += [lay.table("exp03_probes"), lay.table("exp03_probes_grid")]
        self.figures.append(lay.figure("exp03_probe_heatmap"))
        self.captions[lay.figure("exp02_recall_by_layer")] = (
            "Experiment 0.2: recall@1 by layer, one panel per teacher; colours: tasks (refactoring invariance, "
            "spec to implementation, the lexically hard part); solid: raw vectors, dashed: mean-centered; markers: "
            "pools. Horizontal lines: TF-IDF over identifiers (dotted) and the random-init teacher's best cell "
            "(dash-dotted) per task.")
        self.captions[lay.figure("exp02_hard_part")] = (
            "Experiment 0.2, the lexically hard part (renamed closed functions and independently written "
            "implementations): recall@1 and MRR of each teacher's best cell, the random-init teacher and TF-IDF, "
            "with percentile bootstrap intervals over the queries.")
        self.captions[lay.figure("exp03_probe_heatmap")] = (
            "Experiment 0.3: linear probe scores (R2 for counts, macro-F1 for categories) by property and layer, "
            "one panel per teacher, mean-pooled representations.")
        self.macros.append(lay.macros("phase0"))

    def phase0_targets(self) -> list[str]:
        lay = self.layout
        out = [lay.stats_all(), lay.retrieval_all(), lay.probes_all()]
        if self.vector_pools:
            out += [lay.retrieval_headline()] + [lay.retrieval_report(t) for t in self.teachers]
        return out + [lay.bench_items()]

    # ================================================================== Phase 1: students
    @property
    def student_teachers(self) -> list[str]:
        return self.settings.student_teachers

    @cached_property
    def student_variants(self) -> dict[str, tuple]:
        """``{variant: (section, option, value)}``: one flipped design option each."""
        st = self.settings.student
        # the main recipe trained as short as the ablation students: what each flip is compared with
        out = {REFERENCE: (None, None, None)}
        for opt, (section, flip) in FLIPS.items():
            cur = getattr(getattr(st, section) if section else st, opt)
            out[f"{opt}-{flip[cur]}"] = (section, opt, flip[cur])
        on = st.train.contrastive_weight > 0
        out["contrastive-off" if on else "contrastive-on"] = ("train", "contrastive_weight",
                                                              0.0 if on else CONTRASTIVE_ON)
        ab = st.ablation
        if ab.collapse:  # the collapse ablation (issue 16.6): what makes the representations collapse
            for loss in ab.collapse_losses:
                if loss != st.train.loss:
                    out[f"loss-{loss}"] = ("train", "loss", loss)
            norm = {"layernorm": "none", "none": "layernorm"}[st.target_norm]
            out[f"target_norm-{norm}"] = (None, "target_norm", norm)
            max_len = max(8, int(round(st.max_len * ab.max_len_factor)))
            if max_len != st.max_len:
                out[f"max_len-{max_len}"] = (None, "max_len", max_len)
            lr = float(f"{st.train.lr * ab.lr_factor:.3g}")
            if lr != st.train.lr:
                out[f"lr-{lr:g}"] = ("train", "lr", lr)
        return out

    def variant_kind(self, variant: str) -> str:
        """``main``, ``reference`` (the main recipe, as short as the ablation students),
        ``design`` (the seed's three questions + the anti-collapse term) or ``collapse``
        (the collapse ablation)."""
        if variant in ("main", REFERENCE):
            return variant
        return "collapse" if variant.split("-", 1)[0] in COLLAPSE_OPTIONS else "design"

    @property
    def ablation_teacher(self) -> str | None:
        ab = self.settings.student.ablation
        if not ab.enabled:
            return None
        return ab.teacher or (self.student_teachers[0] if self.student_teachers else None)

    @property
    def students(self) -> list[tuple[str, str]]:
        """``(teacher, variant)`` of every student the student stage trains."""
        out = [(t, "main") for t in self.student_teachers]
        if self.ablation_teacher in self.student_teachers:
            out += [(self.ablation_teacher, v) for v in self.student_variants]
        return out

    def student_recipe(self, variant: str = "main") -> StudentSettings:
        """The settings one student trains with (job-only fields at their defaults)."""
        st = self.settings.student.recipe()
        if variant == "main":
            return st
        section, opt, val = self.student_variants[variant]
        if opt is not None:
            st = st.with_overrides({section: {opt: val}} if section else {opt: val})
        if self.settings.student.ablation.max_steps:
            st = st.with_overrides({"train": {"max_steps": self.settings.student.ablation.max_steps}})
        return st

    @property
    def student_examples(self) -> int:
        """Examples the main students train on: steps x batch size (each example is one
        region's masked tokens)."""
        tr = self.settings.student.train
        return int(tr.max_steps) * int(tr.batch_size)

    @property
    def student_design(self) -> dict:
        st = self.settings.student
        return {"positions": st.model.positions, "context": st.context, "predictor": st.model.predictor,
                "contrastive": st.train.contrastive_weight}

    def student_file(self, name):
        return lambda wc: self.layout.student_file(name, wc.teacher, wc.variant)

    def _student_products(self):
        if not self.students:
            return
        lay = self.layout
        self.tables += [lay.table("exp11_student"), lay.table("exp11_ablation"), lay.table("exp11_student_grid"),
                        lay.table("exp12_correlation")]
        self.figures += [lay.figure("exp11_loss"), lay.figure("exp12_correlation")]
        self.macros.append(lay.macros("student"))

    # ================================================================== Phase 3: decoder
    @property
    def decoder_teacher(self) -> str | None:
        return self.settings.decoder_teacher

    @property
    def decoder_on(self) -> bool:
        t = self.decoder_teacher
        return t is not None and t in self.teachers and t in self.student_teachers

    def decoder_student(self) -> str:
        return self.layout.student_final(self.decoder_teacher, self.settings.decoder.student_variant)

    def _decoder_products(self):
        if not self.decoder_on:
            return
        lay = self.layout
        self.tables.append(lay.table("exp31_decoder"))
        self.figures.append(lay.figure("exp31_decoder"))
        self.macros.append(lay.macros("decoder"))

    # ================================================================== Phase 2
    @property
    def p2_teachers(self) -> list[str]:
        """The 2.1 grid."""
        t = self.settings.phase2.teachers
        return list(t) if t is not None else self.teachers

    @property
    def p2_seeds(self) -> list[int]:
        return list(self.settings.phase2.seeds)

    @property
    def compute_teachers(self) -> list[str]:
        return self.settings.compute_teachers

    def finetunes(self, ct: str) -> bool:
        return self.settings.teacher(ct).finetunes

    def stage1_steps(self, ct: str) -> int:
        return int(self.settings.teacher(ct).training.steps or 0)

    def snapshots(self, ct: str) -> list[int]:
        return sorted({int(s) for s in self.settings.phase2.compute.snapshot_steps if 0 < int(s) < self.stage1_steps(ct)})

    def twin(self, ct: str) -> str | None:
        """The random-init twin of a `train` compute teacher (its 2.1 student is step 0)."""
        if self.finetunes(ct):
            return None
        return next((t.name for t in self.settings.teachers if t.source == "random" and t.like == ct), None)

    @property
    def compute_pcts(self) -> list[int]:
        return sorted(int(p) for p in self.settings.phase2.compute.teacher_percent)

    @property
    def compute_seeds(self) -> list[int]:
        return list(self.settings.phase2.compute.seeds)

    @property
    def floor_teacher(self) -> str:
        p2 = self.settings.phase2
        scratch = [ct for ct in self.compute_teachers if not self.finetunes(ct)]
        return p2.floor_teacher or (scratch[0] if scratch else self.p2_teachers[0])

    @property
    def phase2_on(self) -> bool:
        return bool(self.teachers) and bool(self.student_teachers)

    def p2_student_final(self, teacher: str, seed) -> str:
        """The 2.1 student of (teacher, seed): the student stage's when identical."""
        if int(seed) == self.settings.seed and teacher in self.student_teachers:
            return self.layout.student_final(teacher, "main")
        return f"{self.layout.phase2_teachers_dir(teacher, seed)}/final.pt"

    def p2_eval21(self, teacher: str, seed) -> str:
        return self.layout.phase2_eval("teachers", seed, teacher)

    def curve_point(self, ct: str, step: int, seed: int) -> tuple[str, str]:
        """(final.pt, eval JSON) of the curve student of ``ct`` at run step ``step``.
        Ends that are Experiment-2.1 students are reused: step 0 of a `train` teacher is
        its random twin's student, step 0 of a fine-tuned teacher the pretrained teacher's
        own, and the last Stage-1 step the `train` teacher's own student."""
        step, seed = int(step), int(seed)
        ends = {0: ct} if self.finetunes(ct) else {0: self.twin(ct), self.stage1_steps(ct): ct}
        ev = self.layout.phase2_eval("curve", seed, f"{ct}/step{step}")
        if step in ends and ends[step] is not None:
            t = ends[step]
            if t in self.p2_teachers and seed in self.p2_seeds:
                return self.p2_student_final(t, seed), self.p2_eval21(t, seed)
            return self.p2_student_final(t, seed), ev
        return f"{self.layout.phase2_curve_dir(ct, seed, step)}/final.pt", ev

    def curve_steps(self, ct: str) -> list[int]:
        if self.finetunes(ct):
            return [0] + self.snapshots(ct) + [self.stage1_steps(ct)]
        return ([0] if self.twin(ct) else []) + self.snapshots(ct) + [self.stage1_steps(ct)]

    @cached_property
    def curve_points(self) -> list[CurvePoint]:
        return [CurvePoint(ct, s, sd, *self.curve_point(ct, s, sd))
                for ct in self.compute_teachers for sd in self.compute_seeds for s in self.curve_steps(ct)]

    def compute_eval_jsons(self) -> list[str]:
        return [self.layout.phase2_eval("compute", s, f"{ct}/p{p}") for ct in self.compute_teachers
                for s in self.compute_seeds for p in self.compute_pcts]

    def teachers21_jsons(self) -> list[str]:
        return [self.p2_eval21(t, s) for s in self.p2_seeds for t in self.p2_teachers + ["untrained"]]

    def fim_mask_csv(self, ct: str) -> str:
        return self.layout.mask_csv(self.settings.teacher(ct).training.mask)

    def compute_inputs(self, wc) -> dict:
        ct = wc.teacher
        inp = {"files": self.layout.corpus_files(), "regions": self.fim_mask_csv(ct),
               "latents": self.latent_files(ct)}
        if not self.finetunes(ct):
            inp["tokenizer"] = self.layout.teacher_tokenizer(ct)
        return inp

    def snapshot_inputs(self, wc) -> dict:
        inp = self.compute_inputs(wc)
        inp.pop("latents")
        if not self.finetunes(wc.teacher):
            inp["final_model"] = self.layout.teacher_model_config(wc.teacher)
        return inp

    @staticmethod
    def _split(point: str) -> tuple[str, str]:
        ct, _, rest = point.partition("/")
        return ct, rest

    def eval_teacher(self, wc) -> str:
        """The teacher whose windows and tokenizer an evaluated student uses."""
        if wc.kind == "teachers":
            return self.floor_teacher if wc.point == "untrained" else wc.point
        return self._split(wc.point)[0]

    def eval_inputs(self, wc) -> dict:
        """Inputs of one evaluation: the student (none for `untrained`), the latents of its
        teacher (windows + tokenizer), the Phase-0 benchmark and the probe tables."""
        lay = self.layout
        kind, seed, point = wc.kind, int(wc.seed), wc.point
        inp = {"bench_items": lay.bench_items(), "regions": lay.mask_csv(self.settings.student.mask),
               "properties": lay.properties()}
        if kind == "teachers":
            if point != "untrained":
                inp["final"] = self.p2_student_final(point, seed)
        elif kind == "compute":
            teacher, pct = self._split(point)
            inp["final"] = f"{lay.phase2_compute_dir(teacher, seed, pct[1:])}/final.pt"
        else:  # curve
            teacher, step = self._split(point)
            inp["final"] = self.curve_point(teacher, int(step[len("step"):]), seed)[0]
        teacher = self.eval_teacher(wc)
        inp["latents"] = self.latent_files(teacher)
        if self.built_model(teacher):
            inp["model"] = self.built_model(teacher)[0]
        return inp

    def eval_ident(self, wc) -> dict:
        seed, point = int(wc.seed), wc.point
        if wc.kind == "teachers":
            if point == "untrained":
                return {"experiment": "teachers", "student": f"untrained/seed{seed}", "teacher": "untrained",
                        "teacher_source": "none", "seed": seed, "reused": False}
            final = self.p2_student_final(point, seed)
            return {"experiment": "teachers", "student": f"{point}/seed{seed}", "teacher": point,
                    "teacher_source": self.settings.teacher(point).source, "seed": seed,
                    "reused": final == self.layout.student_final(point, "main")}
        ct, _ = self._split(point)
        return {"experiment": wc.kind, "student": f"{wc.kind}/{point}/seed{seed}", "teacher": ct,
                "teacher_source": self.settings.teacher(ct).source, "seed": seed}

    @property
    def compute_report_teachers(self) -> list[dict]:
        return [{"name": ct, "mode": "finetune" if self.finetunes(ct) else "scratch",
                 "curve_csv": f"{self.layout.phase2_snapshots(ct)}/curve.csv",
                 "train_info": None if self.finetunes(ct) else self.layout.teacher_train_info(ct)}
                for ct in self.compute_teachers]

    def _phase2_products(self):
        if not self.phase2_on:
            return
        lay = self.layout
        self.tables += [lay.table("exp21_teachers"), lay.table("exp22_compute")]
        self.figures += [lay.figure("exp21_teachers"), lay.figure("exp22_allocation"),
                         lay.figure("exp22_undertrained")]
        self.macros.append(lay.macros("phase2"))

    # ================================================================== verdicts
    @property
    def verdict_stages(self) -> list[str]:
        """The stages' verdict rows collected into ``results/paper/verdicts.csv`` (0.1-0.3 are
        computed by the collector itself from the Phase-0 tables)."""
        lay, out = self.layout, []
        if self.students:
            out.append(lay.students_summary("verdicts.csv"))
        if self.phase2_on:
            out.append(lay.phase2("verdicts.csv"))
        if self.decoder_on:
            out.append(lay.decoder_verdicts(self.decoder_teacher))
        return out

    def verdict_inputs(self) -> dict:
        """Inputs of ``paper_verdicts``; Experiment 0.2's headline (``LAYOUT.retrieval_headline``,
        written by ``phase0_retrieval_combine``) when the plan has retrieval."""
        lay = self.layout
        inp = {"stats": lay.stats_all(), "probes": lay.probes_all(), "stages": self.verdict_stages}
        if self.vector_pools:
            inp["headline"] = lay.retrieval_headline()
        return inp

    # ================================================================== targets
    def png(self, pdf: str) -> str:
        return pdf[: -len(".pdf")] + ".png"

    @property
    def stage_targets(self) -> list[str]:
        """Everything the stages produce (rule all, and the PDF's last-job dependency)."""
        lay, s = self.layout, self.settings
        out = [lay.corpus_manifest()] + [lay.mask_csv(m) for m in s.masks.strategies]
        if {"regex", "ast"} <= set(s.masks.strategies):
            out.append(lay.mask_agreement())
        out.append(lay.properties())
        out += [lay.teacher_model_config(t) for t in self.teachers_by_source("train", "random")]
        for t in self.teachers:
            out += self.latent_files(t)
        out += self.tables + self.figures + [self.png(f) for f in self.figures if not f.endswith(".png")]
        out += [m for m in self.macros if m != lay.macros("paper_corpus")]
        out += self.phase0_targets()
        if self.phase2_on:
            out += [lay.phase2("exp21_teachers.csv"), lay.phase2("exp22_compute.csv")]
        out.append(lay.verdicts())
        return list(dict.fromkeys(out))

    @property
    def paper_sources(self) -> list[str]:
        from .paper import GENERATED_KEYS

        lay = self.layout
        return [lay.paper_generated("macros.tex"), lay.paper_generated("provenance.tex"),
                lay.paper_generated("sources.tex"), *[lay.paper_section(k) for k in GENERATED_KEYS]]

    @property
    def verdicts_csv(self) -> list[str]:
        """The verdicts (with their success side and reason) the paper's generated words are
        written from (rule paper_verdicts)."""
        return [self.layout.verdicts_detail()]

    @property
    def report_dirs(self) -> list[str]:
        return [self.layout.paper("report", "figures"), self.layout.paper("report", "tables")]

    @property
    def targets(self) -> list[str]:
        out = self.stage_targets + self.paper_sources + self.report_dirs
        if self.settings.paper.pdf:
            out += [self.layout.paper("main.pdf"), self.layout.paper("referenced_files.json"),
                    self.layout.paper("layout_check.json")]
        return out


def build_plan(settings: Settings, layout: Layout | None = None) -> Plan:
    return Plan(settings, layout or Layout("results", settings.corpus.name))
