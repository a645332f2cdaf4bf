"""The smtp-connector server: a gRPC service that sends templated email over SMTP.

Layers, each in its own module:

- wire: the generated stubs in ``smtp_connector.v1``;
- service adapter: ``servicer`` (proto in, domain call, proto or status out) and ``status``
  (domain errors to ``google.rpc.Status``);
- domain: ``config``, ``templates``, ``message``, ``mailer`` and ``errors``, which import neither
  ``grpc`` nor the stubs;
- transport: ``transport``, smtplib behind a small protocol.
"""
