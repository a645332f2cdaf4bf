"""Named sender profiles: a server config file holding several connector configs by name.

A config file is either one connector config (Logto's JSON, as before: it becomes the
``default`` profile) or a profile file::

    {"defaultProfile": "transactional",
     "profiles": {"transactional": {...connector config...}, "marketing": {...}}}

Each profile keeps its own templates and, because the Mailer keys transports by connection
settings, its own connection pool. ``profile_statuses`` lists the profiles and their state
for the health service.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import FieldViolation, InvalidConfig, InvalidRequest, Reason
from .config import config_from_data, parse_json
from .dkim import KeyAccess
from .mailer import LoadedConfig, compile_config

DEFAULT_PROFILE = "default"
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Profiles:
    """The server's configs by profile name, with the one an empty name means."""

    configs: Mapping[str, LoadedConfig]
    default: str = DEFAULT_PROFILE

    @classmethod
    def single(cls, loaded: LoadedConfig) -> Profiles:
        """One config as the default (and only) profile."""
        return cls({DEFAULT_PROFILE: loaded})

    @property
    def names(self) -> tuple[str, ...]:
        """The profile names, in the file's order."""
        return tuple(self.configs)

    def get(self, name: str = "") -> LoadedConfig:
        """The named profile's config (the default one for an empty name); InvalidRequest
        with reason PROFILE_NOT_FOUND for a name the server does not have."""
        loaded = self.configs.get(name or self.default)
        if loaded is None:
            # A name no profile can have is not repeated (it may carry line breaks).
            shown = f"'{name}'" if _PROFILE_NAME.fullmatch(name) else "of that name"
            raise InvalidRequest.for_field(
                "profile",
                f"the server has no profile {shown} (it has: {', '.join(self.names)})",
                reason=Reason.PROFILE_NOT_FOUND,
            )
        return loaded


def is_profile_file(data: Any) -> bool:
    """Whether parsed config JSON is a profile file rather than one connector config."""
    return isinstance(data, dict) and "profiles" in data


def load_profiles(text: str, *, password: str | None = None) -> Profiles:
    """The server's config file as profiles; ``password`` (from the server's environment)
    applies to the default profile only. DKIM keys are read. Raises InvalidConfig with each
    field's path in the file (``profiles.marketing.port``)."""
    data = parse_json(text)
    if not is_profile_file(data):
        config = config_from_data(data)
        return Profiles.single(compile_config(config, password=password, key_access=KeyAccess.READ))
    profiles = data["profiles"]
    if not isinstance(profiles, dict) or not profiles:
        raise _invalid("profiles", "must be an object of named connector configs")
    for name in profiles:
        if not _PROFILE_NAME.fullmatch(name):
            raise _invalid(
                f"profiles.{name}",
                "a profile name has 1-64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit",
            )
    default = _default_name(data, profiles)
    return Profiles(
        {
            name: _load_profile(name, config, password if name == default else None)
            for name, config in profiles.items()
        },
        default,
    )


def _default_name(data: dict[str, Any], profiles: dict[str, Any]) -> str:
    default = data.get("defaultProfile")
    if default is None:
        if DEFAULT_PROFILE in profiles or len(profiles) > 1:
            default = DEFAULT_PROFILE
        else:
            default = next(iter(profiles))
    if default not in profiles:
        raise _invalid(
            "defaultProfile",
            f"names no profile: set it to one of {', '.join(profiles)} (or name one 'default')",
        )
    return str(default)


def _load_profile(name: str, data: Any, password: str | None) -> LoadedConfig:
    try:
        return compile_config(config_from_data(data), password=password, key_access=KeyAccess.READ)
    except InvalidConfig as exc:
        prefix = f"profiles.{name}"
        violations = tuple(
            FieldViolation(f"{prefix}.{v.field}" if v.field else prefix, v.description)
            for v in exc.violations
        )
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
        raise InvalidConfig(f"config is invalid: {summary}", violations=violations) from None


def _invalid(field_path: str, description: str) -> InvalidConfig:
    return InvalidConfig(
        f"{field_path}: {description}", violations=(FieldViolation(field_path, description),)
    )


@dataclass(frozen=True)
class ProfileStatus:
    """One profile as health reports it."""

    name: str
    default: bool
    address: str  # host:port of the profile's SMTP server
    serving: bool
    detail: str


# A check of one profile's config: (serving, detail). It must not raise.
Probe = Callable[[LoadedConfig], tuple[bool, str]]


def loaded_probe(loaded: LoadedConfig) -> tuple[bool, str]:
    """The cheap check: a profile whose config loaded can serve."""
    return True, "config loaded"


def profile_statuses(profiles: Profiles, probe: Probe = loaded_probe) -> tuple[ProfileStatus, ...]:
    """Every profile with its state, in the file's order; ``probe`` decides the state
    (``loaded_probe`` by default; any ``Probe``, such as a live handshake, may replace it)."""
    return tuple(
        ProfileStatus(
            name=name,
            default=name == profiles.default,
            address=loaded.connection.address,
            serving=serving,
            detail=detail,
        )
        for name, loaded in profiles.configs.items()
        for serving, detail in (probe(loaded),)
    )
