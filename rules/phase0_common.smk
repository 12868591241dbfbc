# Phase 0: settings and helper functions of rules/phase0.smk (kept apart from the rules:
# `snakemake --lint`).

P0_TEACHERS = [t["name"] for t in config.get("teachers", [])]
P0_LAYERS = config["grid"]["layers"]
P0_POOLS = config["grid"]["pools"]
P0_VPOOLS = [p for p in P0_POOLS if p != "none"]  # one vector per region: retrieval, probes
P0_SHARDS = int(config.get("extract", {}).get("n_shards", 1))


def p0_latents(wildcards):
    """Every shard file of one teacher (names written by the extract rules)."""
    if "latent_files" in globals():  # rules/extract.smk: the one definition of the names
        return latent_files(wildcards.teacher)
    return [f"{RES}/latents/{wildcards.teacher}/shard{i}of{P0_SHARDS}.h5" for i in range(P0_SHARDS)]


def p0_cells(pattern, pools, **fixed):
    """Per-cell paths of one job: ``pattern`` with {layer}/{pool} filled, the wildcards
    given in ``fixed`` (teacher=..., mask=...) filled, the others ({teacher}, {mask}) kept."""
    keep = {"teacher": "{teacher}", "mask": "{mask}"}
    return [pattern.format(layer=l, pool=p, **{**keep, **fixed}) for l in P0_LAYERS for p in pools]


# Per-cell file patterns ({layer}/{pool} filled by p0_cells; {teacher}/{mask} kept or fixed).
P0_STATS_CELL = f"{RES}/stats/{{teacher}}/{{mask}}/{{layer}}_{{pool}}.csv"
P0_STATS_HIST = f"{RES}/stats/{{teacher}}/{{mask}}/{{layer}}_{{pool}}_hist.csv"
P0_RETRIEVAL_CELL = f"{RES}/retrieval/{{teacher}}/{{layer}}_{{pool}}.csv"
P0_PROBES_CELL = f"{RES}/probes/{{teacher}}/{{mask}}/{{layer}}_{{pool}}.csv"
