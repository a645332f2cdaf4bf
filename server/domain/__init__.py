"""Domain: the connector config, templates, message building and the mailer; no gRPC."""

from .config import SmtpConfig, parse_config
from .mailer import LoadedConfig, Mailer, SendRequest, load_config
from .profiles import Profiles, load_profiles
from .templates import TemplateSet
from .validation import ValidationReport, validate_config

__all__ = [
    "LoadedConfig",
    "Mailer",
    "Profiles",
    "SendRequest",
    "SmtpConfig",
    "TemplateSet",
    "ValidationReport",
    "load_config",
    "load_profiles",
    "parse_config",
    "validate_config",
]
