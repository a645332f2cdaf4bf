"""Channel settings against the real servicer behind TLS (throwaway certificates from
trustme): server-verified TLS, mutual TLS, and the bearer token as call credentials."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from smtp_connector.client import (
    AsyncSmtpConnectorClient,
    ServiceUnavailableError,
    SmtpConnectorClient,
    Tls,
    cli,
)
from smtp_connector.client._channel import ChannelSettings
from smtp_connector.server.domain.mailer import Mailer
from smtp_connector.server.rpc.servicer import SmtpConnectorServicer
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from tests.support.node import ROOT, run_node

TOKEN = "s3cret-token"
FLAG_FILES = {"--ca": "ca.pem", "--cert": "cert.pem", "--key": "key.pem", "--token-file": "token"}


class RecordingInterceptor(grpc.ServerInterceptor):
    """Keeps the metadata of every call, as an authenticating server would see it."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        pairs: Any = handler_call_details.invocation_metadata
        self.metadata.append({key: str(value) for key, value in pairs})
        return continuation(handler_call_details)


@dataclass
class Service:
    """The real servicer on a loopback port, with the metadata it received."""

    target: str
    interceptor: RecordingInterceptor
    ca: trustme.CA = field(repr=False)

    def client_tls(self, *, mutual: bool = False) -> Tls:
        """TLS that trusts the test CA, with a client certificate when ``mutual``."""
        if not mutual:
            return Tls(root_certificates=self.ca.cert_pem.bytes())
        cert = self.ca.issue_cert("client.example")
        return Tls(
            root_certificates=self.ca.cert_pem.bytes(),
            certificate_chain=b"".join(pem.bytes() for pem in cert.cert_chain_pems),
            private_key=cert.private_key_pem.bytes(),
        )

    @property
    def tokens(self) -> list[str]:
        """The authorization header of every call received."""
        return [call.get("authorization", "") for call in self.metadata]

    @property
    def metadata(self) -> list[dict[str, str]]:
        return self.interceptor.metadata


StartService = Callable[..., Service]


def write_client_files(ca: trustme.CA, folder: Path) -> dict[str, Path]:
    """PEM files of the CA and of a client certificate it issued, and a token file: what a
    caller keeps on disk."""
    cert = ca.issue_cert("client.example")
    files = {name: folder / name for name in ("ca.pem", "cert.pem", "key.pem", "token")}
    ca.cert_pem.write_to_path(str(files["ca.pem"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert.pem"]))
    cert.private_key_pem.write_to_path(str(files["key.pem"]))
    files["token"].write_text(TOKEN + "\n", encoding="utf-8")
    return files


@pytest.fixture
def start_tls_service() -> Iterator[StartService]:
    """Starts the servicer on 127.0.0.1:0: TLS (``mutual`` requires a client certificate
    from the same CA) or plaintext (``tls=False``)."""
    stops: list[Callable[[], None]] = []

    def start(*, tls: bool = True, mutual: bool = False) -> Service:
        ca = trustme.CA()
        interceptor = RecordingInterceptor()
        mailer = Mailer()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[interceptor])
        pb_grpc.add_SmtpConnectorServiceServicer_to_server(
            SmtpConnectorServicer(mailer, None), server
        )
        if tls:
            cert = ca.issue_cert("localhost", "127.0.0.1")
            chain = b"".join(pem.bytes() for pem in cert.cert_chain_pems)
            credentials = grpc.ssl_server_credentials(
                [(cert.private_key_pem.bytes(), chain)],
                root_certificates=ca.cert_pem.bytes() if mutual else None,
                require_client_auth=mutual,
            )
            port = server.add_secure_port("127.0.0.1:0", credentials)
        else:
            port = server.add_insecure_port("127.0.0.1:0")
        server.start()

        def stop() -> None:
            server.stop(None)
            mailer.close()

        stops.append(stop)
        return Service(f"127.0.0.1:{port}", interceptor, ca)

    yield start
    for stop in stops:
        stop()


def test_tls_with_bearer_token(start_tls_service: StartService) -> None:
    service = start_tls_service()
    with SmtpConnectorClient(
        service.target, timeout=10, tls=service.client_tls(), token=TOKEN
    ) as client:
        assert not client.validate_config("{}").valid
    assert service.tokens == [f"Bearer {TOKEN}"]


def test_tls_server_name_override(start_tls_service: StartService) -> None:
    service = start_tls_service()
    tls = Tls(root_certificates=service.ca.cert_pem.bytes(), server_name="localhost")
    with SmtpConnectorClient(service.target, timeout=10, tls=tls) as client:
        client.validate_config("{}")
    assert service.tokens == [""]


def test_tls_refuses_an_untrusted_server(start_tls_service: StartService) -> None:
    service = start_tls_service()
    other_ca = trustme.CA()
    tls = Tls(root_certificates=other_ca.cert_pem.bytes())
    with (
        SmtpConnectorClient(service.target, timeout=3, tls=tls, token=TOKEN) as client,
        pytest.raises(ServiceUnavailableError),
    ):
        client.validate_config("{}")
    assert service.metadata == []  # the token never left the client


def test_mutual_tls_needs_the_client_certificate(start_tls_service: StartService) -> None:
    service = start_tls_service(mutual=True)
    with (
        SmtpConnectorClient(service.target, timeout=3, tls=service.client_tls()) as client,
        pytest.raises(ServiceUnavailableError),
    ):
        client.validate_config("{}")
    tls = service.client_tls(mutual=True)
    with SmtpConnectorClient(service.target, timeout=10, tls=tls, token=TOKEN) as client:
        client.validate_config("{}")
    assert service.tokens == [f"Bearer {TOKEN}"]


def test_token_without_tls_goes_to_loopback_only(start_tls_service: StartService) -> None:
    service = start_tls_service(tls=False)
    with SmtpConnectorClient(service.target, timeout=10, token=TOKEN) as client:
        client.validate_config("{}")
    assert service.tokens == [f"Bearer {TOKEN}"]


def test_async_client_with_mutual_tls_and_token(start_tls_service: StartService) -> None:
    service = start_tls_service(mutual=True)
    tls = service.client_tls(mutual=True)

    async def call() -> bool:
        async with AsyncSmtpConnectorClient(
            service.target, timeout=10, tls=tls, token=TOKEN
        ) as client:
            response = await client.validate_config("{}")
            return response.valid

    assert asyncio.run(call()) is False
    assert service.tokens == [f"Bearer {TOKEN}"]


def test_tls_from_files(tmp_path: Path) -> None:
    ca = trustme.CA()
    files = write_client_files(ca, tmp_path)
    tls = Tls.from_files(files["ca.pem"], files["cert.pem"], files["key.pem"])
    assert tls.root_certificates == ca.cert_pem.bytes()
    assert tls.private_key == files["key.pem"].read_bytes()


def test_half_a_client_certificate_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        Tls(certificate_chain=b"cert").credentials()


def test_secrets_stay_out_of_reprs() -> None:
    settings = ChannelSettings(
        "127.0.0.1:1", tls=Tls(private_key=b"PRIVATE-KEY-BYTES"), token=TOKEN
    )
    assert TOKEN not in repr(settings)
    assert "PRIVATE-KEY-BYTES" not in repr(settings)


def test_cli_over_mutual_tls_with_a_token_file(
    start_tls_service: StartService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = start_tls_service(mutual=True)
    files = write_client_files(service.ca, tmp_path)
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    flags = [part for flag, name in FLAG_FILES.items() for part in (flag, str(files[name]))]
    status = cli.main(
        ["validate", str(tmp_path / "config.json"), "--target", service.target, *flags]
    )
    assert status == 1  # reached the server: "{}" is not a valid config
    assert "config is invalid" in capsys.readouterr().out
    assert service.tokens == [f"Bearer {TOKEN}"]


def test_node_over_mutual_tls_with_a_token(start_tls_service: StartService, tmp_path: Path) -> None:
    service = start_tls_service(mutual=True)
    files = [str(path) for path in write_client_files(service.ca, tmp_path).values()]
    done = run_node(ROOT / "tests" / "node" / "secure_call.js", service.target, *files)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"valid": False}
    assert service.tokens == [f"Bearer {TOKEN}"]
