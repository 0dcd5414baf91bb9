# dhbv: δHBV2.0 workflow (Song et al. 2025, WRR).
# Stages: build MERIT topology → aggregate forcing → train (GPU) → simulate → evaluate.
# Every rule takes the config values it uses through `params:`, so editing config.yaml reruns
# exactly the rules whose behaviour depends on the edited value.


import sys

from snakemake.utils import min_version

from dhbv.config import validate_config
from dhbv.errors import DhbvInputError

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


# One-line errors for unknown keys, wrong types, missing files and inconsistent periods or
# dataset names; fills every default of dhbv/schemas/config.schema.yaml (shared with the CLI).
# The message is the only output (no Python frames), and no job starts.
try:
    validate_config(config, source=" + ".join(map(str, workflow.configfiles)) or "config")
except DhbvInputError as err:
    sys.exit(f"dhbv workflow: error: {err}")


include: "workflow/rules/common.smk"


if config["data"]["source"] == "online":

    include: "workflow/rules/retrieve.smk"


include: "workflow/rules/topology.smk"
include: "workflow/rules/forcing.smk"
include: "workflow/rules/attributes.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/domain.smk"
include: "workflow/rules/route.smk"


if config["ungauged"]["folds"]:

    include: "workflow/rules/ungauged.smk"


include: "workflow/rules/evaluate.smk"
include: "workflow/rules/collect.smk"


localrules:
    all,
    all_networks,
    all_forcing,
    all_retrieved,
    all_simulations,
    all_domain_simulations,
    all_ungauged,
    all_evaluation,
    all_routing,


rule all:
    default_target: True
    input:
        rules.all_networks.input,
        rules.all_forcing.input,
        rules.all_retrieved.input,
        rules.all_simulations.input,
        rules.all_domain_simulations.input,
        rules.all_ungauged.input,
        rules.all_evaluation.input,
        rules.all_routing.input,
