"""Pre-flight check: the system tools the requested targets need, checked when
Snakemake parses the workflow, before any job runs.

Only the PDF needs something beyond the Python packages: ``latexmk`` with ``pdflatex``
and ``bibtex`` (TeX Live). When a run would build ``results/paper/main.pdf`` and they
are missing, the Snakefile stops with :class:`PreflightError`, naming what to install
(``bash scripts/setup.sh`` or the apt line) and the alternatives (``--sdm conda``, the
target ``paper_sources``), instead of failing at the end of a 30-minute run.

When the check stops the run, and when it only warns:

- targets: none given means ``rule all``, which requests the PDF unless ``paper.pdf`` is
  false; ``all``, ``paper_pdf``, ``paper_check`` or a path ending in
  ``paper/main.pdf`` / ``paper/referenced_files.json`` request it; any other target
  (``paper_sources``, a results file) does not;
- ``--sdm conda``: the paper rule's ``envs/latex.yaml`` provides latexmk: no check;
- ``-n`` and the other modes that run no job (``--lint``, ``--list``, ``--dag``,
  ``--summary``, ``--report``, ``--touch``, ...): a warning only (a login node without
  TeX can still plan a cluster run);
- job processes (cluster jobs, group jobs): no check (the main process did it);
- ``SWEJEPA_LATEXMK`` names the latexmk binary, as in the paper rule;
- if the command line cannot be read (the Snakefile loaded through the Python API), the
  targets are unknown: a warning only.

The corpus is checked the same way (:func:`check_corpus`): an ``hf`` corpus
(``corpus.source: hf``) whose dataset cannot be read — a local file or folder that is
missing, a hub id that is neither in the local Hugging Face cache nor (``HF_HUB_OFFLINE``
unset, a run that executes jobs) readable according to a metadata request to the Hub
(gated without accepted terms, no such dataset, Hub unreachable) — stops the run naming
``corpus.path``; ``-n`` and the other no-job modes check the cache only and warn (a
laptop can plan a cluster run); nothing is checked once ``results/corpus/{name}/files.jsonl``
exists (the corpus job will not run).

``python -m swejepa.preflight apt-packages`` prints the Debian/Ubuntu packages
(``scripts/setup.sh`` installs exactly these); ``python -m swejepa.preflight check
[TARGET ...]`` prints what is missing for the targets (exit 1 if anything).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

# Debian/Ubuntu packages: TeX for the PDF, poppler for the PNG renderings of figures.
APT_PACKAGES = ("latexmk", "texlive-latex-recommended", "texlive-latex-extra", "lmodern", "texlive-science",
                "poppler-utils")
APT_LINE = "sudo apt-get install -y " + " ".join(APT_PACKAGES)

PDF_RULES = {"paper_pdf", "paper_check"}
PDF_FILES = ("paper/main.pdf", "paper/referenced_files.json", "paper/layout_check.json")

# argparse destinations of Snakemake options under which no job runs
NO_JOB_MODES = ("dryrun", "lint", "list_rules", "list_target_rules", "dag", "rulegraph", "filegraph", "d3dag",
                "summary", "detailed_summary", "report", "archive", "cleanup_metadata", "list_changes",
                "list_input_changes", "list_params_changes", "print_compilation", "containerize",
                "generate_unit_tests", "delete_all_output", "delete_temp_output", "unlock", "touch",
                "conda_create_envs_only", "list_conda_envs", "conda_cleanup_envs", "export_cwl", "cleanup_shadow")


class PreflightError(RuntimeError):
    """A requested target needs a tool this machine lacks (nothing has run yet)."""


@dataclass(frozen=True)
class Invocation:
    """What the Snakemake command line asks for."""

    targets: tuple[str, ...] = ()   # () = the default target (rule all)
    runs_jobs: bool = True          # False for -n, --lint, --list, --dag, ...
    mode: str = ""                  # the first no-job option given ("dryrun", ...)
    known: bool = True              # False: the command line could not be read


def wants_pdf(targets: Iterable[str], pdf_enabled: bool) -> list[str]:
    """The requested targets that need ``results/paper/main.pdf`` (``["all"]`` for the
    default target when ``paper.pdf`` is true)."""
    targets = list(targets) or ["all"]
    out = []
    for t in targets:
        name = t.replace("\\", "/")
        if (name == "all" and pdf_enabled) or name in PDF_RULES or name.endswith(PDF_FILES):
            out.append(t)
    return out


def _latexmk(environ: Mapping[str, str]) -> str:
    return environ.get("SWEJEPA_LATEXMK") or "latexmk"


def missing_requirements(targets: Iterable[str], pdf_enabled: bool, *, conda: bool = False,
                         which: Callable[[str], str | None] = shutil.which,
                         environ: Mapping[str, str] = os.environ) -> list[str]:
    """``["latexmk (needed by: all)", ...]``: each tool the targets need and ``which``
    cannot find (empty when nothing is missing). ``pdf_enabled``: the setting
    ``paper.pdf`` (rule all requests the PDF)."""
    need = wants_pdf(targets, pdf_enabled)
    if not need or conda:
        return []
    by = ", ".join(need)
    return [f"{tool} (needed by: {by})" for tool in (_latexmk(environ), "pdflatex", "bibtex") if not which(tool)]


def message(missing: list[str], fatal: bool = True) -> str:
    head = ("The requested targets need tools this machine lacks; nothing has been run:" if fatal else
            "NOTE: these tools are missing; a run of these targets would stop before any job:")
    lines = [head, *(f"  - {m}" for m in missing), "",
             "Install TeX (and poppler), then rerun the same command:",
             "  bash scripts/setup.sh        # Debian/Ubuntu: installs them with apt (root or sudo)",
             f"  {APT_LINE}",
             "or let conda provide latexmk:  snakemake --sdm conda ...   (envs/latex.yaml)",
             "or build everything except the PDF:  snakemake -c2 paper_sources"
             "   (or --config paper='{pdf: false}')"]
    return "\n".join(lines)


def invocation_from_argv(argv: list[str] | None = None) -> Invocation:
    """Read the Snakemake command line with Snakemake's own parser (profiles included),
    so targets and flags are what Snakemake itself sees. Unknown when this process was
    not started as ``snakemake`` / ``python -m snakemake``."""
    argv = list(sys.argv if argv is None else argv)
    prog = os.path.basename(argv[0]) if argv else ""
    if not (prog.startswith("snakemake") or argv[0].replace("\\", "/").endswith("snakemake/__main__.py")):
        return Invocation(known=False)
    try:
        import contextlib
        import io

        from snakemake.cli import parse_args

        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            _, args = parse_args(argv[1:])
    except BaseException:  # noqa: BLE001 -- SystemExit from argparse, odd profiles: unknown
        return Invocation(known=False)
    modes = [m for m in NO_JOB_MODES if getattr(args, m, None) not in (None, False, [], "")]
    return Invocation(targets=tuple(args.targets or ()), runs_jobs=not modes, mode=modes[0] if modes else "")


def _uses_conda(workflow) -> bool:
    methods = getattr(getattr(workflow, "deployment_settings", None), "deployment_method", ()) or ()
    return any("conda" in str(m).lower() for m in methods)


def _is_main_process(workflow) -> bool:
    try:
        return bool(workflow.is_main_process)
    except Exception:  # noqa: BLE001 -- older/newer Snakemake: assume the main process
        return True


def check_workflow(settings, workflow, argv: list[str] | None = None, *,
                   which: Callable[[str], str | None] = shutil.which, environ: Mapping[str, str] = os.environ,
                   warn=None) -> list[str]:
    """The Snakefile's pre-flight check. Raises :class:`PreflightError` when this run
    would execute jobs for targets whose tools are missing; prints a warning instead
    when it runs no job or the command line is unknown. ``settings``: the workflow's
    :class:`~swejepa.settings.Settings`. Returns what is missing."""
    if not _is_main_process(workflow):
        return []
    inv = invocation_from_argv(argv)
    missing = missing_requirements(inv.targets, settings.paper.pdf, conda=_uses_conda(workflow), which=which,
                                   environ=environ)
    if not missing:
        return []
    if inv.known and inv.runs_jobs:
        raise PreflightError(message(missing))
    (warn or (lambda s: print(s, file=sys.stderr)))(message(missing, fatal=False))
    return missing


def check_epochs(settings, plan, workflow=None, *, warn=None) -> list[str]:
    """The Snakefile's parse-time warning (issue 20): each student of the student stage
    whose planned epochs over its distinct train target regions exceed
    ``plan.max_epochs`` (:func:`swejepa.plan.epochs.epoch_warnings`: the cost plan's
    sizes, measured from the results when they exist). Never stops the run; job processes
    skip it. Returns the warnings."""
    if workflow is not None and not _is_main_process(workflow):
        return []
    say = warn or (lambda s: print(s, file=sys.stderr))
    from .plan.epochs import epoch_warnings

    try:
        lines = epoch_warnings(settings, plan)
    except Exception as e:  # noqa: BLE001 -- an estimate that cannot be made must not stop the parse
        say(f"WARNING: epochs over targets not estimated ({type(e).__name__}: {e}); "
            "python -m swejepa.plan reports them")
        return []
    if lines:
        say("WARNING: students would see their targets more often than plan.max_epochs "
            "(memorisation; raise extract.token_max_regions / extract.token_epochs, use student.targets: "
            "online, a larger corpus, or fewer student.train.max_steps):\n  " + "\n  ".join(lines))
    return lines


def corpus_message(problem: str, fatal: bool = True, will_probe: bool = False) -> str:
    head = ("The corpus dataset cannot be read; nothing has been run:" if fatal else
            "NOTE: the corpus dataset is not in the local cache; a run will ask the Hub whether it can be read "
            "and stop before any job if not:" if will_probe else
            "NOTE: the corpus dataset cannot be read here; a run would stop before any job:")
    return "\n".join([head, f"  - {problem}", "",
                      "Fix corpus.path / corpus.data_dir, fetch the dataset into the Hugging Face cache "
                      "(`hf download --repo-type dataset ...`), or use a corpus every machine has:",
                      "  --config corpus='{source: site-packages, name: site_packages, max_files: null}'"])


def check_corpus(settings, workflow, argv: list[str] | None = None, *, built: bool = False, warn=None,
                 probe_timeout: float = 10.0) -> str | None:
    """The Snakefile's parse-time check of the corpus source (only ``hf`` needs one).
    Raises :class:`PreflightError` naming the config key when this run would execute
    jobs and the dataset cannot be read; warns instead for -n and the other no-job
    modes, which check the local cache only and make no request to the Hub, and when
    the command line is unknown. ``built``: the corpus files exist already (no check).
    Returns the problem, if any."""
    c = settings.corpus
    if c.source != "hf" or built or not _is_main_process(workflow):
        return None
    from .hfdata import availability

    inv = invocation_from_argv(argv)
    fatal = inv.known and inv.runs_jobs
    problem, _how = availability(c, probe=fatal, timeout=probe_timeout)
    if problem is None:
        return None
    if fatal:
        raise PreflightError(corpus_message(problem))
    from .hfdata import is_local, offline

    will_probe = not offline() and not is_local(str(c.path or ""))
    (warn or (lambda s: print(s, file=sys.stderr)))(corpus_message(problem, fatal=False, will_probe=will_probe))
    return problem


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["apt-packages"]:
        print(" ".join(APT_PACKAGES))
        return 0
    if args[:1] == ["check"]:
        from .settings import PaperSettings

        missing = missing_requirements(args[1:], PaperSettings().pdf)
        if missing:
            print(message(missing))
            return 1
        print("preflight: nothing missing")
        return 0
    print("usage: python -m swejepa.preflight apt-packages | check [TARGET ...]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
