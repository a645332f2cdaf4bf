"""What the console's Templates page lists: every template of the server's configs, by
profile, usage type and locale, with a sample payload filling its placeholders."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..domain.config import TemplateConfig
from ..domain.preview import placeholders
from ..domain.profiles import Profiles

# Sample values for the names Logto's payloads use; any other name gets a readable stand-in.
_SAMPLES: dict[str, Any] = {
    "code": "123456",
    "link": "https://example.com/verify?token=sample",
    "email": "user@example.com",
    "name": "Ada Lovelace",
    "username": "ada",
    "phone": "+15555550100",
}


@dataclass(frozen=True)
class TemplateEntry:
    """One template of one profile."""

    profile: str
    index: int
    usage_type: str
    locale: str
    content_type: str

    @property
    def path(self) -> str:
        """Its JSON path in the profile's config, such as ``templates[2]``."""
        return f"templates[{self.index}]"

    @property
    def key(self) -> str:
        """A stable identifier for links: ``profile/index``."""
        return f"{self.profile}/{self.index}"


def template_entries(profiles: Profiles | None) -> Iterator[TemplateEntry]:
    """Every template of every profile, in config order."""
    if profiles is None:
        return
    for name, loaded in profiles.configs.items():
        for index, template in enumerate(loaded.config.templates):
            yield TemplateEntry(
                profile=name,
                index=index,
                usage_type=template.usage_type,
                locale=template.locale or "",
                content_type="multipart/alternative"
                if template.multipart
                else template.content_type.value,
            )


def find_template(profiles: Profiles | None, key: str) -> tuple[TemplateEntry, TemplateConfig]:
    """The entry and config of ``profile/index``; LookupError when there is none."""
    profile, _, index = key.rpartition("/")
    if profiles is None or profile not in profiles.configs or not index.isdigit():
        raise LookupError(key)
    templates = profiles.configs[profile].config.templates
    if int(index) >= len(templates):
        raise LookupError(key)
    entry = next(e for e in template_entries(profiles) if e.key == key)
    return entry, templates[int(index)]


def sample_payload(template: TemplateConfig) -> dict[str, Any]:
    """A payload giving every placeholder of the template a sample value (and the template's
    own locale, so the preview finds this template rather than another)."""
    payload: dict[str, Any] = {}
    for dotted in placeholders(template):
        *owners, leaf = dotted.split(".")
        scope = payload
        for owner in owners:
            child = scope.setdefault(owner, {})
            if not isinstance(child, dict):
                break
            scope = child
        else:
            scope.setdefault(leaf, _sample(owners, leaf))
    if template.locale:
        payload["locale"] = template.locale
    return payload


def _sample(owners: list[str], leaf: str) -> Any:
    if leaf == "name" and owners:  # application.name, organization.name
        return f"Example {owners[-1].replace('_', ' ').title()}"
    return _SAMPLES.get(leaf, f"sample {leaf.replace('_', ' ')}")
