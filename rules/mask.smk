# Stage: structural masks. One regions table per strategy (regex | ast) and an
# agreement report between the two on function bodies.


rule mask:
    input:
        files=f"{RES}/corpus/{{corpus}}/files.jsonl",
    output:
        regions=f"{RES}/masks/{{corpus}}/{{mask}}.csv",
        report=f"{RES}/masks/{{corpus}}/{{mask}}_report.json",
    params:
        min_body_lines=config["masks"]["min_body_lines"],
    wildcard_constraints:
        mask="regex|ast",
    log:
        logfile("mask", "{corpus}/{mask}"),
    benchmark:
        benchfile("mask", "{corpus}/{mask}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/mask.py"


rule mask_agreement:
    input:
        regex=f"{RES}/masks/{{corpus}}/regex.csv",
        ast=f"{RES}/masks/{{corpus}}/ast.csv",
    output:
        agreement=f"{RES}/masks/{{corpus}}/agreement.csv",
        disagreements=f"{RES}/masks/{{corpus}}/disagreements.csv",
    log:
        logfile("mask_agreement", "{corpus}"),
    benchmark:
        benchfile("mask_agreement", "{corpus}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/mask_agreement.py"


ALL_TARGETS += expand(f"{RES}/masks/{CORPUS}/{{mask}}.csv", mask=MASKS)
if {"regex", "ast"} <= set(MASKS):
    ALL_TARGETS += [f"{RES}/masks/{CORPUS}/agreement.csv"]
