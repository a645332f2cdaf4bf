"""The local web console: the development mailbox, template previews through PreviewMessage and
a test send through TestConnection, served next to the gRPC server for one developer.

Off by default (``console``); it binds to loopback unless told otherwise and, when the server
has bearer tokens, asks for one. It is not an admin panel: no accounts, no config editing.
"""
