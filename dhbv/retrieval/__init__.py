"""Data acquisition: robust downloads, verified copies of pre-staged data (``data.source``:
``prestaged`` | ``online``), USGS daily streamflow, gridMET forcing subsets, MERIT-Basins files
and attribute/gauge tables."""

from dhbv.retrieval.download import (
    copy_prestaged,
    copy_prestaged_folder,
    download,
    read_sha256sums,
    retrieve_file,
    sha256_of,
)
from dhbv.retrieval.gridmet import GRIDMET_VARIABLES, gridmet_forcing_variables, gridmet_ncss_url, retrieve_gridmet
from dhbv.retrieval.merit import merit_basins_files, retrieve_merit_basins, retrieve_table
from dhbv.retrieval.usgs import CFS_TO_CMS, FLAG_MEANINGS, nwis_to_dataset, retrieve_usgs_streamflow

__all__ = [
    "CFS_TO_CMS", "FLAG_MEANINGS", "GRIDMET_VARIABLES", "copy_prestaged", "copy_prestaged_folder", "download",
    "gridmet_forcing_variables", "gridmet_ncss_url", "merit_basins_files", "nwis_to_dataset", "read_sha256sums",
    "retrieve_file", "retrieve_gridmet", "retrieve_merit_basins", "retrieve_table", "retrieve_usgs_streamflow",
    "sha256_of",
]
