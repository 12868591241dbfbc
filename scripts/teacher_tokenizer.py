"""Rule teacher_tokenizer: byte-level BPE of a `train` teacher, fitted on the train split."""
from swejepa.corpus import read_files
from swejepa.runtime import atomic_path, set_threads, setup_logging
from swejepa.settings import TokenizerSpec
from swejepa.teachers import train_tokenizer

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
train = [r for r in read_files(snakemake.input.files) if r["split"] == "train"]
tok = train_tokenizer(train, TokenizerSpec.from_dict(snakemake.params.tokenizer))
with atomic_path(snakemake.output.tokenizer) as tmp:
    tok.save_pretrained(tmp)
log.info("tokenizer: %d tokens from %d training files", len(tok), len(train))
