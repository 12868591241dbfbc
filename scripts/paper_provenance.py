"""Rule paper_provenance: commit, config and corpus hashes, versions, hardware, date."""
import json

from swejepa.paper import provenance, provenance_tex
from swejepa.runtime import setup_logging, write_text_atomic

log = setup_logging(snakemake.log[0])
prov = provenance(dict(snakemake.params.config), snakemake.params.repo, snakemake.input.manifest,
                  git=dict(snakemake.params.git))
write_text_atomic(snakemake.output.json, json.dumps(prov, indent=1, sort_keys=True) + "\n")
write_text_atomic(snakemake.output.tex, provenance_tex(prov))
log.info("%s", json.dumps(prov, sort_keys=True))
