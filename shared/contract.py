"""Names and limits of the wire contract (docs/api.md), defined once.

Every Redis channel, Redis key, Socket.IO room and event name used by either service
comes from here.
"""

import re

# --- Drone fields -------------------------------------------------------------------
# As the OpenAPI document states it, reserved names left out (ECMA-262: ``$`` is the end).
# Python's ``$`` also matches before a final newline: Python code uses ``fullmatch``.
SERIAL_PATTERN = r"^(?![Aa][Ll][Ll]$)[A-Za-z0-9_.:-]{1,64}$"
SERIAL_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
SERIAL_RULE = "1-64 characters of A-Z a-z 0-9 _ . : -"
# Serials that are channel or subscription words: drone ``all`` would be published on
# ``drone:all:*`` (every drone's channel) and ``{"droneSerial": "all"}`` would mean every
# drone. Reserved in any case, so no drone is named like the word meaning all of them.
RESERVED_SERIALS = frozenset({"all"})
DEFAULT_CATEGORY = "Surveillance"
MAX_DETECTION_CLASSES = 100

# Fields a client may change with PATCH; the specific events they trigger.
MUTABLE_FIELDS = (
    "deviceName",
    "deviceCategory",
    "streamIsOn",
    "aiDetectionEnabled",
    "detectionClasses",
    "streamUrl",
)

# The desired fields a detector reports back (``PUT .../reported``), and the longest
# ``message`` a report may carry.
REPORTED_FIELDS = ("streamIsOn", "aiDetectionEnabled", "detectionClasses")
MAX_REPORT_MESSAGE = 200
# Versions are counters in int64 MongoDB fields; nothing above this is a version.
MAX_VERSION = 2**53 - 1


def serial_problem(value: object) -> str | None:
    """Why ``value`` is not a serial the contract accepts, or None when it is one."""
    if not isinstance(value, str) or SERIAL_RE.fullmatch(value) is None:
        return f"a serial is {SERIAL_RULE}"
    if value.lower() in RESERVED_SERIALS:
        return f"'{value}' is reserved (it names every drone); choose another serial"
    return None


def is_valid_serial(value: object) -> bool:
    """True when ``value`` is a string that the contract accepts as a serial."""
    return serial_problem(value) is None


# --- Event types --------------------------------------------------------------------
DRONE_CREATED = "drone.created"
DRONE_UPDATED = "drone.updated"
DRONE_DELETED = "drone.deleted"
DRONE_STREAM_STATUS = "drone.stream.status"
DRONE_AI_TOGGLED = "drone.ai.detection.toggled"
DRONE_CLASSES_CHANGED = "drone.detection.classes.changed"
DRONE_INCIDENT = "drone.incident.detected"
DRONE_REPORTED = "drone.reported"
SYSTEM_BROADCAST = "system.broadcast"

# Redis channel suffix of each drone event type.
CHANNEL_SUFFIX = {
    DRONE_CREATED: "created",
    DRONE_UPDATED: "updated",
    DRONE_DELETED: "deleted",
    DRONE_STREAM_STATUS: "stream",
    DRONE_AI_TOGGLED: "ai",
    DRONE_CLASSES_CHANGED: "config",
    DRONE_INCIDENT: "incident",
    DRONE_REPORTED: "reported",
}

# The field whose change triggers each specific event, in the order they are published
# after ``drone.updated``.
SPECIFIC_EVENT_OF_FIELD = {
    "streamIsOn": DRONE_STREAM_STATUS,
    "aiDetectionEnabled": DRONE_AI_TOGGLED,
    "detectionClasses": DRONE_CLASSES_CHANGED,
}

# --- Redis pub/sub channels ---------------------------------------------------------
ALL = "all"
SYSTEM_BROADCAST_CHANNEL = "system:broadcast"


def drone_channels(serial: str, event_type: str) -> tuple[str, str]:
    """The two pub/sub channels a drone event is published on."""
    suffix = CHANNEL_SUFFIX[event_type]
    return f"drone:{serial}:{suffix}", f"drone:{ALL}:{suffix}"


# --- Socket.IO ----------------------------------------------------------------------
SOCKETIO_PATH = "/ws/events"

# Events the server emits.
SIO_CONNECTED = "connected"
SIO_SUBSCRIBED = "subscribed"
SIO_UNSUBSCRIBED = "unsubscribed"
SIO_DRONE_EVENT = "drone:event"
SIO_SYSTEM_BROADCAST = "system:broadcast"
SIO_REFRESHED = "refreshed"
SIO_RECONNECT = "reconnect_elsewhere"
SIO_MISSED = "missed"  # a client that skips when behind: the events it did not get live
RECONNECT_HISTORY_LOST = "history lost"  # ``reconnect_elsewhere``'s reason after a new epoch
# ... after this replica lagged so far behind that the history's trimming overtook it
RECONNECT_FELL_BEHIND = "replica fell behind the history"

# Events the client emits.
SIO_SUBSCRIBE = "subscribe"
SIO_UNSUBSCRIBE = "unsubscribe"
SIO_REFRESH = "refresh"
SIO_HISTORY = "history"  # a page of the event history, e.g. to fill what was ``missed``

# What the gateway does with a client that reads slower than events come (``subscribe``'s
# ``whenBehind``): serve it every event in order from the history (the default), or skip it
# to the live position and tell it what it missed (``missed``), to fetch with ``history``.
WHEN_BEHIND_REPLAY = "replay"
WHEN_BEHIND_SKIP = "skip"

ROOM_ALL = "all"
# Every subscribed client that is live: broadcasts go here, so a connection gets none before
# its first subscribe is answered, nor while it is served from the log.
ROOM_BROADCASTS = "system:broadcasts"

# The codes of refusing answers (``{"ok": false, "code", "error", "retryAfter"?}``).
CODE_BAD_REQUEST = "bad_request"  # fix the payload; do not retry
CODE_FORBIDDEN = "forbidden"  # the token may not do that; do not retry
CODE_UNAVAILABLE = "unavailable"  # temporary: retry after ``retryAfter`` seconds, with backoff


def drone_room(serial: str) -> str:
    """The Socket.IO room of one drone's subscribers."""
    return f"drone:{serial}"
