"""Attacks on the server by hostile callers and hostile SMTP/HTTP peers (issue 14), each
against real peers on loopback, bounded in count and time."""
