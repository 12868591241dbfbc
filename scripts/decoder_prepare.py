"""Experiment 3.1, step 1: examples + student latents (train/held-out/HumanEval) -> one .pt."""
from swejepa.decoder.run import prepare
from swejepa.runtime import set_threads, setup_logging

log = setup_logging(snakemake.log[0])
# torch threads: decoder.threads (not a param: changing it must not rerun the job)
set_threads(snakemake.config.get("decoder", {}).get("threads") or snakemake.threads)
p = snakemake.params
info = prepare(p.decoder, p.student, snakemake.input.latents, snakemake.input.student, p.tokenizer_dir,
               snakemake.output.prepared, mask=p.mask, seed=p.seed, log=log)
log.info("%s", info)
