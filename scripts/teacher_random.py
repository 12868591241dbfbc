"""Rule teacher_random: the untrained baseline, a `train` teacher's architecture and
tokenizer with the same seeded initial weights as that teacher at step 0."""
import json
import os

from swejepa.runtime import setup_logging, write_text_atomic
from swejepa.settings import TeacherSpec
from swejepa.teachers.registry import load_tokenizer_from_dir
from swejepa.teachers.train import build_model, n_params, save_teacher

log = setup_logging(snakemake.log[0])
like = TeacherSpec.from_dict(snakemake.params.like)
tok = load_tokenizer_from_dir(snakemake.input.tokenizer)
model = build_model(like.arch, tok, snakemake.params.seed)
save_teacher(model, tok, os.path.dirname(snakemake.output.model))
info = {"like": like.name, "seed": snakemake.params.seed, "n_params": n_params(model), "arch": like.arch.to_dict()}
write_text_atomic(snakemake.output.info, json.dumps(info, indent=1) + "\n")
log.info("random teacher: %s", info)
