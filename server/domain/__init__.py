"""Domain: the connector config, templates, message building and the mailer; no gRPC."""
