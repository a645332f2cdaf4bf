"""The smtp-connector server: a gRPC service that sends templated email over SMTP.

Its layers, one folder (or base module) each; a layer imports only the layers named in its
last column (``tests/test_layers.py`` checks it; the README's Development section shows the
same table)::

    layer          holds                                                may import
    errors         the error vocabulary, and the Cause an error carries nothing of ours
    deadline       request deadlines                                    errors
    settings       the settings: the one home of every default          nothing of ours
    transport/     base: Stage, TlsMode, ConnectionSettings, Envelope,  errors, deadline,
                   Reply, SendReceipt, Transport; session: SmtpSession  settings
                   over smtplib, the one place that translates
                   smtplib/ssl/socket failures; advice: how to fix
                   them; pool, tls, oauth, resolver, deadline_reader,
                   utf8_auth (AUTH in UTF-8), redaction (the reply
                   text that may leave)
    domain/        config, templates (with their size check), message,  errors, deadline,
                   mime (the MIME line writer), dkim, mailer (the       settings, transport
                   loaded config, the send), profiles, guard (inline
                   configs), validation, logto_template (Logto's
                   template rules, the default engine),
                   logto_payloads (what Logto sends); no gRPC
    diagnosis/     connection_test (the step runner), hints (cause to   errors, deadline,
                   hint), facts (what the peer showed), probe           settings, transport,
                                                                        domain
    idempotency/   engine, keys (check, fingerprint), store (records    errors, deadline
                   and protocol), one module per store
    logs, metrics  logging and request ids, Prometheus metrics          the layers above
    rpc/           servicer, status (errors to google.rpc.Status),      all of the above; below
                   convert (domain to proto), interceptors (bearer      the top level, the only
                   tokens, observing), limits, health, listener_tls     importer of grpc, stubs
    console/       the local web console: its pages (Starlette, served  errors, settings,
                   by uvicorn), the mailbox reader, the template        domain; it calls
                   catalogue; no gRPC of its own                        the service through
                                                                        the Python client
    top level      app (build vs serve), serve (the serve command),     anything
                   processes, reload, devmailbox, listen_check (one
                   server per address)

The wire contract is ``protos/`` and its generated stubs, ``smtp_connector.v1``.
"""
