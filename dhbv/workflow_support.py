"""Helpers for the thin Snakemake scripts in ``workflow/scripts/``: logging set-up and the
standard-form files of a rule's input."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_script_logging(log_path: str | Path) -> logging.Logger:
    """Send ``logging`` records and uncaught exceptions of a rule script to its ``log:`` file.

    The one-line message of a ``DhbvInputError`` is also echoed to stderr so Snakemake shows it.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)

    def excepthook(exc_type, exc, tb):
        logging.getLogger("dhbv").error("%s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))
        sys.__stderr__.write(f"{exc_type.__name__}: {exc}\n")

    sys.excepthook = excepthook
    return logging.getLogger("dhbv.workflow")


STANDARD_FORMS = ("forcing", "attributes", "observations", "membership")


def standard_forms(rule_input) -> dict:
    """The four standard-form files of a dataset among a rule's named inputs."""
    return {k: str(rule_input[k]) for k in STANDARD_FORMS}
