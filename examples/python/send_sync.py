"""Send a sign-in code with the synchronous client and handle failures by their reason.

python examples/python/send_sync.py [HOST:PORT] [RECIPIENT] [CODE]
"""

from __future__ import annotations

import sys

from smtp_connector.client import (
    DeliveryUnknownError,
    InvalidRequestError,
    RecipientRefusedError,
    SmtpConnectorClient,
    SmtpConnectorError,
    SmtpUnavailableError,
)


def main(target: str, to: str, code: str) -> int:
    """Send one message; the exit status says how it went."""
    with SmtpConnectorClient(target, timeout=30) as client:
        try:
            sent = client.send_message(
                to,
                "SignIn",
                {"code": code, "application": {"name": "Acme"}},
                # With a key, the client retries UNAVAILABLE and the message goes out once.
                idempotency_key=f"sign-in-{to}-{code}",
            )
        except RecipientRefusedError as exc:
            print(f"the provider refused {to} ({exc.smtp_code}): {exc.message}")
            return 1
        except InvalidRequestError as exc:
            for violation in exc.field_violations:
                print(f"fix {violation.field}: {violation.description}")
            return 1
        except SmtpUnavailableError as exc:
            print(f"not sent; try again in {exc.retry_delay or 60:.0f} s: {exc.message}")
            return 1
        except DeliveryUnknownError as exc:
            print(f"may have been sent, do not resend blindly: {exc.message}")
            return 1
        except SmtpConnectorError as exc:
            print(f"failed: {exc.reason or exc.code.name}: {exc.message}")
            return 1
    print(f"sent {sent.message_id}: {sent.smtp_code} {sent.smtp_reply}")
    return 0


if __name__ == "__main__":
    args = [*sys.argv[1:], "127.0.0.1:50051", "user@example.com", "123456"][:3]
    sys.exit(main(*args))
