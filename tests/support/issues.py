"""Helpers for validation reports, which carry lint warnings besides the errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from smtp_connector.server.domain.validation import Severity
from smtp_connector.v1 import smtp_connector_pb2 as pb


def errors(issues: Iterable[Any]) -> list[Any]:
    """The issues that are errors, from a ValidateConfig response or a domain report."""
    return [i for i in issues if i.severity in (pb.SEVERITY_ERROR, Severity.ERROR)]
