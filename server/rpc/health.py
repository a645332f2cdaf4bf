"""The standard grpc.health.v1 service: SERVING while a valid config is loaded and the server
is not draining, NOT_SERVING otherwise; for the whole server (""), for our service (its
default profile) and for each profile (``smtp_connector.v1.SmtpConnectorService/<profile>``)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from smtp_connector.v1 import smtp_connector_pb2 as pb

from ..domain.profiles import Profiles, profile_statuses

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SmtpConnectorService"].full_name
OVERALL = ""
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def profile_service(name: str) -> str:
    """The health service name of one profile."""
    return f"{SERVICE_NAME}/{name}"


class Health:
    """The health service and the one place its statuses are set."""

    def __init__(self) -> None:
        self.servicer = health.HealthServicer()
        self._profile_names: set[str] = set()
        self.show(None)

    def add_to(self, server: grpc.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    def show(self, profiles: Profiles | None) -> None:
        """The statuses for the config now loaded (None: none); a profile that a reload
        removed turns NOT_SERVING. Ignored once draining has begun."""
        overall = _SERVING if profiles is not None else _NOT_SERVING
        for name in (OVERALL, SERVICE_NAME):
            self.servicer.set(name, overall)
        current = set()
        for status in profile_statuses(profiles) if profiles is not None else ():
            current.add(status.name)
            self.servicer.set(
                profile_service(status.name), _SERVING if status.serving else _NOT_SERVING
            )
        for gone in self._profile_names - current:
            self.servicer.set(profile_service(gone), _NOT_SERVING)
        self._profile_names = current

    def drain(self) -> None:
        """NOT_SERVING for good: the server is shutting down."""
        self.servicer.enter_graceful_shutdown()
