# Stage: structural masks. One regions table per strategy (masks.strategies: regex | ast)
# and an agreement report between the two on function bodies.


rule mask:
    input:
        files=LAYOUT.corpus_files(),
    output:
        regions=LAYOUT.mask_csv(),
        report=LAYOUT.mask_report(),
    params:
        min_body_lines=SETTINGS.masks.min_body_lines,
    wildcard_constraints:
        mask=alternatives(PLAN.mask_names),
    log:
        LAYOUT.log("mask", f"{SETTINGS.corpus.name}/{{mask}}"),
    benchmark:
        LAYOUT.benchmark("mask", f"{SETTINGS.corpus.name}/{{mask}}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/mask.py"


rule mask_agreement:
    input:
        regex=LAYOUT.mask_csv("regex"),
        ast=LAYOUT.mask_csv("ast"),
    output:
        agreement=LAYOUT.mask_agreement(),
        disagreements=LAYOUT.mask_disagreements(),
    log:
        LAYOUT.log("mask_agreement", SETTINGS.corpus.name),
    benchmark:
        LAYOUT.benchmark("mask_agreement", SETTINGS.corpus.name)
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/mask_agreement.py"
