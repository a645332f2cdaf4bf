"""An idempotency store in Redis, shared by every replica of the service."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from ..errors import IdempotencyStoreUnavailable
from .store import Record, State

_T = TypeVar("_T")
PREFIX = "smtp-connector:idempotency:"

# Replace or delete a record only while it is still our claim (compare-and-set in one step).
_FINISH = """
local found = redis.call('GET', KEYS[1])
if found and cjson.decode(found)['t'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
_RELEASE = """
local found = redis.call('GET', KEYS[1])
if found then
  local record = cjson.decode(found)
  if record['t'] == ARGV[1] and record['s'] == 'pending' then
    return redis.call('DEL', KEYS[1])
  end
end
return 0
"""


class RedisStore:
    """Each key is one Redis string (a small JSON record) that expires with its TTL. A claim
    is ``SET NX``; finishing and releasing are Lua scripts that check the claim's token."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._finish = self._redis.register_script(_FINISH)
        self._release = self._redis.register_script(_RELEASE)

    def claim(self, key: str, record: Record, ttl: float) -> Record | None:
        name = PREFIX + key
        while True:
            if self._call(lambda: self._redis.set(name, _encode(record), nx=True, px=_ms(ttl))):
                return None
            found = self._call(lambda: self._redis.get(name))
            if found is not None:
                return _decode(found)
            # It expired between the two commands: try to claim it again.

    def finish(self, key: str, token: str, record: Record, ttl: float) -> None:
        self._call(
            lambda: self._finish(keys=[PREFIX + key], args=[token, _encode(record), _ms(ttl)])
        )

    def release(self, key: str, token: str) -> None:
        self._call(lambda: self._release(keys=[PREFIX + key], args=[token]))

    def wait(self, key: str, timeout: float) -> None:
        time.sleep(timeout)

    def close(self) -> None:
        self._redis.close()

    @staticmethod
    def _call(command: Callable[[], _T]) -> _T:
        try:
            return command()
        except redis.RedisError as exc:
            # The message of a connection error names host and port, never the password.
            raise IdempotencyStoreUnavailable(
                f"the idempotency store (Redis) failed: {type(exc).__name__}: {exc}"
            ) from None


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _encode(record: Record) -> str:
    fields: dict[str, Any] = {
        "f": record.fingerprint,
        "s": record.state.value,
        "t": record.token,
        "l": record.lease_until,
        "b": base64.b64encode(record.body).decode("ascii"),
    }
    return json.dumps(fields, separators=(",", ":"))


def _decode(value: bytes | str) -> Record:
    fields = json.loads(value)
    return Record(
        fingerprint=fields["f"],
        state=State(fields["s"]),
        token=fields["t"],
        lease_until=float(fields["l"]),
        body=base64.b64decode(fields["b"]),
    )
