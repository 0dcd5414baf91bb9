"""Write one dataset (raw sources) in the standard on-disk form (thin wrapper)."""

from pathlib import Path

from dhbv.training.data import load_data, write_standard
from dhbv.workflow_support import setup_script_logging

log = setup_script_logging(snakemake.log[0])
data = load_data({"sources": snakemake.params.sources}, snakemake.params.attributes)
paths = write_standard(data, Path(snakemake.output.forcing).parent)
log.info("wrote %s", paths)
