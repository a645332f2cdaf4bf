"""``smtp-connector validate`` without a server: the server's own checks, run in this
process (they open no connection), for ``--offline`` or when no server answers."""

from __future__ import annotations

from smtp_connector.v1 import smtp_connector_pb2 as pb

from ._advice import CommandError


def validate_in_process(
    config_json: str, resolve: pb.TemplateLookup | None = None
) -> pb.ValidateConfigResponse:
    """What ValidateConfig would answer for this config, computed here; needs the server's
    packages (the ``[server]`` extra), and says so when they are missing."""
    try:
        from smtp_connector.server.domain.validation import TemplateLookup, validate_config
        from smtp_connector.server.rpc.convert import validate_config_response
    except ImportError as exc:
        raise CommandError(
            "validating without a server runs the server's checks here, which need its "
            f"packages: pip install 'smtp-connector[server]' ({exc})"
        ) from exc
    lookup = None
    if resolve is not None:
        lookup = TemplateLookup(resolve.usage_type, resolve.locale or None)
    return validate_config_response(validate_config(config_json, lookup))
