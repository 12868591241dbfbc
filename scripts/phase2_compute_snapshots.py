"""Rule phase2_compute_snapshots (Experiment 2.2, the undertrained-teacher curve): the
compute teacher's run (Stage 1, or fine-tuning of a pretrained teacher) replayed up to
its snapshot steps."""
from pathlib import Path

from swejepa.layout import Layout
from swejepa.phase2.common import read_regions, read_train_records
from swejepa.phase2.compute import compute_snapshots
from swejepa.runtime import set_threads, setup_logging
from swejepa.settings import TeacherSpec
from swejepa.teachers.registry import load_tokenizer_from_dir

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
i, p = snakemake.input, snakemake.params
compute_snapshots(teacher=TeacherSpec.from_dict(p.teacher), records=read_train_records(i.files, "train"),
                  regions=read_regions(i.regions), val_records=read_train_records(i.files, "val"),
                  tokenizer=load_tokenizer_from_dir(i.tokenizer) if i.get("tokenizer") else None,
                  snapshot_steps=list(p.steps), seed=int(p.seed), out_dir=Path(snakemake.output.curve),
                  final_model_dir=Path(i.final_model).parent if i.get("final_model") else None,
                  layout=Layout(**p.layout), index=int(p.index))
