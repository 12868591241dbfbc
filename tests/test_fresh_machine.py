"""A newcomer's first run (issue 15): the README's two commands, what CI runs, and the
provenance of a clean clone with the README's .venv in it."""
import re
import subprocess
from pathlib import Path

import pytest

from swejepa.paper import git_info

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Two commands"):text.index("\n## ", text.index("## Two commands") + 5)]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_two_commands_use_the_setup_script():
    run, tests = readme_commands()
    assert run == "bash scripts/setup.sh && . .venv/bin/activate && snakemake -c2"
    assert tests.startswith("bash scripts/setup.sh && ") and tests.endswith("python -m pytest -q")
    assert (ROOT / "scripts" / "setup.sh").is_file()
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / "setup.sh")], check=True)


def test_ci_runs_the_readme_test_command_verbatim_and_the_latexmk_check():
    ci = (ROOT / ".ci" / "run").read_text()
    _, tests = readme_commands()
    assert ci.rstrip().splitlines()[-1] == tests
    assert "bash .ci/check_preflight.sh" in ci
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / "check_preflight.sh")], check=True)


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def clean_clone(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    git(src, "init", "-q")
    git(src, "config", "user.email", "t@example.org")
    git(src, "config", "user.name", "t")
    (src / ".gitignore").write_text((ROOT / ".gitignore").read_text())
    (src / "tracked.py").write_text("x = 1\n")
    git(src, "add", ".")
    git(src, "commit", "-q", "-m", "init")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(src), str(clone)], check=True)
    return clone


def test_untracked_venv_and_files_do_not_make_the_tree_dirty(clean_clone):
    (clean_clone / ".venv" / "lib").mkdir(parents=True)
    (clean_clone / ".venv" / "lib" / "site.py").write_text("# venv\n")
    (clean_clone / "notes.txt").write_text("untracked\n")
    (clean_clone / "swejepa.egg-info").mkdir()
    (clean_clone / "tracked.py").touch()  # new mtime, same content
    info = git_info(clean_clone)
    assert info["dirty"] is False and len(info["commit"]) == 40
    assert git(clean_clone, "check-ignore", ".venv/lib/site.py").strip() == ".venv/lib/site.py"


def test_modified_or_staged_tracked_files_make_it_dirty(clean_clone):
    (clean_clone / "tracked.py").write_text("x = 2\n")
    assert git_info(clean_clone)["dirty"] is True
    git(clean_clone, "add", "tracked.py")
    assert git_info(clean_clone)["dirty"] is True
    git(clean_clone, "checkout", "-q", "HEAD", "--", "tracked.py")
    assert git_info(clean_clone)["dirty"] is False


def test_not_a_checkout(tmp_path):
    assert git_info(tmp_path) == {"commit": "unknown", "dirty": None}
