"""The payloads Logto core sends to an email connector, per usage type: which placeholders a
template can expect to be filled, and what goes out for the others.

From logto-io/logto at 1fbc55441f: verification codes (packages/core/src/libraries/
passcode.ts, ``sendPasscode``) send ``{code, locale?, uiLocales?, user?, organization?,
application?}``; organization invitations (libraries/organization-invitation.ts and
routes/organization-invitation/index.ts) send the request body (``link``, ``locale``...)
with ``organization`` and ``inviter``; the console's test send (routes/connector/
config-testing.ts) sends ``{code: '000000', locale?}`` as Generic. The context objects are
picked in packages/core/src/utils/connectors/extra-information.ts.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["PAYLOAD_KEYS", "placeholder_warning"]

_LOCALES = frozenset({"locale", "uiLocales"})
_CODE_PAYLOAD = frozenset({"code", "user", "organization", "application"}) | _LOCALES
_INVITATION_PAYLOAD = frozenset({"link", "organization", "inviter"}) | _LOCALES

# The root keys of the payloads Logto sends for each usage type it knows.
PAYLOAD_KEYS: Mapping[str, frozenset[str]] = {
    **{
        usage: _CODE_PAYLOAD
        for usage in (
            "SignIn",
            "Register",
            "ForgotPassword",
            "UserPermissionValidation",
            "BindNewIdentifier",
            "MfaVerification",
            "BindMfa",
            "Test",
        )
    },
    "OrganizationInvitation": _INVITATION_PAYLOAD,
    # Generic is both a usage type of its own and every other type's fallback.
    "Generic": _CODE_PAYLOAD | _INVITATION_PAYLOAD,
}

# The keys of the context objects (UserContextInfo, OrganizationContextInfo,
# ApplicationContextInfo); None: the object's keys are the user's own (profile, branding).
_USER = {k: None for k in ("id", "avatar", "name", "primaryEmail", "primaryPhone", "username")}
_OPEN: dict[str, object] = {}
_SHAPES: Mapping[str, Mapping[str, object]] = {
    "user": {**_USER, "profile": _OPEN},
    "inviter": {**_USER, "profile": _OPEN},
    "organization": {"id": None, "name": None, "branding": _OPEN},
    "application": {"id": None, "name": None, "branding": _OPEN, "displayName": None},
}


def _known_nested(path: list[str]) -> bool:
    """Whether a path below a context object names one of its keys (or goes into an object
    whose keys are the user's own)."""
    shape: object = _SHAPES.get(path[0])
    for part in path[1:]:
        if shape is None or shape is _OPEN:
            return shape is _OPEN
        if not isinstance(shape, Mapping) or part not in shape:
            return False
        shape = shape[part]
    return True


def placeholder_warning(usage_type: str, path: str) -> str | None:
    """Why ``{{path}}`` in a template for ``usage_type`` is not filled by the payloads Logto
    sends, and what is sent in its place; None when it is filled (or the usage type is not
    one Logto sends, so nothing is known of its payload)."""
    keys = PAYLOAD_KEYS.get(usage_type)
    if keys is None:
        return None
    parts = path.split(".")
    root = parts[0]
    if root not in keys:
        known = ", ".join(sorted(keys))
        return (
            f"{{{{{path}}}}}: no payload Logto sends for '{usage_type}' has '{root}' (they have "
            f"{known}); unless your caller adds it, the placeholder is sent as written, "
            f"'{{{{{path}}}}}'"
        )
    if len(parts) > 1 and not _known_nested(parts):
        return (
            f"{{{{{path}}}}}: Logto's '{root}' has no such key; it is sent as '' (an empty "
            "string) unless your caller's payload has it"
        )
    return None
