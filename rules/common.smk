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
