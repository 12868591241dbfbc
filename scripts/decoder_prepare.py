"""Rule decoder_prepare (Experiment 3.1, step 1): examples + student latents (train/held-out/HumanEval) -> one .pt."""
from swejepa.decoder.jobs import prepare
from swejepa.layout import Layout
from swejepa.runtime import set_threads, setup_logging
from swejepa.settings import DecoderSettings, Settings, StudentSettings, TeacherSpec

log = setup_logging(snakemake.log[0])
# torch threads: decoder.threads (not a param: changing it must not rerun the job)
set_threads(Settings.from_config(snakemake.config).decoder.threads or snakemake.threads)
p = snakemake.params
info = prepare(DecoderSettings.from_dict(p.decoder), StudentSettings.from_dict(p.student), snakemake.input.latents,
               snakemake.input.student, p.tokenizer_dir, snakemake.output.prepared, seed=p.seed, log=log,
               teacher=TeacherSpec.from_dict(p.teacher), layout=Layout(**p.layout), index=int(p.index))
log.info("%s", info)
