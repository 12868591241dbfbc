"""Rule decoder_eval (Experiment 3.1, step 3): held-out metrics, HumanEval pass@k in the sandbox, FLOPs."""
from pathlib import Path

from swejepa.decoder.jobs import evaluate
from swejepa.runtime import set_threads, setup_logging
from swejepa.settings import DecoderSettings, Settings

log = setup_logging(snakemake.log[0])
# torch threads: decoder.threads (not a param: changing it must not rerun the job)
set_threads(Settings.from_config(snakemake.config).decoder.threads or snakemake.threads)
p = snakemake.params
cfg = DecoderSettings.from_dict(p.decoder)
models = dict(zip(cfg.variants, snakemake.input.models))
evaluate(cfg, snakemake.input.prepared, models, p.teacher_dir, p.tokenizer_dir,
         Path(snakemake.output.summary).parent, seed=p.seed, log=log)
