"""Check the config, then send codes to several recipients at once with the asyncio client.

python examples/python/send_async.py [HOST:PORT] RECIPIENT...
"""

from __future__ import annotations

import asyncio
import sys

from smtp_connector.client import AsyncSmtpConnectorClient, SmtpConnectorError


async def main(target: str, recipients: list[str]) -> int:
    """Send one code per recipient concurrently; returns how many failed."""
    async with AsyncSmtpConnectorClient(target, timeout=30) as client:
        report = await client.test_connection()
        print("SMTP server reachable" if report.ok else f"SMTP test failed: {report.steps[-1]}")
        sends = [
            client.send_message(
                to,
                "Register",
                {"code": f"{n:06d}", "application": {"name": "Acme"}},
                idempotency_key=f"register-{to}",
            )
            for n, to in enumerate(recipients, start=1)
        ]
        results = await asyncio.gather(*sends, return_exceptions=True)
    failures = 0
    for to, result in zip(recipients, results, strict=True):
        if isinstance(result, SmtpConnectorError):
            failures += 1
            print(f"{to}: {result.reason}: {result.message}")
        elif isinstance(result, BaseException):
            raise result
        else:
            print(f"{to}: sent {result.message_id} ({result.smtp_code})")
    return failures


if __name__ == "__main__":
    target, *recipients = sys.argv[1:] or ["127.0.0.1:50051", "user@example.com"]
    sys.exit(asyncio.run(main(target, recipients or ["user@example.com"])))
