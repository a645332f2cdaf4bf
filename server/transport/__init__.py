"""Transport: smtplib, TLS, OAuth2 and name resolution behind a small protocol."""
