"""Experiment 3.1, step 3: held-out metrics, HumanEval pass@k in the sandbox, FLOPs."""
from pathlib import Path

from swejepa.decoder.run import evaluate
from swejepa.runtime import set_threads, setup_logging

log = setup_logging(snakemake.log[0])
# torch threads: decoder.threads (not a param: changing it must not rerun the job)
set_threads(snakemake.config.get("decoder", {}).get("threads") or snakemake.threads)
p = snakemake.params
models = dict(zip(p.variants, snakemake.input.models))
evaluate(p.decoder, snakemake.input.prepared, models, p.teacher_dir, p.tokenizer_dir,
         Path(snakemake.output.summary).parent, seed=p.seed, log=log)
