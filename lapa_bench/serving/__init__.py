"""Serve a policy over a WebSocket, and evaluate a served one (``lapa-bench serve``, policy ``remote``)."""
