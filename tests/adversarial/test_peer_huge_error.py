"""Finding 12: an error travels in gRPC's trailers (grpc-message, and the Status with its
ErrorInfo in grpc-status-details-bin), and a client refuses trailers over its metadata limit
(8 KiB soft, 16 KiB hard by default). An SMTP refusal of 20 KB, or an inline config with
thousands of bad fields, reached the caller as RESOURCE_EXHAUSTED with no ErrorInfo. Every
error must arrive whole: its own code, one ErrorInfo, the message and details bounded."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import pytest
from google.protobuf import struct_pb2
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.errors import SmtpConnectorError
from smtp_connector.v1 import smtp_connector_pb2 as pb
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from tests.support.attack import assert_responsive
from tests.support.hostile import Tally, hostile_server, replies_with
from tests.support.service import in_process_service, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer

# A client's default soft limit on a metadata batch (gRPC core's GRPC_ARG_MAX_METADATA_SIZE):
# over it, calls start failing at random.
SOFT_METADATA_LIMIT = 8 * 1024


@pytest.fixture
def target(smtp_server: SmtpServer, tmp_path: Path) -> Iterator[tuple[str, SmtpConnectorClient]]:
    config, settings = make_config(smtp_server.port), inline_on_loopback()
    with in_process_service(tmp_path, config, max_request_bytes=8 << 20, **settings) as service:
        address = f"127.0.0.1:{service.port}"
        with SmtpConnectorClient(address, timeout=20, retry=None) as client:
            yield address, client


def huge_refusal(text: str, lines: int) -> bytes:
    """A multi-line 550 of ``lines`` lines of ``text``, within the reply budgets."""
    body = b"".join(f"550-5.7.1 {text}\r\n".encode() for _ in range(lines - 1))
    return body + b"550 5.7.1 refused\r\n"


def raw_send(address: str, config: dict[str, Any]) -> grpc.RpcError:
    """SendMessage on a plain channel with gRPC's default limits; the error it ends with."""
    payload = struct_pb2.Struct()
    payload.update({"code": "1"})
    request = pb.SendMessageRequest(
        to="user@example.com", usage_type="Generic", payload=payload, config_json=json.dumps(config)
    )
    with grpc.insecure_channel(address) as channel:
        stub: Any = pb_grpc.SmtpConnectorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.SendMessage(request, timeout=20)
    return raised.value


def trailer_bytes(error: grpc.RpcError) -> int:
    """What the error's trailers weigh on the wire: grpc-message percent-encoded, the Status
    base64-encoded (as gRPC sends them), and the rest."""
    call: Any = error
    size = len(quote(call.details() or "", safe=""))
    for key, value in call.trailing_metadata() or ():
        raw = value if isinstance(value, bytes) else value.encode()
        size += len(key) + (len(base64.b64encode(raw)) if key.endswith("-bin") else len(raw))
    return size


@pytest.mark.parametrize(
    "text",
    ["Message rejected: " + "x" * 380, "您的邮件被拒绝因为发件人未通过验证。" * 20],
    ids=["ascii", "chinese"],
)
def test_a_huge_smtp_refusal_arrives_as_an_error_with_its_error_info(
    target: tuple[str, SmtpConnectorClient], smtp_server: SmtpServer, text: str
) -> None:
    address, client = target
    refusal = huge_refusal(text, lines=50)
    assert len(refusal) > 16 * 1024
    tally = Tally()
    behaviour = replies_with(
        tally, lambda line: refusal if line.upper().startswith(b"MAIL") else None
    )
    with hostile_server(behaviour) as peer:
        error = raw_send(address, make_config(peer.port))
        with pytest.raises(SmtpConnectorError) as typed:
            client.send_message(
                "user@example.com",
                "Generic",
                {"code": "1"},
                config_json=json.dumps(make_config(peer.port)),
            )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
    assert typed.value.reason == "SMTP_REJECTED"
    assert typed.value.smtp_code == 550 and typed.value.stage == "mail"
    assert typed.value.message.endswith("the message was not sent")
    assert trailer_bytes(error) < SOFT_METADATA_LIMIT
    assert_responsive(address, client, smtp_server)


def test_an_inline_config_with_thousands_of_bad_fields_is_invalid_argument(
    target: tuple[str, SmtpConnectorClient], smtp_server: SmtpServer
) -> None:
    address, client = target
    config = make_config(smtp_server.port, templates=[{"usageType": "Generic"}] * 3000)
    error = raw_send(address, config)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    with pytest.raises(SmtpConnectorError) as typed:
        client.send_message("user@example.com", "Generic", config_json=json.dumps(config))
    assert typed.value.reason == "INVALID_CONFIG"
    # The first violations are named; the rest are counted, not lost silently.
    fields = [v.field for v in typed.value.field_violations]
    assert fields[0] == "templates[0].subject"
    assert "more" in typed.value.field_violations[-1].description
    assert trailer_bytes(error) < SOFT_METADATA_LIMIT
    assert_responsive(address, client, smtp_server)
