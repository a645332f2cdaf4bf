"""ValidateConfig's engine: a config's problems, each with its JSON path and severity."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .dkim import KeyAccess
from .errors import InvalidConfig
from .mailer import LoadedConfig, load_config
from .templates import Candidate
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
class TemplateLookup:
    """A send whose template lookup to show: its usage type and payload locale."""

    usage_type: str
    locale: str | None = None


@dataclass(frozen=True)
class Resolution:
    """A template lookup step by step; ``template_path`` is the template used, if any."""

    candidates: tuple[Candidate, ...]

    @property
    def template_path(self) -> str:
        """The JSON path of the first candidate that has a template; empty when none has."""
        return next((c.template.path for c in self.candidates if c.template is not None), "")


@dataclass(frozen=True)
class ValidationReport:
    """The result of checking a config."""

    issues: tuple[ConfigIssue, ...]
    normalized_json: str
    resolution: Resolution | None = None

    @property
    def valid(self) -> bool:
        """True when no issue is an error."""
        return not any(issue.severity is Severity.ERROR for issue in self.issues)


def validate_config(text: str, lookup: TemplateLookup | None = None) -> ValidationReport:
    """Check a config the way a send would load it, without contacting any server (nor
    reading a DKIM key); with a ``lookup``, also resolve its template."""
    try:
        loaded = load_config(text, key_access=KeyAccess.SKIP)
        create_ssl_context(loaded.connection)  # tls.ca, tls.cert and tls.key must load
    except InvalidConfig as exc:
        issues = tuple(ConfigIssue(v.field, v.description, Severity.ERROR) for v in exc.violations)
        return ValidationReport(issues, "")
    resolution = None
    if lookup is not None:
        resolution = Resolution(loaded.templates.candidates(lookup.usage_type, lookup.locale))
    return ValidationReport(_security_warnings(loaded), loaded.config.redacted_json(), resolution)


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
