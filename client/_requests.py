"""The requests both clients send, built from plain Python values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2
from smtp_connector.v1 import smtp_connector_pb2 as pb

DEFAULT_TIMEOUT = 30.0


def to_struct(payload: Mapping[str, Any] | None) -> struct_pb2.Struct:
    """A payload mapping as a protobuf Struct."""
    struct = struct_pb2.Struct()
    if payload:
        struct.update(payload)
    return struct


def send_request(
    to: str,
    usage_type: str,
    payload: Mapping[str, Any] | None,
    config_json: str,
    idempotency_key: str,
    profile: str,
) -> pb.SendMessageRequest:
    """The SendMessage request."""
    return pb.SendMessageRequest(
        to=to,
        usage_type=usage_type,
        payload=to_struct(payload),
        config_json=config_json,
        idempotency_key=idempotency_key,
        profile=profile,
    )


def preview_request(
    to: str,
    usage_type: str,
    payload: Mapping[str, Any] | None,
    config_json: str,
    profile: str,
    include_raw_message: bool,
) -> pb.PreviewMessageRequest:
    """The PreviewMessage request."""
    return pb.PreviewMessageRequest(
        to=to,
        usage_type=usage_type,
        payload=to_struct(payload),
        config_json=config_json,
        profile=profile,
        include_raw_message=include_raw_message,
    )


def validate_request(
    config_json: str, resolve: pb.TemplateLookup | None
) -> pb.ValidateConfigRequest:
    """The ValidateConfig request."""
    return pb.ValidateConfigRequest(config_json=config_json, resolve=resolve)


def connection_test_request(
    config_json: str, test_recipient: str, profile: str, probe: bool = False
) -> pb.TestConnectionRequest:
    """The TestConnection request."""
    return pb.TestConnectionRequest(
        config_json=config_json, test_recipient=test_recipient, profile=profile, probe=probe
    )
