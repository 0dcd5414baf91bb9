"""Gauged datasets: source readers, the merged in-memory dataset, membership and batches.

* :mod:`~dhbv.datasets.readers` — one registered reader per source type (caravan, camels,
  standard) producing the standard forms;
* :mod:`~dhbv.datasets.dataset` — :func:`load_dataset` merges a dataset's sources into a
  :class:`BasinData`; :func:`write_standard` writes the standard NetCDF forms;
* :mod:`~dhbv.datasets.membership` — gauge → unit membership with weights;
* :mod:`~dhbv.datasets.network` — the river network over a dataset's units;
* :mod:`~dhbv.datasets.batch` — a batch of gauges, its units and readout inputs.
"""
from dhbv.datasets.basin_data import BasinData
from dhbv.datasets.batch import GaugeBatch, gauge_batch
from dhbv.datasets.dataset import (build_membership, build_training_data, dataset_of,
                                   load_dataset, select_gauges, write_standard)
from dhbv.datasets.membership import Membership
from dhbv.datasets.readers import READERS, register_reader

__all__ = ["BasinData", "GaugeBatch", "Membership", "READERS", "build_membership",
           "build_training_data", "dataset_of", "gauge_batch", "load_dataset", "register_reader",
           "select_gauges", "write_standard"]
