# Stage: the paper. Include this file LAST in the Snakefile: it consumes the complete
# PAPER_TABLES / PAPER_FIGURES / PAPER_MACROS lists and makes the PDF depend on every
# other target, so the PDF is the last job of `snakemake -c2`.
#
#   results/macros/paper_corpus.tex          corpus/mask numbers the prose quotes
#   results/paper/generated/macros.tex       all PAPER_MACROS + paper/macro-defaults.tex
#   results/paper/generated/sec_<exp>.tex    per-section tables/figures/key numbers
#   results/paper/generated/provenance.tex   commit, config/manifest hashes, versions, hardware, date
#   results/paper/main.pdf                   latexmk (needs TeX; see LATEX_INSTALL_HELP)
#   results/paper/report/{figures,tables}/   browsable copies for `snakemake --report`
#
# Without TeX, `snakemake -c2` builds everything else, then the PDF job fails at once
# with install instructions; `snakemake -c2 paper_sources` (or paper.pdf: false)
# builds everything except the PDF.
import shlex as _shlex
import shutil as _shutil
from swejepa import paper as _paper

PAPER_CFG = config.get("paper", {}) or {}
PAPER_GEN = f"{RES}/paper/generated"
PAPER_SECTIONS = _paper.SECTION_KEYS + [_paper.OTHER.key]
PAPER_OTHER_TARGETS = list(ALL_TARGETS)  # everything the other stages request
PAPER_GIT = _paper.git_info(workflow.basedir)


if PAPER_CFG.get("pdf", True) and not _shutil.which("latexmk") and \
        "conda" not in str(getattr(workflow.deployment_settings, "deployment_method", "")).lower():
    print("NOTE: latexmk not found; results/paper/main.pdf cannot be built (every other "
          "output can). Install TeX: apt-get install -y latexmk texlive-latex-recommended "
          "texlive-latex-extra lmodern texlive-science (or use --sdm conda), or request "
          "the target `paper_sources`.", file=sys.stderr)


rule paper_corpus_macros:
    input:
        manifest=f"{RES}/corpus/{CORPUS}/manifest.json",
        masks=expand(f"{RES}/masks/{CORPUS}/{{mask}}.csv", mask=MASKS),
    output:
        f"{RES}/macros/paper_corpus.tex",
    params:
        masks=MASKS,
    log:
        logfile("paper_corpus_macros"),
    benchmark:
        benchfile("paper_corpus_macros")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=5,
    script:
        "../scripts/paper_corpus_macros.py"


PAPER_MACROS += [f"{RES}/macros/paper_corpus.tex"]


rule paper_provenance:
    input:
        manifest=f"{RES}/corpus/{CORPUS}/manifest.json",
    output:
        tex=f"{PAPER_GEN}/provenance.tex",
        json=f"{RES}/paper/provenance.json",
    params:
        # The commit and dirty flag are read when the workflow is parsed, so a new
        # commit reruns only this job and the PDF.
        git=PAPER_GIT,
        config=config,
        repo=workflow.basedir,
    log:
        logfile("paper_provenance"),
    benchmark:
        benchfile("paper_provenance")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/paper_provenance.py"


rule paper_generated:
    input:
        tables=PAPER_TABLES,
        figures=PAPER_FIGURES,
        macros=PAPER_MACROS,
        defaults=os.path.join(workflow.basedir, "paper", "macro-defaults.tex"),
    output:
        macros=f"{PAPER_GEN}/macros.tex",
        sections=expand(f"{PAPER_GEN}/sec_{{sec}}.tex", sec=PAPER_SECTIONS),
        sources=f"{PAPER_GEN}/sources.tex",
        sources_csv=f"{RES}/paper/sources.csv",
    params:
        captions=PAPER_CAPTIONS,
        producers=_paper.producers(workflow, PAPER_TABLES + PAPER_FIGURES),
    log:
        logfile("paper_generated"),
    benchmark:
        benchfile("paper_generated")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/paper_generated.py"


# Everything the PDF needs, without TeX.
PAPER_SOURCES = [
    f"{PAPER_GEN}/macros.tex",
    f"{PAPER_GEN}/provenance.tex",
    f"{PAPER_GEN}/sources.tex",
    *expand(f"{PAPER_GEN}/sec_{{sec}}.tex", sec=PAPER_SECTIONS),
]


rule paper_pdf:
    input:
        main=os.path.join(workflow.basedir, "paper", "main.tex"),
        bib=os.path.join(workflow.basedir, "paper", "references.bib"),
        generated=PAPER_SOURCES,
        tables=PAPER_TABLES,
        figures=PAPER_FIGURES,
        # Last job of the run: every other product exists before TeX is needed.
        others=PAPER_OTHER_TARGETS,
    output:
        pdf=report(f"{RES}/paper/main.pdf", category="Paper", labels={"file": "main.pdf"}),
    params:
        builddir=f"{RES}/paper/build",
        help=_shlex.quote(_paper.LATEX_INSTALL_HELP),
    log:
        logfile("paper_pdf"),
    benchmark:
        benchfile("paper_pdf")
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
    printed their n/a default."""
    input:
        pdf=f"{RES}/paper/main.pdf",
        main=os.path.join(workflow.basedir, "paper", "main.tex"),
        macros=f"{PAPER_GEN}/macros.tex",
        provenance=f"{PAPER_GEN}/provenance.tex",
    output:
        f"{RES}/paper/referenced_files.json",
    log:
        logfile("paper_check"),
    benchmark:
        benchfile("paper_check")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/paper_check.py"


rule paper_report:
    input:
        tables=PAPER_TABLES,
        figures=PAPER_FIGURES,
    output:
        figures=report(directory(f"{RES}/paper/report/figures"), patterns=["{name}.png"],
                       category=lambda wildcards: _paper.report_category(_paper.section_of(wildcards.name)), labels={"figure": "{name}"}),
        tables=report(directory(f"{RES}/paper/report/tables"), patterns=["{name}.html"],
                      category=lambda wildcards: _paper.report_category(_paper.section_of(wildcards.name)), labels={"table": "{name}"}),
    params:
        # Figures a stage already marks with paper_figure() are not repeated.
        skip=sorted(PAPER_REPORTED),
        dpi=PAPER_CFG.get("report_dpi", 150),
    log:
        logfile("paper_report"),
    benchmark:
        benchfile("paper_report")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/paper_report.py"


rule paper_sources:
    input:
        PAPER_OTHER_TARGETS,
        PAPER_SOURCES,
        f"{RES}/paper/report/figures",
        f"{RES}/paper/report/tables",


ALL_TARGETS += PAPER_SOURCES + [f"{RES}/paper/report/figures", f"{RES}/paper/report/tables"]
if PAPER_CFG.get("pdf", True):
    ALL_TARGETS += [f"{RES}/paper/main.pdf", f"{RES}/paper/referenced_files.json"]
