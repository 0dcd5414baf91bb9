"""Figures of the evaluation stage (docs/evaluation.md §6), drawn with matplotlib's Agg canvas.

Each figure function takes the tidy evaluation table of :func:`dhbv.evaluation.models.evaluate_models`
(one row per gauge and model; columns ``gauge``, ``model``, ``area`` [km2], ``lat``/``lon``
[degrees], the metrics) or plain arrays, writes one PNG and returns the numbers it prints on the
figure (shares, counts, medians) so that they can be checked without the image.

* :mod:`dhbv.plots.distributions`: CDFs of NSE/KGE, NNSE histogram, Spearman ρ vs |relative
  bias| quadrants, NSE box plots by drainage-area bin.
* :mod:`dhbv.plots.maps`: gauge points coloured by NSE per model, and ΔNSE between two models.
* :mod:`dhbv.plots.hydrographs`: observed vs simulated series with a zoom on the largest event.
* :mod:`dhbv.plots.rules`: the ``plot_*`` workflow rules (file in, PNG out).
"""
from dhbv.plots.distributions import (AREA_BINS, area_bin_index, metric_cdf, nnse_histogram,
                                      nse_by_area, spearman_bias_quadrants)
from dhbv.plots.hydrographs import hydrograph_panels, largest_event_window
from dhbv.plots.maps import delta_nse_map, metric_map

__all__ = ["AREA_BINS", "area_bin_index", "metric_cdf", "nnse_histogram", "nse_by_area",
           "spearman_bias_quadrants", "metric_map", "delta_nse_map", "hydrograph_panels",
           "largest_event_window"]
