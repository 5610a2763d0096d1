"""Multilingual summarization service: one gRPC call, an article in, its summary in many languages out."""

__version__ = "0.1.0"
