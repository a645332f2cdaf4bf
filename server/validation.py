"""ValidateConfig's engine: a config's problems, each with its JSON path and severity."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import InvalidConfig
from .mailer import load_config


class Severity(Enum):
    """Whether an issue prevents the config from being used."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config."""

    field_path: str
    message: str
    severity: Severity


@dataclass(frozen=True)
class ValidationReport:
    """The result of checking a config."""

    issues: tuple[ConfigIssue, ...]
    normalized_json: str

    @property
    def valid(self) -> bool:
        """True when no issue is an error."""
        return not any(issue.severity is Severity.ERROR for issue in self.issues)


def validate_config(text: str) -> ValidationReport:
    """Check a config the way a send would load it, without contacting any server."""
    try:
        loaded = load_config(text)
    except InvalidConfig as exc:
        issues = tuple(ConfigIssue(v.field, v.description, Severity.ERROR) for v in exc.violations)
        return ValidationReport(issues, "")
    return ValidationReport((), loaded.config.redacted_json())
