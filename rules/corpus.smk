# Stage: corpus. Collect source files, drop bad input (reported), dedupe, cluster
# near-duplicates, split by package (a cluster never straddles two splits); write
# files.jsonl + manifest.json + skipped.csv + report.json + near_duplicates.csv
# (LAYOUT.corpus_*: results/corpus/{corpus.name}/).


rule corpus:
    output:
        files=LAYOUT.corpus_files(),
        manifest=LAYOUT.corpus_manifest(),
        skipped=LAYOUT.corpus_skipped(),
        report=LAYOUT.corpus_report(),
        near_duplicates=LAYOUT.corpus_near_duplicates(),
    params:
        corpus=SETTINGS.corpus.to_dict(),
        seed=SETTINGS.seed,
    log:
        LAYOUT.log("corpus", SETTINGS.corpus.name),
    benchmark:
        LAYOUT.benchmark("corpus", SETTINGS.corpus.name)
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/corpus.py"
