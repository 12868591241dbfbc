# Stage: static properties of every function region (Experiment 0.3, step 1).


rule properties:
    input:
        files=f"{RES}/corpus/{{corpus}}/files.jsonl",
        regions=f"{RES}/masks/{{corpus}}/ast.csv",
    output:
        properties=f"{RES}/properties/{{corpus}}/properties.csv",
        report=f"{RES}/properties/{{corpus}}/report.json",
    log:
        logfile("properties", "{corpus}"),
    benchmark:
        benchfile("properties", "{corpus}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/properties.py"


ALL_TARGETS += [f"{RES}/properties/{CORPUS}/properties.csv"]
