"""The smoke workflow through a real SLURM: `snakemake --profile slurm --profile slurm/ci`.

Needs a SLURM controller answering `sinfo` with a partition `debug` and fake GPUs
(CI starts one with `bash .ci/slurm_up.sh`). Without one the tests skip, unless
SWEJEPA_REQUIRE_SLURM=1 (CI sets it): then they fail.

One workflow run (module fixture) in a copy of the repository, typed as a user would
in the repository root. Checked: every non-local job went through sbatch (a SLURM job
id per job in Snakemake's log, the SLURM log kept), the requested outputs exist, each
rule's log (written by swejepa.runtime.setup_logging) names the SLURM job it ran in,
and GPU-asking jobs got CUDA_VISIBLE_DEVICES from SLURM while the others did not.

Targets: the CPU stages (properties, mask agreement) plus one job each of the GPU rules
teacher_train, extract, student_train (a chain: the extraction of the trained teacher,
the student on those latents). SWEJEPA_SLURM_TARGETS="a b c" overrides the targets,
SWEJEPA_SLURM_GPU_RULES="..." the GPU rules.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
REQUIRE = os.environ.get("SWEJEPA_REQUIRE_SLURM", "") == "1"
PARTITION = "debug"
# GPU rules: those the CI overlay gives a (fake) GPU; it names the same rules as slurm/config.yaml.
GPU_RULES = tuple(yaml.safe_load((ROOT / "slurm" / "ci" / "config.yaml").read_text())["set-resources"])
CPU_RULES = ("properties", "mask_agreement")
# GPU rules whose jobs the run targets: one chain (teacher -> its latents -> student),
# to stay within a few minutes; the decoder/phase-2 GPU rules get the same set-resources
# (tests/test_envs.py checks the profile). SWEJEPA_SLURM_GPU_RULES="a b" overrides.
RUN_GPU_RULES = tuple(os.environ.get("SWEJEPA_SLURM_GPU_RULES", "teacher_train extract student_train").split())
RUN_TIMEOUT = int(os.environ.get("SWEJEPA_SLURM_TIMEOUT", "540"))
PROFILE_ARGS = ["--profile", "slurm", "--profile", "slurm/ci"]
SMOKE = ["--configfile", "config/smoke.yaml"]


def slurm_unavailable() -> str | None:
    """Why SLURM cannot be used here, or None."""
    if not shutil.which("sinfo") or not shutil.which("sbatch"):
        return "sinfo/sbatch not on PATH"
    try:
        p = subprocess.run(["sinfo", "-h", "-o", "%P %a %D %t"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "sinfo timed out (no controller answers)"
    if p.returncode != 0:
        return f"sinfo failed: {p.stderr.strip() or p.stdout.strip()}"
    parts = [l.split() for l in p.stdout.splitlines() if l.strip()]
    if not any(x[0].rstrip("*") == PARTITION and x[1] == "up" for x in parts):
        return f"no partition '{PARTITION}' up (sinfo: {p.stdout.strip()!r})"
    return None


def job_env() -> dict:
    """The test's environment minus anything SLURM/CUDA: what the jobs get must come
    from SLURM, and an enclosing allocation must not leak in."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("SLURM_", "SBATCH_", "SRUN_")) and k != "CUDA_VISIBLE_DEVICES"
            and k != "SNAKEMAKE_PROFILE"}


def copy_repo(dest: Path) -> Path:
    """Tracked + untracked-not-ignored files (no results/, no .snakemake/)."""
    files = None
    if (ROOT / ".git").exists() and shutil.which("git"):
        p = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, timeout=60)
        if p.returncode == 0:
            files = [f for f in p.stdout.decode().split("\0") if f]
    if files is None:
        ignore = shutil.ignore_patterns(".git", "results", ".snakemake", "__pycache__", ".pytest_cache",
                                        "*.egg-info")
        shutil.copytree(ROOT, dest, ignore=ignore)
        return dest
    for f in files:
        src = ROOT / f
        if f.startswith(("results/", ".snakemake/")) or not src.is_file():
            continue
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / f)
    return dest


def snakemake_cmd() -> list[str]:
    exe = shutil.which("snakemake")
    return [exe] if exe else [sys.executable, "-m", "snakemake"]


_BLOCK = re.compile(r"^(local)?(?:checkpoint|rule) (\w+):\n((?:[ \t]+.*\n?)*)", re.M)
_SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+)\)\.?$", re.M)


def parse_jobs(text: str) -> list[dict]:
    """Job blocks of Snakemake's log: [{rule, local, jobid, output: [..]}]."""
    jobs = []
    for m in _BLOCK.finditer(text):
        body = m.group(3)
        jid = re.search(r"^\s+jobid: (\d+)", body, re.M)
        out = re.search(r"^\s+output: (.*)$", body, re.M)
        inp = re.search(r"^\s+input: (.*)$", body, re.M)
        jobs.append(dict(rule=m.group(2), local=bool(m.group(1)),
                         jobid=int(jid.group(1)) if jid else None,
                         input=[s.strip() for s in inp.group(1).split(",")] if inp else [],
                         output=[s.strip() for s in out.group(1).split(",")] if out else []))
    return jobs


def choose_targets(repo: Path) -> tuple[list[str], list[str]]:
    """(targets, GPU rules covered) from a dry run of the smoke workflow's default target."""
    if os.environ.get("SWEJEPA_SLURM_TARGETS"):
        targets = os.environ["SWEJEPA_SLURM_TARGETS"].split()
    else:
        targets = []
    p = subprocess.run([*snakemake_cmd(), "-n", "--forceall", *PROFILE_ARGS, *SMOKE],
                       cwd=repo, env=job_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"dry run of the smoke workflow failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    jobs = [j for j in parse_jobs(p.stdout + "\n" + p.stderr) if j["output"]]
    first = {}
    for j in jobs:
        first.setdefault(j["rule"], j["output"])
    # One job per GPU rule; prefer the job that consumes an already chosen GPU job's
    # outputs (teacher -> its latents -> student -> decoder): one chain, less work.
    chosen: dict[str, list[str]] = {}
    for rule in RUN_GPU_RULES:
        assert rule in GPU_RULES, f"{rule} is not a GPU rule of slurm/ci/config.yaml"
        cands = [j for j in jobs if j["rule"] == rule]
        if not cands:
            continue
        made = {o for outs in chosen.values() for o in outs}
        chained = [j for j in cands
                   if any(i == o or i.startswith(o.rstrip("/") + "/") or o.startswith(i.rstrip("/") + "/")
                          for i in j["input"] for o in made)]
        chosen[rule] = (chained or cands)[0]["output"]
    gpu = list(chosen)
    if not targets:
        for r in CPU_RULES:
            targets += first.get(r, [])
        for outs in chosen.values():
            targets += outs
    assert targets, f"no targets found in the smoke DAG (rules: {sorted(first)})"
    return targets, gpu


@dataclass
class Run:
    repo: Path
    targets: list[str]
    gpu_rules: list[str]
    rc: int
    output: str
    log: str
    jobs: list[dict] = field(default_factory=list)
    submitted: dict[int, tuple[int, str]] = field(default_factory=dict)  # snakemake jobid -> (slurm id, log)
    seconds: float = 0.0

    def tail(self, n=6000):
        return self.output[-n:]


def _cancel(ids):
    if ids and shutil.which("scancel"):
        subprocess.run(["scancel", *map(str, ids)], capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory) -> Run:
    why = slurm_unavailable()
    if why:
        if REQUIRE:
            pytest.fail(f"SWEJEPA_REQUIRE_SLURM=1 but SLURM is not usable: {why} "
                        f"(start it with `bash .ci/slurm_up.sh`)")
        pytest.skip(f"no SLURM controller here: {why} (CI starts one with .ci/slurm_up.sh)")
    repo = copy_repo(tmp_path_factory.mktemp("slurm") / "repo")
    targets, gpu = choose_targets(repo)
    cmd = [*snakemake_cmd(), *targets, *PROFILE_ARGS, *SMOKE]
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=repo, env=job_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        _cancel(m.group(2) for m in _SUBMITTED.finditer(out or ""))
        out = (out or "") + f"\n*** snakemake --profile slurm did not finish in {RUN_TIMEOUT}s (killed)"
    logs = sorted((repo / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
    log = logs[-1].read_text() if logs else out
    run = Run(repo=repo, targets=targets, gpu_rules=gpu, rc=proc.returncode, output=out, log=log,
              seconds=time.time() - t0)
    run.jobs = [j for j in parse_jobs(log) if j["jobid"] is not None]
    run.submitted = {int(m.group(1)): (int(m.group(2)), m.group(3)) for m in _SUBMITTED.finditer(log)}
    print(f"SLURM smoke run: {len(run.submitted)} sbatch jobs in {run.seconds:.0f}s; targets {targets}")
    return run


def succeeded(run: Run) -> Run:
    """The other checks need a finished run; test_workflow_succeeds shows why not."""
    if run.rc != 0:
        pytest.fail(f"the SLURM workflow run failed (rc={run.rc}); see test_workflow_succeeds")
    return run


def rule_logs(run: Run, rule: str) -> list[Path]:
    return sorted((run.repo / "results" / "logs" / rule).rglob("*.log"))


# ---------------------------------------------------------------------------- tests


def test_workflow_succeeds(slurm_run):
    assert slurm_run.rc == 0, f"snakemake --profile slurm failed (rc={slurm_run.rc}):\n{slurm_run.tail()}"


def test_outputs_present(slurm_run):
    succeeded(slurm_run)
    missing = [t for t in slurm_run.targets if not (slurm_run.repo / t).exists()]
    assert not missing, f"missing outputs: {missing}\n{slurm_run.tail()}"


def test_every_nonlocal_job_went_through_sbatch(slurm_run):
    succeeded(slurm_run)
    remote = [j for j in slurm_run.jobs if not j["local"]]
    assert remote, f"no jobs ran:\n{slurm_run.tail()}"
    not_submitted = [(j["rule"], j["jobid"]) for j in remote if j["jobid"] not in slurm_run.submitted]
    assert not not_submitted, f"jobs not submitted with sbatch: {not_submitted}"
    local = {j["rule"] for j in slurm_run.jobs if j["local"]}
    assert local <= {"all"}, f"jobs run on the submitting host instead of SLURM: {sorted(local)}"
    for jobid, (slurm_id, logpath) in slurm_run.submitted.items():
        assert slurm_id > 0
        assert Path(logpath).is_file(), f"SLURM log of job {jobid} (SLURM {slurm_id}) missing: {logpath}"
    # and SLURM knows the ids (squeue keeps finished jobs for MinJobAge)
    ids = ",".join(str(s) for s, _ in slurm_run.submitted.values())
    p = subprocess.run(["squeue", "-h", "-t", "all", "-j", ids, "-o", "%i %T"], capture_output=True,
                       text=True, timeout=30)
    if p.returncode == 0 and p.stdout.strip():
        states = dict(l.split() for l in p.stdout.splitlines() if l.strip())
        bad = {k: v for k, v in states.items() if v != "COMPLETED"}
        assert not bad, f"SLURM states: {bad}"


def test_rule_logs_name_their_slurm_job(slurm_run):
    """setup_logging writes SLURM_JOB_ID=...; it must be the job sbatch returned for that rule."""
    succeeded(slurm_run)
    by_rule: dict[str, set[int]] = {}
    for j in slurm_run.jobs:
        if not j["local"] and j["jobid"] in slurm_run.submitted:
            by_rule.setdefault(j["rule"], set()).add(slurm_run.submitted[j["jobid"]][0])
    checked = 0
    for rule, ids in by_rule.items():
        for log in rule_logs(slurm_run, rule):
            m = re.search(r"SLURM_JOB_ID=(\d*)", log.read_text(errors="replace"))
            if m is None:
                continue
            assert m.group(1) and int(m.group(1)) in ids, f"{log}: SLURM_JOB_ID={m.group(1)!r}, sbatch ids {ids}"
            checked += 1
    assert checked, "no rule log carries SLURM_JOB_ID (scripts must call swejepa.runtime.setup_logging)"


def test_gpu_jobs_get_cuda_visible_devices_from_slurm(slurm_run):
    succeeded(slurm_run)
    if not slurm_run.gpu_rules:
        pytest.skip(f"no GPU rule ({', '.join(RUN_GPU_RULES)}) in the smoke workflow yet")
    for rule in slurm_run.gpu_rules:
        logs = rule_logs(slurm_run, rule)
        assert logs, f"rule {rule}: no log under results/logs/{rule}/"
        seen = [re.search(r"CUDA_VISIBLE_DEVICES=(\S*)", l.read_text(errors="replace")) for l in logs]
        seen = [m.group(1) for m in seen if m]
        assert seen, f"rule {rule}: no CUDA_VISIBLE_DEVICES= line in {logs} (use setup_logging)"
        assert all(seen), f"rule {rule}: CUDA_VISIBLE_DEVICES empty in its SLURM job: {seen}"
    # CPU jobs get none: the variable comes from SLURM's GPU allocation, not the environment
    for rule in CPU_RULES:
        for log in rule_logs(slurm_run, rule):
            m = re.search(r"CUDA_VISIBLE_DEVICES=(\S*)", log.read_text(errors="replace"))
            if m:
                assert m.group(1) == "", f"{log}: CPU job got CUDA_VISIBLE_DEVICES={m.group(1)}"
