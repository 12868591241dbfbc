"""Rule paper_check: list (with sha256) every file main.tex pulled in; fail if one is
missing; log the prose macros that printed their n/a default; check the PDF as a reader
sees it (swejepa/pdfcheck.py: the glance table, n/a in headlines, key numbers in main
sections, shrunk tables, half-empty pages) and render its contact sheets."""
import json
from pathlib import Path

from swejepa import pdfcheck
from swejepa.paper import check_references, fallback_macros
from swejepa.runtime import setup_logging, write_text_atomic

log = setup_logging(snakemake.log[0])
refs = check_references(snakemake.input.main, ".", listing=True)
if refs["missing"]:
    raise FileNotFoundError(f"main.tex references missing files: {refs['missing']}")
refs["fallback_macros"] = fallback_macros(snakemake.input.main, snakemake.input.macros, snakemake.input.provenance)
write_text_atomic(snakemake.output.refs, json.dumps(refs, indent=1, sort_keys=True) + "\n")
log.info("%d referenced files; macros at their n/a default: %s", len(refs["files"]),
         ", ".join(refs["fallback_macros"]) or "none")

Path(snakemake.output.contact).mkdir(parents=True, exist_ok=True)
try:
    layout = pdfcheck.check(snakemake.input.pdf, snakemake.params.latex_log, snakemake.params.experiments,
                            images=snakemake.output.contact)
except FileNotFoundError as e:  # poppler-utils missing: the PDF exists, the check cannot run
    layout = {"problems": [], "skipped": str(e)}
    log.warning("%s", e)
for p in layout["problems"]:
    log.warning("paper layout: %s", p)
write_text_atomic(snakemake.output.layout, json.dumps(layout, indent=1, sort_keys=True) + "\n")
log.info("paper layout: %d pages, %d problems; contact sheets in %s", layout.get("pages", 0),
         len(layout["problems"]), snakemake.output.contact)
