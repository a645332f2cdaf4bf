"""Finding 2: the split of a templated ``sendFrom``/``replyTo`` into name and address took
quadratic time (a regex), holding the GIL: a 150 KB ValidateConfig, with no flag and no
token needed, took 18 s and health checks failed meanwhile."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from tests.adversarial.conftest import Target, assert_responsive, health_status

# Below max_request_bytes (1 MiB), as a real attacker's would be; quadratic, this took minutes.
BLANKS = 300_000


@pytest.mark.parametrize("field", ["sendFrom", "replyTo"])
def test_a_long_blank_run_in_a_mailbox_is_split_in_linear_time(target: Target, field: str) -> None:
    template = {
        "usageType": "Generic",
        "subject": "s",
        "content": "c",
        "contentType": "text/plain",
        field: "{{a}}" + " " * BLANKS + "x",
    }
    config = target.inline(templates=[template])
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        validation = pool.submit(target.client.validate_config, config, timeout=20)
        # Health answers while the validation runs (and the validation is quick).
        assert health_status(target.address) == "SERVING"
        validation.result()
        assert time.monotonic() - started < 3
    assert_responsive(target)


@pytest.mark.parametrize(
    ("source", "name", "address"),
    [
        ("{{ n }} <{{ a }}>", "{{ n }}", "{{ a }}"),
        ('"{{ n }}" <x@example.com>', "{{ n }}", "x@example.com"),
        ("a <b> <{{ a }}>", "a <b>", "{{ a }}"),
        ("{{ a }}", "", "{{ a }}"),
        ("a <b>c>", "", "a <b>c>"),
    ],
)
def test_the_split_keeps_its_meaning(source: str, name: str, address: str) -> None:
    from smtp_connector.server.domain.templates import split_mailbox

    assert split_mailbox(source) == (name, address)
