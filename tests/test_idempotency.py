"""Idempotency keys through a real gRPC server and a real SMTP server, with each store: in
memory, a SQLite file, and a real redis-server shared by replicas."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.errors import (
    DeadlineExceededError,
    DeliveryUnknownError,
    IdempotencyKeyReusedError,
    InvalidRequestError,
    ServiceUnavailableError,
    SmtpUnavailableError,
)
from smtp_connector.server.app import build_service
from smtp_connector.server.deadline import Deadline
from smtp_connector.server.errors import DeliveryUnknown
from smtp_connector.server.idempotency import (
    Idempotency,
    IdempotencyStore,
    Record,
    State,
)
from smtp_connector.server.idempotency.memory_store import MemoryStore
from smtp_connector.server.idempotency.redis_store import PREFIX, RedisStore
from smtp_connector.server.idempotency.sqlite_store import SqliteStore
from smtp_connector.server.settings import Settings

from tests.support.redis_server import RedisServer
from tests.support.service import ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer, free_port

PAYLOAD = {"code": "424242", "application": {"name": "Idempotent"}}
STORES = ["memory", "sqlite", "redis"]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for this module, on a free loopback port."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def store_settings(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer
) -> dict[str, Any]:
    """Settings for the store named by the test's parameter (memory by default)."""
    kind = getattr(request, "param", "memory")
    if kind == "redis":
        with redis.Redis.from_url(redis_server.url) as connection:
            connection.flushall()
        return {"idempotency_store": "redis", "idempotency_redis_url": redis_server.url}
    if kind == "sqlite":
        return {"idempotency_store": "sqlite", "idempotency_sqlite_path": tmp_path / "keys.db"}
    return {}


Replica = Callable[..., SmtpConnectorClient]


@pytest.fixture
def replica(start_service: ServerFactory, store_settings: dict[str, Any]) -> Replica:
    """Starts a server (a replica) with the store's settings and returns a client of it;
    each call starts another replica sharing the same store."""

    def start(config: dict[str, Any], **overrides: Any) -> SmtpConnectorClient:
        return start_service(config, workers=16, **{**store_settings, **overrides})

    return start


def send(client: SmtpConnectorClient, key: str, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"payload": PAYLOAD, **kwargs}
    payload = options.pop("payload")
    return client.send_message(
        "user@example.com", "Register", payload, idempotency_key=key, **options
    )


def slow_data(smtp_server: SmtpServer, seconds: float) -> None:
    smtp_server.handler.on_data = lambda server: time.sleep(seconds)


@pytest.mark.parametrize("store_settings", STORES, indirect=True)
def test_repeat_gets_the_first_response_without_sending(
    smtp_server: SmtpServer, replica: Replica
) -> None:
    client = replica(make_config(smtp_server.port))
    first = send(client, "order-1")
    for _ in range(3):
        assert send(client, "order-1") == first
    assert len(smtp_server.received) == 1
    assert smtp_server.connections == 1
    # Another key is another message.
    assert send(client, "order-2").message_id != first.message_id
    assert len(smtp_server.received) == 2


@pytest.mark.parametrize("store_settings", STORES, indirect=True)
def test_concurrent_duplicates_send_once(smtp_server: SmtpServer, replica: Replica) -> None:
    slow_data(smtp_server, 0.3)  # the first call is still sending when the others arrive
    client = replica(make_config(smtp_server.port))
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda _: send(client, "burst"), range(12)))
    assert len({response.message_id for response in responses}) == 1
    assert len(smtp_server.received) == 1


@pytest.mark.parametrize("store_settings", STORES, indirect=True)
def test_same_key_for_another_request_is_refused(smtp_server: SmtpServer, replica: Replica) -> None:
    client = replica(make_config(smtp_server.port))
    send(client, "reused")
    changes: list[dict[str, Any]] = [
        {"payload": {**PAYLOAD, "code": "000000"}},
        {"usage_type": "SignIn"},
        {"config_json": json.dumps(make_config(smtp_server.port))},
    ]
    for change in changes:
        with pytest.raises(IdempotencyKeyReusedError) as caught:
            options = {"payload": PAYLOAD, "usage_type": "Register", **change}
            client.send_message(
                "user@example.com",
                options["usage_type"],
                options["payload"],
                config_json=options.get("config_json", ""),
                idempotency_key="reused",
            )
        error = caught.value
        assert error.code == grpc.StatusCode.FAILED_PRECONDITION
        assert error.reason == "IDEMPOTENCY_KEY_REUSED"
        assert error.delivery == "not_sent"
    with pytest.raises(IdempotencyKeyReusedError):
        client.send_message("other@example.com", "Register", PAYLOAD, idempotency_key="reused")
    assert len(smtp_server.received) == 1


@pytest.mark.parametrize("store_settings", STORES, indirect=True)
@pytest.mark.parametrize(
    ("stage", "reply"), [("DATA", "451 4.3.0 try later"), ("RCPT", "550 5.1.1 no such user")]
)
def test_failures_that_sent_nothing_are_not_stored(
    smtp_server: SmtpServer, replica: Replica, stage: str, reply: str
) -> None:
    # A failure that certainly sent nothing leaves the key free: fix or wait, then retry
    # with the same key.
    client = replica(make_config(smtp_server.port))
    smtp_server.handler.reply_for[stage] = reply
    with pytest.raises(Exception) as caught:
        send(client, "retry-me")
    assert getattr(caught.value, "delivery", None) == "not_sent"
    smtp_server.handler.reply_for.clear()
    response = send(client, "retry-me")
    assert send(client, "retry-me") == response
    assert len(smtp_server.received) == 1


def test_transient_failure_then_success(smtp_server: SmtpServer, replica: Replica) -> None:
    client = replica(make_config(smtp_server.port))
    smtp_server.handler.reply_for["MAIL"] = "421 4.3.2 busy"
    with pytest.raises(SmtpUnavailableError):
        send(client, "busy")
    smtp_server.handler.reply_for.clear()
    send(client, "busy")
    assert len(smtp_server.received) == 1


def test_a_repeat_waiting_past_its_deadline(smtp_server: SmtpServer, replica: Replica) -> None:
    slow_data(smtp_server, 1.5)
    client = replica(make_config(smtp_server.port))
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(send, client, "slow")
        time.sleep(0.3)
        with pytest.raises(DeadlineExceededError) as caught:
            send(client, "slow", timeout=0.5)
        # The first call may still deliver: the outcome is unknown, and the same key tells.
        assert caught.value.delivery == "unknown"
        response = first.result()
    assert send(client, "slow") == response
    assert len(smtp_server.received) == 1


@pytest.mark.parametrize("store_settings", STORES, indirect=True)
def test_keys_expire_after_their_ttl(smtp_server: SmtpServer, replica: Replica) -> None:
    client = replica(make_config(smtp_server.port), idempotency_ttl=0.3)
    first = send(client, "short-lived")
    assert send(client, "short-lived") == first
    time.sleep(0.5)
    assert send(client, "short-lived").message_id != first.message_id
    assert len(smtp_server.received) == 2


def test_key_too_long(smtp_server: SmtpServer, replica: Replica) -> None:
    client = replica(make_config(smtp_server.port))
    with pytest.raises(InvalidRequestError) as caught:
        send(client, "k" * 257)
    assert caught.value.field_violations[0].field == "idempotency_key"
    assert smtp_server.received == []


@pytest.mark.parametrize("store_settings", ["sqlite"], indirect=True)
def test_sqlite_keys_survive_a_restart(smtp_server: SmtpServer, replica: Replica) -> None:
    before = replica(make_config(smtp_server.port))
    first = send(before, "durable")
    after = replica(make_config(smtp_server.port))  # a new server on the same file
    assert send(after, "durable") == first
    assert len(smtp_server.received) == 1


@pytest.mark.parametrize("store_settings", ["redis"], indirect=True)
def test_redis_keys_are_shared_by_replicas(smtp_server: SmtpServer, replica: Replica) -> None:
    slow_data(smtp_server, 0.3)
    replicas = [replica(make_config(smtp_server.port)) for _ in range(3)]
    first = send(replicas[0], "shared")
    assert send(replicas[1], "shared") == first
    with ThreadPoolExecutor(9) as pool:
        responses = list(pool.map(lambda i: send(replicas[i % 3], "shared-burst"), range(9)))
    assert len({response.message_id for response in responses}) == 1
    assert len(smtp_server.received) == 2


@pytest.mark.parametrize("store_settings", ["sqlite", "redis"], indirect=True)
def test_the_store_holds_no_secret(
    tmp_path: Path, store_settings: dict[str, Any], redis_server: RedisServer, replica: Replica
) -> None:
    password, code = "pa55-W0RD-never-stored", "918273645"
    with SmtpServer(users={"mailer": password}) as server:
        client = replica(make_config(server.port), **inline_on_loopback(server.port))
        config = make_config(server.port, username="mailer", password=password)
        client.send_message(
            "user@example.com",
            "Register",
            {**PAYLOAD, "code": code},
            config_json=json.dumps(config),
            idempotency_key="secret-key-name",
        )
        assert len(server.received) == 1
    if store_settings["idempotency_store"] == "sqlite":
        stored = b"".join(path.read_bytes() for path in tmp_path.glob("keys.db*"))
    else:
        with redis.Redis.from_url(redis_server.url) as connection:
            names = connection.keys(PREFIX + "*")
            stored = b"".join(names) + b"".join(connection.get(name) or b"" for name in names)
    assert stored
    for secret in (password, code, "secret-key-name"):
        assert secret.encode() not in stored


def test_redis_down_sends_nothing(smtp_server: SmtpServer, replica: Replica) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client = replica(
        make_config(smtp_server.port), idempotency_store="redis", idempotency_redis_url=url
    )
    with pytest.raises(ServiceUnavailableError) as caught:
        send(client, "no-store")
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    assert caught.value.reason == "IDEMPOTENCY_STORE_UNAVAILABLE"
    assert caught.value.delivery == "not_sent"
    assert smtp_server.received == []
    # Without a key, sending does not need the store.
    client.send_message("user@example.com", "Register", PAYLOAD)
    assert len(smtp_server.received) == 1


# -- the stores themselves ---------------------------------------------------------------


@pytest.fixture(params=STORES)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer
) -> Iterator[IdempotencyStore]:
    made: IdempotencyStore
    if request.param == "redis":
        made = RedisStore(redis_server.url)
    elif request.param == "sqlite":
        made = SqliteStore(tmp_path / "keys.db")
    else:
        made = MemoryStore()
    yield made
    made.close()


def unique(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


def test_store_claim_finish_release(store: IdempotencyStore) -> None:
    key = unique("k")
    pending = Record("fp", State.PENDING, "token-1", time.time() + 60)
    assert store.claim(key, pending, 60) is None
    assert store.claim(key, Record("fp", State.PENDING, "token-2", 0), 60) == pending
    store.release(key, "token-2")  # not its claim: nothing happens
    assert store.claim(key, pending, 60) == pending
    store.release(key, "token-1")
    assert store.claim(key, pending, 60) is None
    sent = Record("fp", State.SENT, body=b"\x00response\xff")
    store.finish(key, "token-1", sent, 60)
    assert store.claim(key, pending, 60) == sent
    store.release(key, "token-1")  # a finished record is never released
    assert store.claim(key, pending, 60) == sent


def test_store_records_expire(store: IdempotencyStore) -> None:
    key = unique("e")
    pending = Record("fp", State.PENDING, "t", time.time() + 60)
    assert store.claim(key, pending, 60) is None
    store.finish(key, "t", Record("fp", State.SENT, body=b"r"), 0.2)
    time.sleep(0.3)
    assert store.claim(key, pending, 60) is None


def test_memory_store_is_bounded() -> None:
    store = MemoryStore(max_keys=3)
    for index in range(10):
        store.claim(f"k{index}", Record("fp", State.SENT), 60)
    assert len(store) == 3
    assert store.claim("k9", Record("other", State.SENT), 60) == Record("fp", State.SENT)
    assert store.claim("k0", Record("new", State.SENT), 60) is None  # evicted long ago


def test_a_claim_past_its_lease_is_an_unknown_outcome() -> None:
    # A pending claim whose lease ran out belongs to a call that died mid-send (its server
    # stopped): it may have delivered, so the repeat reports that instead of sending again.
    store = MemoryStore()
    idempotency = Idempotency(store, ttl=60, lease=60)
    key = hashlib.sha256(b"orphan").hexdigest()
    store.claim(key, Record("fp", State.PENDING, "dead", time.time() - 1), 60)
    sent = threading.Event()

    def never() -> bytes:
        sent.set()
        return b""

    with pytest.raises(DeliveryUnknown):
        idempotency.run("orphan", "fp", Deadline.after(1), never)
    assert not sent.is_set()


@pytest.mark.parametrize("store_settings", ["sqlite"], indirect=True)
@pytest.mark.parametrize("grace", [3.0, 0.3], ids=["within-grace", "cut-off"])
def test_shutdown_in_the_middle_of_a_send(
    smtp_server: SmtpServer,
    replica: Replica,
    store_settings: dict[str, Any],
    tmp_path: Path,
    grace: float,
) -> None:
    # The server drains (as on SIGTERM) while a keyed send is in flight. Within the grace
    # period the send finishes and answers OK; cut off, its caller learns nothing (no
    # ErrorInfo: delivery unknown) and the key records the unknown outcome. Either way a
    # retry with the same key on the restarted server never sends a second copy.
    slow_data(smtp_server, 1.0)
    config = tmp_path / "stopping.json"
    config.write_text(json.dumps(make_config(smtp_server.port)), encoding="utf-8")
    settings = Settings(address="127.0.0.1:0", config=config, **store_settings)
    service = build_service(settings)
    service.server.start()
    with (
        SmtpConnectorClient(f"127.0.0.1:{service.port}", timeout=10) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        call = pool.submit(send, client, "in-flight")
        time.sleep(0.3)
        service.drain(grace)
        if grace > 1:
            first = call.result()
        else:
            with pytest.raises(ServiceUnavailableError) as caught:
                call.result()
            assert caught.value.delivery == "unknown"
    restarted = replica(make_config(smtp_server.port))
    if grace > 1:
        assert send(restarted, "in-flight") == first
    else:
        with pytest.raises(DeliveryUnknownError) as replayed:
            send(restarted, "in-flight")
        assert "shut down" in replayed.value.message
    time.sleep(1.0)  # a cut-off send's thread goes on here (a real server exits instead)
    assert len(smtp_server.received) == 1
