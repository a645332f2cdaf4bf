"""ValidateConfig's engine: a config's problems, each with its JSON path and severity."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import InvalidConfig
from .mailer import LoadedConfig, load_config
from .transport import create_ssl_context


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
        create_ssl_context(loaded.connection)  # tls.ca, tls.cert and tls.key must load
    except InvalidConfig as exc:
        issues = tuple(ConfigIssue(v.field, v.description, Severity.ERROR) for v in exc.violations)
        return ValidationReport(issues, "")
    return ValidationReport(_security_warnings(loaded), loaded.config.redacted_json())


def _security_warnings(loaded: LoadedConfig) -> tuple[ConfigIssue, ...]:
    """Settings that work but weaken the connection's security, said out loud."""
    config = loaded.config
    issues = []
    if not config.tls.reject_unauthorized:
        issues.append(
            ConfigIssue(
                "tls.rejectUnauthorized",
                "the server's certificate is not verified: anyone on the network path can "
                "read the mail and the credentials; prefer tls.ca for a private CA",
                Severity.WARNING,
            )
        )
    if config.allow_plaintext_auth:
        issues.append(
            ConfigIssue(
                "allowPlaintextAuth",
                "credentials may be sent over an unencrypted connection",
                Severity.WARNING,
            )
        )
    return tuple(issues)
