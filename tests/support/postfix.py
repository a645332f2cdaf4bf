"""A private Postfix instance on a free loopback port: the second, independent SMTP
implementation the tests deliver to. Its config, queue and mailboxes live in a temporary
folder; every message for @example.com lands in one Maildir, where the tests read it back."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path

from tests.support.smtp import free_port

POSTFIX = "/usr/sbin/postfix"
HOSTNAME = "postfix.test"

# The services master.cf needs for SMTP in, virtual delivery out, and logging to a file.
_SERVICES = """\
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
virtual   unix  - n n -  - virtual
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
tlsmgr    unix  - - n 1000? 1 tlsmgr
showq     unix  n - n -  - showq
postlog   unix-dgram n - n - 1 postlogd
"""


def unavailable_reason() -> str | None:
    """Why a private Postfix cannot run here, or None when it can."""
    if not Path(POSTFIX).exists():
        return "Postfix is not installed (scripts/system-deps.d/postfix.sh installs it)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root (its master process starts as root)"
    return None


class PostfixServer:
    """``postfix start`` in a private folder, listening on 127.0.0.1:port; ``stop`` ends it
    and removes the folder."""

    def __init__(self, *, tls: tuple[bytes, bytes] | None = None) -> None:
        """``tls``: the certificate chain and private key (PEM) for STARTTLS."""
        self.port = free_port()
        # Not under pytest's 0700 tmp folders: Postfix's daemons drop to the postfix user and
        # must reach the queue and the mailboxes.
        self.root = Path(tempfile.mkdtemp(prefix="smtp-connector-postfix-"))
        self.root.chmod(0o755)
        self.conf = self.root / "conf"
        self.maildir = self.root / "mail" / "inbox"
        self.log_file = self.root / "maillog"
        self._write_config(tls)

    def _write_config(self, tls: tuple[bytes, bytes] | None) -> None:
        owner = pwd.getpwnam("postfix")
        for folder in ("conf", "queue", "data", "mail"):
            (self.root / folder).mkdir(mode=0o755)
        for folder in ("data", "mail"):
            os.chown(self.root / folder, owner.pw_uid, owner.pw_gid)
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": self.root / "queue",
            "data_directory": self.root / "data",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": HOSTNAME,
            "mydomain": HOSTNAME,
            "myorigin": HOSTNAME,
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "maillog_file": self.log_file,
            "maillog_file_prefixes": self.root,
            "virtual_mailbox_domains": "example.com",
            "virtual_mailbox_base": self.root / "mail",
            "virtual_mailbox_maps": "static:inbox/",
            "virtual_uid_maps": f"static:{owner.pw_uid}",
            "virtual_gid_maps": f"static:{owner.pw_gid}",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "smtputf8_enable": "yes",
        }
        if tls is not None:
            # smtpd reads these as root before it drops privileges.
            cert_file, key_file = self.conf / "cert.pem", self.conf / "key.pem"
            cert_file.write_bytes(tls[0])
            key_file.write_bytes(tls[1])
            key_file.chmod(0o600)
            settings.update(
                smtpd_tls_security_level="may",
                smtpd_tls_cert_file=cert_file,
                smtpd_tls_key_file=key_file,
                smtpd_tls_loglevel="1",
                smtpd_tls_received_header="yes",
            )
        main = "".join(f"{name} = {value}\n" for name, value in settings.items())
        (self.conf / "main.cf").write_text(main, encoding="utf-8")
        listener = f"127.0.0.1:{self.port} inet n - n - - smtpd\n"
        (self.conf / "master.cf").write_text(listener + _SERVICES, encoding="utf-8")

    def _postfix(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [POSTFIX, "-c", str(self.conf), command],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def start(self) -> PostfixServer:
        """Start the instance and wait until it answers on its port."""
        result = self._postfix("start")
        if result.returncode != 0:
            raise RuntimeError(f"postfix start failed: {result.stderr}\n{self.log_tail()}")
        self._wait_until_listening()
        return self

    def _wait_until_listening(self, timeout: float = 15) -> None:
        until = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > until:
                    raise RuntimeError(f"postfix did not listen\n{self.log_tail()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the instance and remove its folder."""
        try:
            self._postfix("stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the instance's log, for failure messages."""
        if not self.log_file.exists():
            return "(no maillog)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def message(self, message_id: str, timeout: float = 15) -> EmailMessage:
        """The delivered message with this Message-ID, read back from the Maildir once it
        arrives (delivery is asynchronous: the queue manager hands it to the virtual agent)."""
        new = self.maildir / "new"
        until = time.monotonic() + timeout
        while True:
            for path in new.iterdir() if new.exists() else ():
                # As text: raw UTF-8 headers (SMTPUTF8) would come back as surrogates.
                text = path.read_bytes().decode("utf-8", "replace")
                parsed = message_from_string(text, policy=policy.default)
                assert isinstance(parsed, EmailMessage)
                if parsed["Message-ID"] == message_id:
                    return parsed
            if time.monotonic() > until:
                raise AssertionError(f"{message_id} was not delivered\n{self.log_tail()}")
            time.sleep(0.05)

    def __enter__(self) -> PostfixServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
