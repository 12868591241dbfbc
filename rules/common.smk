# Shared names and helpers for all stages. Every stage file appends its final
# products to ALL_TARGETS; `rule all` (Snakefile) requests them.

CORPUS = config["corpus"]["name"]
MASKS = config["masks"]["strategies"]
RES = "results"

ALL_TARGETS = []


def logfile(rule_name, pattern=""):
    """results/logs/<rule>/<pattern>.log (pattern may hold wildcards)."""
    return f"{RES}/logs/{rule_name}/{pattern or 'all'}.log"


def benchfile(rule_name, pattern=""):
    return f"{RES}/benchmarks/{rule_name}/{pattern or 'all'}.tsv"

# What the paper consumes. Each stage appends the tables (results/tables/*.tex),
# figures (results/figures/*.pdf; a .png twin goes to the report) and macro files
# (results/macros/*.tex) it produces.
PAPER_TABLES = []
PAPER_FIGURES = []
PAPER_MACROS = []

# Report markup for a stage's own outputs (optional; rules/paper.smk adds every
# figure in PAPER_FIGURES and table in PAPER_TABLES to the report anyway, sorted into
# one category per experiment by file-name prefix). Use in `output:`, e.g.
#   output: png=paper_figure(f"{RES}/figures/exp02_recall.png", caption="Recall@k per layer.")
# `category` defaults to the experiment section of the file name; `caption` (plain
# LaTeX-safe text) is also used as the figure's caption in the paper.
PAPER_CAPTIONS = {}
PAPER_REPORTED = set()


def paper_figure(path, category=None, caption=None):
    from swejepa.paper import report_category, section_of

    stem = path.rsplit(".", 1)[0]
    if caption:
        PAPER_CAPTIONS[stem + ".pdf"] = caption
        PAPER_CAPTIONS[stem + ".tex"] = caption
    PAPER_REPORTED.add(stem)
    return report(path, category=category or report_category(section_of(path)),
                  labels={"file": os.path.basename(path)})
