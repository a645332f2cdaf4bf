"""A fault-injecting SMTP server on raw sockets: it speaks enough SMTP for smtp-connector and
misbehaves on request (tarpit, one byte at a time, error replies, dropped connections, broken
TLS, idle closes, restarts), counting exactly the messages it accepted."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from tests.support.smtp import free_port

# Where a fault can strike: SMTP commands by name, plus the end of DATA.
MAIL, RCPT, DATA, END_OF_DATA, STARTTLS = "MAIL", "RCPT", "DATA", "END_OF_DATA", "STARTTLS"


@dataclass
class Fault:
    """How the server misbehaves on the connections it accepts from now on.

    The default is a well-behaved server."""

    greeting: str | None = "220 fault.example ESMTP ready"  # None: accept, never greet
    replies: dict[str, str] = field(default_factory=dict)  # stage -> reply instead of OK
    byte_delay: float = 0.0  # seconds between the bytes of every reply
    drop_mid_data: bool = False  # close after reading part of the message, unread data left
    drop_after_data: bool = False  # read the whole message, then close without replying
    keep_dropped_message: bool = False  # with drop_after_data: the message was queued anyway
    tls_garbage: bool = False  # answer 220 to STARTTLS, then send bytes that are not TLS
    idle_close: float | None = None  # close a connection idle this many seconds
    idle_reply: str | None = None  # with idle_close: say this first (Postfix: 421 4.4.2)
    data_delay: float = 0.0  # seconds to think before answering the end of DATA
    refused_recipients: tuple[str, ...] = ()  # RCPT TO these gets 550 5.1.1


class _Connection:
    """One client connection, served in its own thread."""

    def __init__(self, server: FaultServer, sock: socket.socket) -> None:
        self.server = server
        self.sock: socket.socket = sock
        self.buffer = b""

    @property
    def fault(self) -> Fault:
        """The server's fault as it is now: a pooled connection opened before a fault was set
        suffers it too."""
        return self.server.fault

    # -- I/O --------------------------------------------------------------------------------

    def send(self, reply: str) -> None:
        data = reply.encode() + b"\r\n"
        if self.fault.byte_delay:
            for index in range(len(data)):
                self.sock.sendall(data[index : index + 1])
                time.sleep(self.fault.byte_delay)
        else:
            self.sock.sendall(data)

    def readline(self) -> bytes | None:
        """One line without its CRLF; None when the peer closed or went idle too long."""
        while b"\n" not in self.buffer:
            self.sock.settimeout(self.fault.idle_close or 30.0)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                if self.fault.idle_close and self.fault.idle_reply:
                    with contextlib.suppress(OSError):
                        self.send(self.fault.idle_reply)
                return None
            except OSError:
                return None
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r")

    def read_message(self) -> bytes | None:
        """The DATA payload up to the lone dot, un-stuffed; None when the connection ended."""
        lines: list[bytes] = []
        while True:
            line = self.readline()
            if line is None:
                return None
            if line == b".":
                return b"\r\n".join(lines) + b"\r\n"
            lines.append(line[1:] if line.startswith(b"..") else line)

    # -- the dialogue -----------------------------------------------------------------------

    def serve(self) -> None:
        fault = self.fault
        if fault.greeting is None:
            self._tarpit()
            return
        self.send(fault.greeting)
        if not fault.greeting.startswith("2"):
            return
        have_sender, recipients = False, 0
        while (line := self.readline()) is not None:
            verb = line.split(b" ", 1)[0].split(b":", 1)[0].upper().decode("ascii", "replace")
            if verb in ("EHLO", "HELO"):
                self._ehlo(verb)
            elif verb == "STARTTLS" and self.server.tls_context is not None:
                if not self._starttls():
                    return
            elif verb == "MAIL":
                if self.buffer.rstrip().upper().endswith(b"DATA"):
                    self.server.count_batch()  # the envelope came in one write, DATA last
                have_sender = self._reply(MAIL, "250 2.1.0 OK")
            elif verb == "RCPT" and not have_sender:
                self.send("503 5.5.1 need MAIL first")
            elif verb == "RCPT" and any(
                f"<{address}>".encode() in line for address in self.fault.refused_recipients
            ):
                self.send("550 5.1.1 no such user")
            elif verb == "RCPT":
                recipients += self._reply(RCPT, "250 2.1.5 OK")
            elif verb == "DATA":
                if not (have_sender and recipients):
                    self.send("503 5.5.1 need MAIL and RCPT first")
                elif self._reply(DATA, "354 end with <CRLF>.<CRLF>") and not self._data():
                    return
                have_sender, recipients = False, 0
            elif verb == "RSET":
                have_sender, recipients = False, 0
                self.send("250 2.0.0 OK")
            elif verb == "NOOP":
                self.send("250 2.0.0 OK")
            elif verb == "QUIT":
                self.send("221 2.0.0 bye")
                return
            else:
                self.send("500 5.5.2 unknown command")

    def _tarpit(self) -> None:
        # Hold the connection open, silent, until the client gives up or the server stops.
        with contextlib.suppress(OSError):
            self.sock.settimeout(30.0)
            while self.sock.recv(1024):
                pass

    def _ehlo(self, verb: str) -> None:
        if verb == "HELO":
            self.send("250 fault.example")
            return
        lines = ["fault.example", "8BITMIME", "SMTPUTF8", "SIZE 33554432"]
        if self.server.pipelining:
            lines.insert(1, "PIPELINING")
        if self.server.tls_context is not None and not isinstance(self.sock, ssl.SSLSocket):
            lines.append("STARTTLS")
        for line in lines[:-1]:
            self.send(f"250-{line}")
        self.send(f"250 {lines[-1]}")

    def _reply(self, stage: str, ok: str) -> bool:
        """Send the fault's reply for ``stage`` or ``ok``; whether it was a success."""
        reply = self.fault.replies.get(stage, ok)
        self.send(reply)
        return reply[:1] in ("2", "3")

    def _starttls(self) -> bool:
        context = self.server.tls_context
        assert context is not None
        self.send("220 2.0.0 ready to start TLS")
        if self.fault.tls_garbage:
            self.sock.sendall(b"this is not a TLS handshake\r\n" * 4)
            return False
        try:
            self.sock = context.wrap_socket(self.sock, server_side=True)
        except (ssl.SSLError, OSError):
            return False
        self.buffer = b""
        return True

    def _data(self) -> bool:
        """Receive the message; False when the connection must end here."""
        fault = self.fault
        if fault.drop_mid_data:
            # Read a little, stop reading, then close with data unread: the kernel resets the
            # connection while the client is still writing the message.
            with contextlib.suppress(OSError):
                self.sock.recv(1024)
            time.sleep(0.3)
            return False
        message = self.read_message()
        if message is None:
            return False
        if fault.drop_after_data:
            if fault.keep_dropped_message:
                self.server.accept_message(message)
            return False
        time.sleep(fault.data_delay)
        reply = fault.replies.get(END_OF_DATA, "250 2.0.0 OK: queued as FAULT")
        if reply.startswith("2"):
            self.server.accept_message(message)  # queued before the client hears so
        self.send(reply)
        return True


class FaultServer:
    """A misbehaving SMTP server on 127.0.0.1, one thread per connection.

    Set ``fault`` between sends; ``delivered`` holds every message it answered 2xx to (or kept
    on purpose before a drop), so a test can count exactly what was sent."""

    def __init__(
        self,
        port: int | None = None,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        receive_buffer: int | None = None,
        pipelining: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.receive_buffer = receive_buffer
        self.pipelining = pipelining  # offer PIPELINING (RFC 2920) in the EHLO reply
        self.fault = Fault()
        self.delivered: list[bytes] = []
        self.connections = 0
        self.pipelined_batches = 0  # MAIL FROM read with its RCPTs and DATA already behind it
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[_Connection] = set()
        self._threads: list[threading.Thread] = []

    def accept_message(self, message: bytes) -> None:
        with self._lock:
            self.delivered.append(message)

    def count_batch(self) -> None:
        with self._lock:
            self.pipelined_batches += 1

    @property
    def open_connections(self) -> int:
        """Connections the server has not closed yet."""
        with self._lock:
            return len(self._open)

    def start(self) -> FaultServer:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.receive_buffer:
            # Inherited by accepted sockets: a small window makes a big message block the
            # client's writes, so a drop lands while it is still writing.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop listening and close every connection (a server going down)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            # The connection's socket, which TLS may have replaced by its wrapper.
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)
        self._threads = [thread for thread in self._threads if thread.is_alive()]

    def restart(self) -> None:
        """Stop, then listen again on the same port."""
        self.stop()
        self.start()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket) -> None:
        connection = _Connection(self, sock)
        with self._lock:
            self._open.add(connection)
        try:
            if self.implicit_tls is not None:
                connection.sock = self.implicit_tls.wrap_socket(sock, server_side=True)
            connection.serve()
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self._lock:
                self._open.discard(connection)
            with contextlib.suppress(OSError):
                connection.sock.close()
            sock.close()
