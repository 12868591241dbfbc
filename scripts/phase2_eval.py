"""Phase-0 retrieval and probes on one Phase-2 student's representations
(rules/phase2.smk: phase2_eval). ``input.final`` absent = the untrained student."""
from swejepa.phase2.run import eval_job
from swejepa.runtime import set_threads, setup_logging

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
i, p = snakemake.input, snakemake.params
eval_job(final=i.get("final"), latents=list(i.latents), items_path=i.bench_items, regions_csv=i.regions,
         properties_csv=i.properties, entry=dict(p.entry), index=int(p.index), results_dir=p.results_dir,
         student_cfg=dict(p.cfg), eval_cfg=dict(p.eval), probe_cfg=dict(p.probes), seed=int(p.seed),
         ident=dict(p.ident), out_json=snakemake.output.json)
