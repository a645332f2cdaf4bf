"""Finding 4: a template from a caller's inline config may not take unbounded CPU, memory or
output, nor keep a worker after its caller left. Each attack is a real inline send through
the real server; the render stops inside its budget (docs/security.md)."""

from __future__ import annotations

import concurrent.futures
import resource
import time
from typing import Any

import pytest
from smtp_connector.client.errors import SmtpConnectorError

from tests.adversarial.conftest import Target, TargetFactory, assert_responsive

PAYLOAD = {"code": "123456", "application": {"name": "A"}}
# The attacks are on the Jinja2 engine (the Logto engine's own test is further down).
JINJA2 = {
    "usageType": "Generic",
    "subject": "s",
    "contentType": "text/plain",
    "templateEngine": "jinja2",
}
MB = 1 << 20
# What the attacks may add to the test process's peak memory (they used to take gigabytes).
PEAK_GROWTH_BYTES = 400 * MB

ATTACKS = {
    "center": "{{ 'a'|center(1000000000) }}",
    "join-of-a-product": "{{ (['a' * 1000000] * 100)|join }}",
    "doubling-by-set": "{% set a = 'a' * 1000000 %}"
    + "{% set a = a ~ a %}" * 30
    + "{{ a|length }}",
    "many-operands": "{% set a = 'a' * 1000000 %}{{ " + " ~ ".join(["a"] * 200) + " }}",
    "ljust-method": "{{ 'a'.ljust(1000000000) }}",
    "percent-width": "{{ '%1000000000d' % 1 }}",
    "format-method": "{{ '{:>1000000000}'.format(1) }}",
    "format-filter": "{{ '%.1000000000f'|format(1.5) }}",
    "indent": "{{ ('\\n' * 100000)|indent(100000) }}",
    "wordwrap": "{{ ('a ' * 100000)|wordwrap(1, wrapstring='b' * 100000) }}",
    "replace": "{{ ('a' * 100000)|replace('a', 'b' * 100000) }}",
    "int-squaring": "{% set n = 2 ** 4000 %}" + "{% set n = n * n %}" * 30 + "{{ n > 0 }}",
    "string-of-a-list": "{{ (['a' * 1000000] * 1000)|string|length }}",
    "output-in-loops": "{% for i in range(100000) %}{% for j in range(100000) %}"
    "aaaaaaaaaa{% endfor %}{% endfor %}",
    "set-block-output": "{% set x %}{% for i in range(100000) %}{% for j in range(100000) %}"
    "aaaaaaaaaa{% endfor %}{% endfor %}{% endset %}{{ x|length }}",
    "silent-nested-loops": "{% for i in range(100000) %}{% for j in range(100000) %}"
    "{% endfor %}{% endfor %}",
    "macro-recursion-output": "{% macro m(n) %}{{ 'a' * 1000000 }}{{ m(n) }}{% endmacro %}"
    "{{ m(1) }}",
    "batch-fill": "{{ range(3)|batch(1000000000, 'x')|list|length }}",
}


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _attack(target: Target, template: str, timeout: float = 10) -> SmtpConnectorError:
    config = target.inline(templates=[{**JINJA2, "content": template}])
    with pytest.raises(SmtpConnectorError) as caught:
        target.client.send_message(
            "user@example.com", "Register", PAYLOAD, config_json=config, timeout=timeout
        )
    return caught.value


@pytest.mark.parametrize("template", list(ATTACKS.values()), ids=list(ATTACKS))
def test_a_costly_template_is_refused_within_its_budget(target: Target, template: str) -> None:
    peak = _peak_rss()
    started = time.monotonic()
    error = _attack(target, template)
    elapsed = time.monotonic() - started
    assert error.reason == "TEMPLATE_RENDER_FAILED", str(error)
    assert "budget" in str(error) or "too large" in str(error), str(error)
    assert elapsed < 5, elapsed  # the render budget is 1 s; no attack runs past it for long
    assert _peak_rss() - peak < PEAK_GROWTH_BYTES
    assert not target.smtp.received
    assert_responsive(target)


def test_renders_stop_with_their_callers_and_free_every_worker(
    start_target: TargetFactory,
) -> None:
    # A long budget, so that only the callers' deadlines can stop the renders.
    target = start_target(workers=4, max_render_seconds=30)
    spin = ATTACKS["silent-nested-loops"]

    def attack(_: Any) -> str:
        return _attack(target, spin, timeout=1.0).code.name

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attack, range(4)))
    assert outcomes == ["DEADLINE_EXCEEDED"] * 4
    # Every worker is free again as soon as the callers have left.
    assert_responsive(target)
    assert time.monotonic() - started < 4


def test_a_template_within_budget_still_renders_loops_and_filters(target: Target) -> None:
    template = (
        "{% for i in range(3) %}{{ i }}{% endfor %} {{ code|center(10) }} "
        "{{ ['x', 'y']|join('-') }} {{ '%05d' % 42 }} {{ '{:>4}'.format(code[:2]) }}"
        " {{ application.name ~ '!' }}"
    )
    config = target.inline(templates=[{**JINJA2, "content": template}])
    target.client.send_message("user@example.com", "Register", PAYLOAD, config_json=config)
    body = target.smtp.received[-1].message.get_content()
    assert body.strip() == "012   123456   x-y 00042   12 A!"


def test_a_logto_template_repeating_a_value_is_refused_within_its_budget(target: Target) -> None:
    # Logto's engine has no loops, but 7,000 placeholders of one 500 KB value would build
    # 3.5 GB: the output counts against the same budget, during the render.
    template = {**JINJA2, "templateEngine": "logto", "content": "{{code}}" * 7_000}
    config = target.inline(templates=[template])
    payload = {**PAYLOAD, "code": "a" * 500_000}
    peak = _peak_rss()
    with pytest.raises(SmtpConnectorError) as caught:
        target.client.send_message(
            "user@example.com", "Register", payload, config_json=config, timeout=10
        )
    assert caught.value.reason == "TEMPLATE_RENDER_FAILED", str(caught.value)
    assert "budget" in str(caught.value), str(caught.value)
    assert _peak_rss() - peak < PEAK_GROWTH_BYTES
    assert not target.smtp.received
    # The same template with a short value renders whole.
    target.client.send_message("user@example.com", "Register", PAYLOAD, config_json=config)
    assert target.smtp.received[-1].message.get_content().strip() == "123456" * 7_000
    assert_responsive(target)
