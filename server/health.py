"""The standard grpc.health.v1 service: SERVING while a valid config is loaded and the server
is not draining, NOT_SERVING otherwise; for the whole server ("") and for our service."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from smtp_connector.v1 import smtp_connector_pb2 as pb

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SmtpConnectorService"].full_name
OVERALL = ""


class Health:
    """The health service and the one place its statuses are set."""

    def __init__(self) -> None:
        self.servicer = health.HealthServicer()
        self.set_serving(False)

    def add_to(self, server: grpc.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    def set_serving(self, serving: bool) -> None:
        """SERVING or NOT_SERVING, for the server and the service alike; ignored once
        draining has begun."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in (OVERALL, SERVICE_NAME):
            self.servicer.set(name, status)

    def drain(self) -> None:
        """NOT_SERVING for good: the server is shutting down."""
        self.servicer.enter_graceful_shutdown()
