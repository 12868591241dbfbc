# Stage: corpus. Collect source files, drop bad input (reported), dedupe,
# split by package, write files.jsonl + manifest.json + skipped.csv.


rule corpus:
    output:
        files=f"{RES}/corpus/{{corpus}}/files.jsonl",
        manifest=f"{RES}/corpus/{{corpus}}/manifest.json",
        skipped=f"{RES}/corpus/{{corpus}}/skipped.csv",
        report=f"{RES}/corpus/{{corpus}}/report.json",
    params:
        corpus=config["corpus"],
        seed=config["seed"],
    log:
        logfile("corpus", "{corpus}"),
    benchmark:
        benchfile("corpus", "{corpus}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/corpus.py"


ALL_TARGETS += [f"{RES}/corpus/{CORPUS}/manifest.json"]
