"""SWE-JEPA: latent-space predictive architecture for code.

The library does the work; the Snakemake rules in ``rules/`` call it through thin
scripts in ``scripts/``. Every module is usable and testable without Snakemake.
"""

__version__ = "0.1.0"
