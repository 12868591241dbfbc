# Stage: the paper. Its inputs are the plan's products (PLAN.tables / figures / macros,
# gathered from every stage's section of swejepa/dag.py); the PDF depends on every other
# target, so it is the last job of `snakemake -c2`.
#
#   results/macros/paper_corpus.tex          corpus/mask numbers the prose quotes
#   results/paper/verdicts.csv               one row per success criterion of the seed (swejepa/verdicts.py)
#   results/paper/verdicts_detail.csv        the same with the success side and the generated reason
#   results/paper/generated/verdicts.tex     the paper's verdict table; macros results/macros/verdicts.tex
#   results/paper/generated/macros.tex       all macro files + paper/macro-defaults.tex
#   results/paper/generated/sec_<exp>.tex    per-section tables/figures/key numbers
#   results/paper/generated/provenance.tex   commit, config/manifest hashes, versions, hardware, date
#   results/paper/main.pdf                   latexmk (needs TeX; see LATEX_INSTALL_HELP)
#   results/paper/report/{figures,tables}/   browsable copies for `snakemake --report`
#
# Without TeX, a run whose targets need the PDF stops at parse time, before any job
# (swejepa/preflight.py, called in the Snakefile), naming what to install;
# `snakemake -c2 paper_sources` (or paper.pdf: false) builds everything except the PDF.
import shlex as _shlex
from swejepa import paper as _paper

PAPER_SECTIONS = _paper.GENERATED_KEYS
PAPER_GIT = _paper.git_info(workflow.basedir)


rule paper_corpus_macros:
    input:
        manifest=LAYOUT.corpus_manifest(),
        masks=[LAYOUT.mask_csv(m) for m in SETTINGS.masks.strategies],
    output:
        LAYOUT.macros("paper_corpus"),
    params:
        masks=list(SETTINGS.masks.strategies),
    log:
        LAYOUT.log("paper_corpus_macros"),
    benchmark:
        LAYOUT.benchmark("paper_corpus_macros")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=5,
    script:
        "../scripts/paper_corpus_macros.py"



rule paper_verdicts:
    """One row per success criterion of the seed (Experiments 0.1-3.1): value, CI, threshold,
    verdict (met | not_met | underpowered); the detail adds the success side and a generated
    reason; the table and the \\Verdict<Exp> macros are what the paper prints."""
    input:
        **PLAN.verdict_inputs(),
    output:
        csv=LAYOUT.verdicts(),
        detail=LAYOUT.verdicts_detail(),
        macros=LAYOUT.macros("verdicts"),
    params:
        verdicts=SETTINGS.verdicts.to_dict(),
        random_teachers=PLAN.teachers_by_source("random"),
        trained_teachers=[t for t in PLAN.teachers if t not in PLAN.teachers_by_source("random")],
        main_mask=PLAN.main_mask,
        main_pool=PLAN.main_pool,
    log:
        LAYOUT.log("paper_verdicts"),
    benchmark:
        LAYOUT.benchmark("paper_verdicts")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/paper_verdicts.py"


rule paper_provenance:
    input:
        manifest=LAYOUT.corpus_manifest(),
    output:
        tex=LAYOUT.paper_generated("provenance.tex"),
        json=LAYOUT.paper("provenance.json"),
    params:
        # The commit and dirty flag are read when the workflow is parsed, so a new
        # commit reruns only this job and the PDF.
        git=PAPER_GIT,
        config=SETTINGS.to_dict(),
        repo=workflow.basedir,
    log:
        LAYOUT.log("paper_provenance"),
    benchmark:
        LAYOUT.benchmark("paper_provenance")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/paper_provenance.py"


rule paper_generated:
    input:
        tables=PLAN.tables,
        figures=PLAN.figures,
        macros=PLAN.macros,
        defaults=os.path.join(workflow.basedir, "paper", "macro-defaults.tex"),
        # The seed's criteria as verdicts, for the results-at-a-glance table and the
        # sentences that open each section (swejepa/glance.py).
        verdicts=PLAN.verdicts_csv,
    output:
        macros=LAYOUT.paper_generated("macros.tex"),
        sections=[LAYOUT.paper_section(k) for k in PAPER_SECTIONS],
        sources=LAYOUT.paper_generated("sources.tex"),
        sources_csv=LAYOUT.paper("sources.csv"),
    params:
        captions=PLAN.captions,
        producers=_paper.producers(workflow, PLAN.tables + PLAN.figures),
    log:
        LAYOUT.log("paper_generated"),
    benchmark:
        LAYOUT.benchmark("paper_generated")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/paper_generated.py"


rule paper_pdf:
    input:
        main=os.path.join(workflow.basedir, "paper", "main.tex"),
        bib=os.path.join(workflow.basedir, "paper", "references.bib"),
        generated=PLAN.paper_sources,
        tables=PLAN.tables,
        figures=PLAN.figures,
        # Last job of the run: every other product exists before TeX is needed.
        others=PLAN.stage_targets,
    output:
        pdf=report(LAYOUT.paper("main.pdf"), category="Paper", labels={"file": "main.pdf"}),
    params:
        builddir=LAYOUT.paper("build"),
        help=_shlex.quote(_paper.LATEX_INSTALL_HELP),
    log:
        LAYOUT.log("paper_pdf"),
    benchmark:
        LAYOUT.benchmark("paper_pdf")
    conda:
        "../envs/latex.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    # Plain shell (the LaTeX env has no Python). latexmk runs from the working
    # directory, where the paths in main.tex and the generated includes resolve.
    shell:
        """
        LATEXMK="${{SWEJEPA_LATEXMK:-latexmk}}"
        if ! command -v "$LATEXMK" >/dev/null 2>&1 || ! command -v pdflatex >/dev/null 2>&1; then
            printf '%s\\n' {params.help} | tee {log} >&2
            exit 1
        fi
        mkdir -p {params.builddir}
        cp {input.main} {params.builddir}/main.tex
        cp {input.bib} {params.builddir}/references.bib
        if ! BIBINPUTS="{params.builddir}:${{BIBINPUTS:-}}" SOURCE_DATE_EPOCH=0 FORCE_SOURCE_DATE=1 \
            "$LATEXMK" -pdf -interaction=nonstopmode -halt-on-error -file-line-error \
            -outdir={params.builddir} {params.builddir}/main.tex > {log} 2>&1; then
            tail -n 40 {log} >&2
            echo "latexmk failed; full log: {log}, {params.builddir}/main.log" >&2
            exit 1
        fi
        cp {params.builddir}/main.pdf {output.pdf}
        """


rule paper_check:
    """Every file main.tex pulls in exists (with its hash), and which prose macros
    printed their n/a default; the PDF as a reader sees it (swejepa/pdfcheck.py), with
    contact sheets of every page."""
    input:
        pdf=LAYOUT.paper("main.pdf"),
        main=os.path.join(workflow.basedir, "paper", "main.tex"),
        macros=LAYOUT.paper_generated("macros.tex"),
        provenance=LAYOUT.paper_generated("provenance.tex"),
    output:
        refs=LAYOUT.paper("referenced_files.json"),
        layout=LAYOUT.paper("layout_check.json"),
        contact=directory(LAYOUT.paper("contact")),
    params:
        latex_log=LAYOUT.paper("build", "main.log"),
        experiments=[s.number for s in _paper.SECTIONS],
    log:
        LAYOUT.log("paper_check"),
    benchmark:
        LAYOUT.benchmark("paper_check")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/paper_check.py"


rule paper_report:
    input:
        tables=PLAN.tables,
        figures=PLAN.figures,
    output:
        figures=report(directory(PLAN.report_dirs[0]), patterns=["{name}.png"],
                       category=lambda wildcards: _paper.report_category(_paper.section_of(wildcards.name)), labels={"figure": "{name}"}),
        tables=report(directory(PLAN.report_dirs[1]), patterns=["{name}.html"],
                      category=lambda wildcards: _paper.report_category(_paper.section_of(wildcards.name)), labels={"table": "{name}"}),
    params:
        # Figures a stage already marks with paper_figure() are not repeated.
        skip=[],
        dpi=SETTINGS.paper.report_dpi,
    log:
        LAYOUT.log("paper_report"),
    benchmark:
        LAYOUT.benchmark("paper_report")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/paper_report.py"


rule paper_sources:
    input:
        PLAN.stage_targets,
        PLAN.paper_sources,
        PLAN.report_dirs,
