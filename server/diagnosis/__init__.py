"""Diagnosis: the connection test, the port probe and the advice for what failed."""

from .connection_test import StepResult, TestReport, run_connection_test
from .probe import ProbeReport, run_probe

__all__ = ["ProbeReport", "StepResult", "TestReport", "run_connection_test", "run_probe"]
