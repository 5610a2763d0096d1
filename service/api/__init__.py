"""The gRPC surface: protobuf <-> domain conversion, the servicer, and the error interceptor."""
