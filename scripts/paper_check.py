"""Rule paper_check: list (with sha256) every file main.tex pulled in; fail if one is
missing; log the prose macros that printed their n/a default."""
import json

from swejepa.paper import check_references, fallback_macros
from swejepa.runtime import setup_logging, write_text_atomic

log = setup_logging(snakemake.log[0])
refs = check_references(snakemake.input.main, ".", listing=True)
if refs["missing"]:
    raise FileNotFoundError(f"main.tex references missing files: {refs['missing']}")
refs["fallback_macros"] = fallback_macros(snakemake.input.main, snakemake.input.macros, snakemake.input.provenance)
write_text_atomic(snakemake.output[0], json.dumps(refs, indent=1, sort_keys=True) + "\n")
log.info("%d referenced files; macros at their n/a default: %s", len(refs["files"]),
         ", ".join(refs["fallback_macros"]) or "none")
