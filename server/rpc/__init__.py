"""RPC: the gRPC adapter, the only layer that imports grpc, google.rpc or the stubs."""
