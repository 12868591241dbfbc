"""The schema rejects bad configs, naming the key, before any job runs."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from swejepa.config import ConfigError, load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]


def default():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_default_and_overlays_validate():
    load_config(ROOT / "config.yaml")
    for overlay in sorted((ROOT / "config").glob("*.yaml")):
        load_config(ROOT / "config.yaml", overlay)


@pytest.mark.parametrize("mutate, key", [
    (lambda c: c.update(bogus=1), "bogus"),
    (lambda c: c["corpus"].update(max_files=-3), "corpus.max_files"),
    (lambda c: c["corpus"].update(source="ftp"), "corpus.source"),
    (lambda c: c["corpus"].update(val_fraction="lots"), "corpus.val_fraction"),
    (lambda c: c["grid"].update(pools=["median"]), "grid.pools[0]"),
    (lambda c: c["masks"].update(strategies=[]), "masks.strategies"),
    (lambda c: c["corpus"].update(typo_key=True), "corpus.typo_key"),
    (lambda c: c["corpus"].update(val_fraction=0.5, test_fraction=0.45), "corpus.val_fraction"),
    (lambda c: c["corpus"].update(source="dir", path=None), "corpus.path"),
])
def test_bad_values_are_rejected_with_the_key(mutate, key):
    cfg = default()
    mutate(cfg)
    with pytest.raises(ConfigError) as ei:
        validate_config(cfg)
    assert f"'{key}'" in str(ei.value)


def test_snakemake_rejects_bad_config_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("corpus:\n  max_files: -1\n")
    p = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                        "-n", "--configfile", str(bad)], capture_output=True, text=True, timeout=300)
    assert p.returncode != 0
    assert "corpus.max_files" in p.stdout + p.stderr
    assert not (tmp_path / "results").exists()
