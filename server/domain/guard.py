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
from urllib.parse import urlsplit

from ..errors import FieldViolation, PermissionDenied, Reason
from ..settings import setting_default
from ..transport import resolver
from ..transport.oauth import OAuth2Credentials
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


# IPv6 prefixes whose last 32 bits are an IPv4 address a gateway or the host's own stack
# may reach: IPv4-compatible (deprecated, RFC 4291), IPv4-translated (RFC 2765), NAT64's
# well-known and local-use prefixes (RFC 6052, RFC 8215).
_EMBEDDING_LAST_32_BITS = tuple(
    ipaddress.IPv6Network(prefix)
    for prefix in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48")
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries, in any of the forms a network may
    translate: mapped, compatible, translated, NAT64, 6to4 (RFC 3056), Teredo (RFC 4380)."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in network for network in _EMBEDDING_LAST_32_BITS):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public(address: IPAddress) -> bool:
    """Whether an address is globally routable: not private, loopback, link-local (cloud
    metadata such as 169.254.169.254), shared, reserved, unspecified or multicast; an IPv6
    address that embeds an IPv4 one (``::127.0.0.1``, ``64:ff9b::7f00:1``...) only when
    that IPv4 address is public too."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # the IPv4 address itself, as far as routing goes
            return is_public(address.ipv4_mapped)
        if not all(is_public(ipv4) for ipv4 in embedded_ipv4(address)):
            return False
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
            oauth2=self._pin_token_endpoint(connection.oauth2),
        )
        return dataclasses.replace(loaded, connection=pinned)

    def _pin_token_endpoint(self, oauth2: OAuth2Credentials | None) -> OAuth2Credentials | None:
        """OAuth2 credentials whose ``accessUrl`` (if any) passed the same address checks as
        the SMTP host, pinned to the checked address. A public endpoint must be HTTPS on
        port 443; only inside an allowed network may it use another port or plain HTTP.
        Credentials that cannot refresh never reach the endpoint, which is not looked up."""
        if oauth2 is None or not oauth2.access_url or not oauth2.refreshable:
            return oauth2
        try:
            url = urlsplit(oauth2.access_url)
            scheme, name, port = url.scheme.lower(), url.hostname or "", url.port
        except ValueError:
            raise _token_url_not_allowed("is not a valid URL") from None
        port = port or (443 if scheme == "https" else 80)
        addresses = self._resolve(name.rstrip("."), port) if name else []
        if not addresses:
            raise _token_url_not_allowed("does not resolve")
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if any(address in network for network in self._networks):
                continue
            if not is_public(address):
                raise _token_url_not_allowed(
                    "resolves to a private, loopback, link-local or otherwise non-public "
                    "address, which inline configs may not reach"
                )
            if scheme != "https" or port != 443:
                raise _token_url_not_allowed("must be https on port 443 in an inline config")
        return dataclasses.replace(oauth2, access_address=addresses[0])

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


def _token_url_not_allowed(why: str) -> PermissionDenied:
    return PermissionDenied(
        f"auth.accessUrl {why}; the message was not sent",
        reason=Reason.SMTP_HOST_NOT_ALLOWED,
        violations=(FieldViolation("auth.accessUrl", why),),
    )


def _not_allowed(why: str) -> PermissionDenied:
    return PermissionDenied(f"{why}; the message was not sent", reason=Reason.SMTP_HOST_NOT_ALLOWED)
