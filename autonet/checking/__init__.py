"""Check code written for the two-layer exercise (or its layer functions) against autonet.

- :func:`check_two_layer`: a class with the exercise's API or a function with
  the backend contract, run through :func:`cases.battery` and held against
  both autonet backends, with a diagnosis of where each fault enters;
- :func:`check_layers`: a module's forward/backward layer pairs;
- :func:`check_target`: either, from a ``FILE.py:Name`` / ``package.module:Name`` string.

:mod:`autonet.testing` wraps these for pytest; ``autonet check`` for the shell.
"""

from autonet.checking.report import Check, Diagnosis, Report
from autonet.checking.target import TargetError
from autonet.checking.twolayer import check_two_layer

__all__ = ["Check", "Diagnosis", "Report", "TargetError", "check_two_layer"]
