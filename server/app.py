"""Building the gRPC server (``create_server``) and running it until SIGTERM (``serve``)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from types import FrameType

import grpc
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from .devmailbox import DevMailbox
from .mailer import Mailer
from .pool import PoolLimits, transport_factory
from .processes import serve_processes
from .profiles import Profiles, load_profiles
from .servicer import SmtpConnectorServicer
from .settings import Settings, split_address

log = logging.getLogger(__name__)


def load_server_config(settings: Settings) -> Profiles | None:
    """The config file named by the settings (one config, or named profiles), loaded and
    compiled; None when none is named. Raises InvalidConfig (naming every bad field) or
    OSError (the file cannot be read)."""
    if settings.config is None:
        return None
    text = settings.config.read_text(encoding="utf-8")
    return load_profiles(text, password=settings.password_override())


def create_mailer(settings: Settings) -> Mailer:
    """The mailer, pooling SMTP connections as the settings say."""
    limits = PoolLimits(
        max_connections=settings.pool_max_connections,
        max_messages=settings.pool_max_messages,
        idle_timeout=settings.pool_idle_timeout,
        acquire_timeout=settings.pool_acquire_timeout,
    )
    return Mailer(transport_factory(limits, enabled=settings.pool))


def create_server(settings: Settings, *, mailer: Mailer | None = None) -> tuple[grpc.Server, int]:
    """A server bound to ``settings.address`` (port 0 picks a free port), not yet started;
    returns it with the port it bound."""
    servicer = SmtpConnectorServicer(
        mailer or create_mailer(settings), load_server_config(settings)
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.workers),
        # gRPC's default on Linux, stated because `processes` shares the port this way.
        options=[("grpc.so_reuseport", 1)],
    )
    pb_grpc.add_SmtpConnectorServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port(settings.address)
    if port == 0:
        raise OSError(f"cannot listen on {settings.address}")
    return server, port


def serve(settings: Settings, *, on_started: Callable[[int], None] | None = None) -> None:
    """Run the server until SIGTERM or SIGINT, then stop gracefully: new RPCs are refused and
    in-flight ones get ``grace_period`` seconds to finish. With ``processes`` > 1, that many
    server processes share the port (server/processes.py). ``on_started`` gets the port."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.processes > 1:
        serve_processes(settings, serve, check=load_server_config)
        return
    # aiosmtpd (the dev mailbox) logs every SMTP line at INFO; keep that for DEBUG.
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("mail.log").setLevel(logging.WARNING)
    mailbox = None
    if settings.dev_mailbox is not None:
        host, port = split_address(settings.dev_mailbox_address)
        mailbox = DevMailbox(settings.dev_mailbox, host, port)
        mailbox.start()
    mailer = create_mailer(settings)
    server, port = create_server(settings, mailer=mailer)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server.start()
    host = settings.address.rpartition(":")[0]
    log.info("smtp-connector listening on %s:%d", host, port)
    if on_started is not None:
        on_started(port)
    stop.wait()
    server.stop(settings.grace_period).wait()
    mailer.close()
    if mailbox is not None:
        mailbox.stop()
    log.info("smtp-connector stopped")
