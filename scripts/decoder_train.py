"""Rule decoder_train (Experiment 3.1, step 2): train one decoder variant (latent | nolatent | oracle)."""
from swejepa.decoder.jobs import train_variant
from swejepa.runtime import set_threads, setup_logging
from swejepa.settings import DecoderSettings, Settings

log = setup_logging(snakemake.log[0])
# torch threads: decoder.threads (not a param: changing it must not rerun the job)
set_threads(Settings.from_config(snakemake.config).decoder.threads or snakemake.threads)
p = snakemake.params
info = train_variant(snakemake.wildcards.variant, DecoderSettings.from_dict(p.decoder), snakemake.input.prepared,
                     snakemake.output.model, snakemake.output.metrics, seed=p.seed, log=log)
log.info("%s", info)
