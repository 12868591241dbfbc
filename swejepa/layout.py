"""The data contract's paths: one object owns every file the workflow reads or writes.

``Layout(root, corpus)`` answers "where does X live" for every product of the README's
data contract. Rules use it for their inputs and outputs, the library uses it to find a
stage's files, and no path pattern is spelled anywhere else. Arguments left out stay
Snakemake wildcards: ``layout.latents()`` is the pattern
``results/latents/{teacher}/shard{shard}of{nshards}.h5``; ``layout.latents("minilm", 0, 1)``
is one file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

W = {k: "{" + k + "}" for k in ("teacher", "shard", "nshards", "mask", "layer", "pool", "variant", "seed",
                                 "pct", "step", "kind", "point", "name", "corpus", "sec", "center")}


@dataclass(frozen=True)
class Layout:
    root: str = "results"
    corpus: str = "stdlib"

    def _p(self, *parts) -> str:
        return "/".join([self.root, *map(str, parts)])

    def to_dict(self) -> dict:
        """For Snakemake params (scripts rebuild it with ``Layout(**d)``)."""
        return {"root": self.root, "corpus": self.corpus}

    @classmethod
    def of(cls, path: str | os.PathLike, corpus: str = "stdlib") -> "Layout":
        """The layout whose root holds ``path`` (a file under ``<root>/``)."""
        p = Path(path).resolve()
        for parent in p.parents:
            if parent.name == "results":
                return cls(str(parent), corpus)
        raise ValueError(f"{path} is not under a results/ directory")

    # ------------------------------------------------------------------ scheduling files
    def log(self, rule: str, pattern: str = "") -> str:
        """``results/logs/<rule>/<pattern>.log`` (pattern may hold wildcards)."""
        return self._p("logs", rule, f"{pattern or 'all'}.log")

    def benchmark(self, rule: str, pattern: str = "") -> str:
        return self._p("benchmarks", rule, f"{pattern or 'all'}.tsv")

    # ------------------------------------------------------------------ corpus, masks, properties
    def corpus_dir(self) -> str:
        return self._p("corpus", self.corpus)

    def corpus_files(self) -> str:
        return f"{self.corpus_dir()}/files.jsonl"

    def corpus_manifest(self) -> str:
        return f"{self.corpus_dir()}/manifest.json"

    def corpus_skipped(self) -> str:
        return f"{self.corpus_dir()}/skipped.csv"

    def corpus_report(self) -> str:
        return f"{self.corpus_dir()}/report.json"

    def corpus_near_duplicates(self) -> str:
        """One row per member of every near-duplicate cluster (``swejepa/neardup.py``)."""
        return f"{self.corpus_dir()}/near_duplicates.csv"

    def mask_csv(self, mask: str = W["mask"]) -> str:
        return self._p("masks", self.corpus, f"{mask}.csv")

    def mask_report(self, mask: str = W["mask"]) -> str:
        return self._p("masks", self.corpus, f"{mask}_report.json")

    def mask_agreement(self) -> str:
        return self._p("masks", self.corpus, "agreement.csv")

    def mask_disagreements(self) -> str:
        return self._p("masks", self.corpus, "disagreements.csv")

    def properties(self) -> str:
        return self._p("properties", self.corpus, "properties.csv")

    def properties_report(self) -> str:
        return self._p("properties", self.corpus, "report.json")

    # ------------------------------------------------------------------ teachers, latents
    def teacher_dir(self, teacher: str = W["teacher"]) -> str:
        return self._p("teachers", teacher)

    def teacher_tokenizer(self, teacher: str = W["teacher"]) -> str:
        return f"{self.teacher_dir(teacher)}/tokenizer"

    def teacher_model(self, teacher: str = W["teacher"]) -> str:
        """The ``save_pretrained`` directory of a train/random teacher."""
        return f"{self.teacher_dir(teacher)}/model"

    def teacher_model_config(self, teacher: str = W["teacher"]) -> str:
        """``model/config.json``: what rules declare (the directory is written whole)."""
        return f"{self.teacher_model(teacher)}/config.json"

    def teacher_metrics(self, teacher: str = W["teacher"]) -> str:
        return f"{self.teacher_dir(teacher)}/train_metrics.csv"

    def teacher_train_info(self, teacher: str = W["teacher"]) -> str:
        return f"{self.teacher_dir(teacher)}/train_info.json"

    def teacher_init_info(self, teacher: str = W["teacher"]) -> str:
        return f"{self.teacher_dir(teacher)}/init_info.json"

    def teacher_resume(self, teacher: str = W["teacher"]) -> str:
        """Resume state of teacher training: declared by no rule (kept when a job fails)."""
        return f"{self.teacher_dir(teacher)}/_resume"

    def latents(self, teacher: str = W["teacher"], shard=W["shard"], n_shards=W["nshards"]) -> str:
        return self._p("latents", teacher, f"shard{shard}of{n_shards}.h5")

    def latents_report(self, teacher: str = W["teacher"], shard=W["shard"], n_shards=W["nshards"]) -> str:
        return self._p("latents", teacher, f"report_shard{shard}of{n_shards}.json")

    def latent_files(self, teacher: str, n_shards: int) -> list[str]:
        return [self.latents(teacher, i, n_shards) for i in range(int(n_shards))]

    # ------------------------------------------------------------------ products the paper reads
    def table(self, name: str = W["name"]) -> str:
        return self._p("tables", f"{name}.tex")

    def figure(self, name: str = W["name"], ext: str = "pdf") -> str:
        return self._p("figures", f"{name}.{ext}")

    def figure_stem(self, name: str = W["name"]) -> str:
        """A figure's path without extension (``multiext(stem, ".pdf", ".png")``)."""
        return self._p("figures", name)

    def macros(self, name: str = W["name"]) -> str:
        return self._p("macros", f"{name}.tex")

    # ------------------------------------------------------------------ Phase 0
    # Experiment 0.1 "stats", 0.2 "retrieval", 0.3 "probes": results/phase0/<name>/
    def bench_items(self) -> str:
        """The retrieval benchmark (built before extraction, embedded by every teacher)."""
        return self._p("phase0", "retrieval", "items.jsonl")

    def bench_report(self) -> str:
        return self._p("phase0", "retrieval", "items_report.json")

    def stats_cell(self, teacher=W["teacher"], mask=W["mask"], layer=W["layer"], pool=W["pool"],
                   center=W["center"]) -> str:
        return self._p("phase0", "stats", teacher, mask, f"{layer}_{pool}_{center}.csv")

    def stats_hist(self, teacher=W["teacher"], mask=W["mask"], layer=W["layer"], pool=W["pool"],
                   center=W["center"]) -> str:
        return self._p("phase0", "stats", teacher, mask, f"{layer}_{pool}_{center}_hist.csv")

    def stats_all(self) -> str:
        return self._p("phase0", "stats", "all.csv")

    def retrieval_cell(self, teacher=W["teacher"], layer=W["layer"], pool=W["pool"], center=W["center"]) -> str:
        """Metrics of one cell per task, origin and query transform, with intervals."""
        return self._p("phase0", "retrieval", teacher, f"{layer}_{pool}_{center}.csv")

    def retrieval_ranks(self, teacher=W["teacher"], layer=W["layer"], pool=W["pool"], center=W["center"]) -> str:
        """Per-query rank of the first relevant item, one cell (what the intervals resample)."""
        return self._p("phase0", "retrieval", teacher, f"{layer}_{pool}_{center}_ranks.csv")

    def retrieval_lexical(self) -> str:
        return self._p("phase0", "retrieval", "lexical.csv")

    def retrieval_lexical_ranks(self) -> str:
        return self._p("phase0", "retrieval", "lexical_ranks.csv")

    def retrieval_all(self) -> str:
        return self._p("phase0", "retrieval", "all.csv")

    def retrieval_headline(self) -> str:
        """Per teacher: its best cell on the hard part against TF-IDF and random init, with CIs."""
        return self._p("phase0", "retrieval", "headline.csv")

    def retrieval_report(self, teacher=W["teacher"]) -> str:
        return self._p("phase0", "retrieval", f"report_{teacher}.md")

    def probes_cell(self, teacher=W["teacher"], mask=W["mask"], layer=W["layer"], pool=W["pool"]) -> str:
        return self._p("phase0", "probes", teacher, mask, f"{layer}_{pool}.csv")

    def probes_surface(self, teacher=W["teacher"], mask=W["mask"]) -> str:
        return self._p("phase0", "probes", teacher, mask, "surface.csv")

    def probes_all(self) -> str:
        return self._p("phase0", "probes", "all.csv")

    # ------------------------------------------------------------------ Phase 1: students
    def student_dir(self, teacher=W["teacher"], variant=W["variant"]) -> str:
        return self._p("student", teacher, variant)

    def student_final(self, teacher=W["teacher"], variant=W["variant"]) -> str:
        return f"{self.student_dir(teacher, variant)}/final.pt"

    def student_file(self, name: str, teacher=W["teacher"], variant=W["variant"]) -> str:
        """metrics.csv, summary.json, ckpts, success.json, checkpoints.csv of one student."""
        return f"{self.student_dir(teacher, variant)}/{name}"

    def student_resume(self, teacher=W["teacher"], variant=W["variant"]) -> str:
        return f"{self.student_dir(teacher, variant)}/_resume"

    def students_summary(self, name: str) -> str:
        """summary.csv, correlation.csv, checkpoints.csv over all students."""
        return self._p("student", name)

    # ------------------------------------------------------------------ Phase 3: decoder
    def decoder_dir(self, teacher=W["teacher"]) -> str:
        return self._p("decoder", teacher)

    def decoder_prepared(self, teacher=W["teacher"]) -> str:
        return f"{self.decoder_dir(teacher)}/prepared.pt"

    def decoder_model(self, teacher=W["teacher"], variant=W["variant"]) -> str:
        return f"{self.decoder_dir(teacher)}/{variant}/model.pt"

    def decoder_metrics(self, teacher=W["teacher"], variant=W["variant"]) -> str:
        return f"{self.decoder_dir(teacher)}/{variant}/train_metrics.csv"

    def decoder_eval(self, name: str, teacher=W["teacher"]) -> str:
        """summary.csv, heldout.csv, heldout_examples.csv, humaneval.csv, humaneval_samples.jsonl,
        generations.jsonl."""
        return f"{self.decoder_dir(teacher)}/eval/{name}"

    def decoder_verdicts(self, teacher=W["teacher"]) -> str:
        """The Experiment 3.1 verdict row (swejepa/verdicts.py), written by decoder_report."""
        return f"{self.decoder_dir(teacher)}/verdicts.csv"

    # ------------------------------------------------------------------ Phase 2
    def phase2(self, *parts) -> str:
        return self._p("phase2", *parts)

    # Experiment 2.1 "teachers": results/phase2/teachers/; 2.2 "compute": results/phase2/compute/
    def phase2_teachers_dir(self, teacher=W["teacher"], seed=W["seed"]) -> str:
        """A 2.1 student of another seed than the student stage's."""
        return self.phase2("teachers", teacher, f"seed{seed}")

    def phase2_compute_dir(self, teacher=W["teacher"], seed=W["seed"], pct=W["pct"]) -> str:
        """One 2.2 sweep point."""
        return self.phase2("compute", "point", teacher, f"seed{seed}", f"p{pct}")

    def phase2_snapshots(self, teacher=W["teacher"]) -> str:
        """The replayed teacher run of 2.2's undertrained-teacher curve: step{N}/ and curve.csv."""
        return self.phase2("compute", "snapshots", teacher)

    def phase2_curve_dir(self, teacher=W["teacher"], seed=W["seed"], step=W["step"]) -> str:
        """The student of one teacher snapshot."""
        return self.phase2("compute", "curve", teacher, f"seed{seed}", f"step{step}")

    def phase2_eval(self, kind=W["kind"], seed=W["seed"], point=W["point"]) -> str:
        """The evaluation of one Phase-2 student; kind: teachers | compute | curve."""
        return self.phase2("eval", kind, f"seed{seed}", f"{point}.json")

    # ------------------------------------------------------------------ paper
    def paper(self, *parts) -> str:
        return self._p("paper", *parts)

    def paper_generated(self, name: str) -> str:
        return self.paper("generated", name)

    def paper_section(self, sec=W["sec"]) -> str:
        return self.paper_generated(f"sec_{sec}.tex")

    def verdicts(self) -> str:
        """One row per success criterion of the seed (swejepa/verdicts.py), columns
        ``swejepa.verdicts.PAPER_COLUMNS``."""
        return self.paper("verdicts.csv")

    def verdicts_detail(self) -> str:
        """The same rows with the success side (``direction``) and the generated ``reason``."""
        return self.paper("verdicts_detail.csv")
