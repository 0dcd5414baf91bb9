"""Readers and writers for dhbv's on-disk data.

* :mod:`dhbv.io.merit` — MERIT-Basins flowline (``riv_pfaf_*``) and unit-catchment
  (``cat_pfaf_*``) readers, also for reduced schemas and CSV reach tables.
* :mod:`dhbv.io.network_store` — the routing-network NetCDF file, the DDR-compatible zarr v3
  COO layout, and the gauge-subnetwork NetCDF file.

Submodules are imported on demand so that reading one format does not pull in the others.
"""
