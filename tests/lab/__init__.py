"""The v6scan lab: a hermetic mini-internet of network namespaces for tests and demos.

``python -m tests.lab up|down|status|verify|exec -- CMD`` (see ``--help``).
"""

from tests.lab.lab import Lab, LabError, all_labs, lab_unavailable_reason

__all__ = ["Lab", "LabError", "all_labs", "lab_unavailable_reason"]
