"""Exceptions raised for bad user input.

Every message is a single line that names the offending file/field and says what to do.
Workflow scripts let these propagate so Snakemake reports the line and deletes partial outputs.
"""


class DhbvInputError(ValueError):
    """Bad input data or configuration (wrong file, missing field, NaN, wrong units, ...)."""


class NetworkTopologyError(DhbvInputError):
    """A river network violates a topology rule (cycle, duplicate id, braided reach, ...)."""
