# Stage: static properties of every function region (Experiment 0.3, step 1).


rule properties:
    input:
        files=LAYOUT.corpus_files(),
        regions=LAYOUT.mask_csv("ast"),
    output:
        properties=LAYOUT.properties(),
        report=LAYOUT.properties_report(),
    log:
        LAYOUT.log("properties", SETTINGS.corpus.name),
    benchmark:
        LAYOUT.benchmark("properties", SETTINGS.corpus.name)
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/properties.py"
