"""Delivery: which client gets which event, once and in order (live, or caught up from the
history), and what each client may do. It sees clients through the transport interface
(``services.gateway.transport``) and runs without a server (tests/gateway/unit)."""
