"""The guard on inline configs: without it, ``config_json`` would let any caller make the
server connect to any host and port (a port scanner, an open relay, a path to cloud metadata).

Inline configs are refused unless enabled. When enabled, the SMTP host must match an allowed
pattern and the port an allowed port, and every address the host resolves to must be public
(or inside an explicitly allowed network). The check is made on the resolved addresses and
the config handed on connects to the checked address itself, with the original name kept for
TLS (SNI and certificate check): a DNS answer that changes between check and connect (DNS
rebinding) cannot steer the connection elsewhere.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase

from ..errors import PermissionDenied, Reason
from ..settings import setting_default
from ..transport import resolver
from .mailer import LoadedConfig
from .templates import check_template_sizes

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


# How long the guard waits for a name; a stuck resolver refuses the config, never hangs it.
RESOLVE_TIMEOUT = 10.0


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order."""
    try:
        return list(resolver.addresses(host, port, RESOLVE_TIMEOUT))
    except (OSError, UnicodeError):
        return []


def is_public(address: IPAddress) -> bool:
    """Whether an address is globally routable: not private, loopback, link-local (cloud
    metadata such as 169.254.169.254), shared, reserved, unspecified or multicast."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class InlineGuard:
    """Admits inline configs under the server's policy; see the module docstring."""

    def __init__(
        self,
        *,
        enabled: bool,
        host_patterns: Sequence[str] = tuple(setting_default("inline_allowed_hosts")),
        ports: Sequence[int] = tuple(setting_default("inline_allowed_ports")),
        allowed_networks: Sequence[str] = tuple(setting_default("inline_allowed_networks")),
        max_template_bytes: int = setting_default("max_template_bytes"),
        resolver: Resolver = resolve,
    ) -> None:
        self.enabled = enabled
        self._patterns = [pattern.lower() for pattern in host_patterns]
        self._ports = frozenset(ports)
        self._networks = [ipaddress.ip_network(net, strict=False) for net in allowed_networks]
        self._max_template_bytes = max_template_bytes
        self._resolve = resolver

    def admit(self, config_json: str, load: Callable[[str], LoadedConfig]) -> LoadedConfig:
        """The inline config, loaded and pinned to a checked address; raises PermissionDenied
        (INLINE_CONFIG_DISABLED or SMTP_HOST_NOT_ALLOWED) or the loader's errors."""
        if not self.enabled:
            raise PermissionDenied(
                "this server does not accept config_json (inline configs are disabled): start "
                "it with --allow-inline-config (SMTP_CONNECTOR_ALLOW_INLINE_CONFIG=true), or "
                "use the server's config; the message was not sent",
                reason=Reason.INLINE_CONFIG_DISABLED,
            )
        loaded = load(config_json)
        check_template_sizes(loaded.config, self._max_template_bytes)
        address = self.check_destination(loaded.connection.host, loaded.connection.port)
        connection = loaded.connection
        pinned = dataclasses.replace(
            connection,
            host=address,
            # TLS must still check the certificate against the name the config gave.
            servername=connection.servername or _name_for_tls(connection.host),
        )
        return dataclasses.replace(loaded, connection=pinned)

    def allowed_ports(self, ports: Sequence[int]) -> tuple[int, ...]:
        """Those of ``ports`` inline configs may use, in order."""
        return tuple(port for port in ports if port in self._ports)

    def check_destination(self, host: str, port: int) -> str:
        """The address to connect to for ``host:port``, once every check passed."""
        name = host.lower().rstrip(".")
        if port not in self._ports:
            raise _not_allowed(
                f"port {port} is not an allowed SMTP port for inline configs: the server's "
                "--inline-allowed-ports (SMTP_CONNECTOR_INLINE_ALLOWED_PORTS) lists them"
            )
        if not any(fnmatchcase(name, pattern) for pattern in self._patterns):
            raise _not_allowed(
                f"SMTP host '{host}' is not allowed for inline configs: the server's "
                "--inline-allowed-hosts (SMTP_CONNECTOR_INLINE_ALLOWED_HOSTS) lists them"
            )
        addresses = self._resolve(name, port)
        if not addresses:
            raise _not_allowed(f"SMTP host '{host}' does not resolve")
        for text in addresses:
            if not self._allowed(ipaddress.ip_address(text.split("%", 1)[0])):
                raise _not_allowed(
                    # The address itself is not told: it would map the internal network.
                    f"SMTP host '{host}' resolves to a private, loopback, link-local or "
                    "otherwise non-public address, which inline configs may reach only inside "
                    "the server's --inline-allowed-networks "
                    "(SMTP_CONNECTOR_INLINE_ALLOWED_NETWORKS)"
                )
        return addresses[0]

    def _allowed(self, address: IPAddress) -> bool:
        if any(address in network for network in self._networks):
            return True
        return is_public(address)


def _name_for_tls(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None


def _not_allowed(why: str) -> PermissionDenied:
    return PermissionDenied(f"{why}; the message was not sent", reason=Reason.SMTP_HOST_NOT_ALLOWED)
