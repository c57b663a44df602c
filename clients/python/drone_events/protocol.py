"""Names of the gateway's wire protocol, as the client sees them.

The client is installed on detector machines without the backend, so it cannot import
``shared.contract``; ``tests/clients`` checks that every name here equals the one there.
"""

SOCKETIO_PATH = "/ws/events"

# Event types (the envelope's "event" field).
DRONE_CREATED = "drone.created"
DRONE_UPDATED = "drone.updated"
DRONE_DELETED = "drone.deleted"
DRONE_STREAM_STATUS = "drone.stream.status"
DRONE_AI_TOGGLED = "drone.ai.detection.toggled"
DRONE_CLASSES_CHANGED = "drone.detection.classes.changed"
DRONE_INCIDENT = "drone.incident.detected"
DRONE_REPORTED = "drone.reported"
SYSTEM_BROADCAST = "system.broadcast"

# Socket.IO events the server emits.
SIO_CONNECTED = "connected"
SIO_SUBSCRIBED = "subscribed"
SIO_UNSUBSCRIBED = "unsubscribed"
SIO_DRONE_EVENT = "drone:event"
SIO_SYSTEM_BROADCAST = "system:broadcast"
SIO_REFRESHED = "refreshed"
SIO_MISSED = "missed"

# Socket.IO events the client emits.
SIO_SUBSCRIBE = "subscribe"
SIO_UNSUBSCRIBE = "unsubscribe"
SIO_REFRESH = "refresh"

SIO_RECONNECT = "reconnect_elsewhere"

# The codes of refusing answers: only "unavailable" is retried (after "retryAfter" seconds).
CODE_BAD_REQUEST = "bad_request"
CODE_FORBIDDEN = "forbidden"
CODE_UNAVAILABLE = "unavailable"

# The subscribe option "whenBehind".
WHEN_BEHIND_REPLAY = "replay"
WHEN_BEHIND_SKIP = "skip"
