"""Python client of the drone events gateway (Socket.IO), for detector processes and services.

See docs/clients.md and clients/python/example_detector.py.
"""

from .client import DroneEventsClient, RefreshError, SubscriptionError
from .event import EnvelopeError, Event, parse_event_id
from .resume import State

__all__ = [
    "DroneEventsClient",
    "EnvelopeError",
    "Event",
    "RefreshError",
    "State",
    "SubscriptionError",
    "parse_event_id",
]
