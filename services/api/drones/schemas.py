"""Request and response schemas of the drone routes (marshmallow; unknown fields rejected).

Every field has a type, so a value like ``{"$gt": ""}`` is rejected as a wrong type and a
key like ``"a.b"`` or ``"$set"`` as an unknown field: nothing a client sends ever reaches
MongoDB as an operator or a field path.
"""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared import contract

STREAM_URL_SCHEMES = {"http", "https", "rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "ws", "wss"}
# What the OpenAPI document says of them, beside the standard ``format: uri``.
STREAM_URL_PATTERN = "^(" + "|".join(sorted(STREAM_URL_SCHEMES)) + ")://"


class StrictBoolean(fields.Boolean):
    """A JSON ``true``/``false`` only (no ``"yes"``, ``1``...)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class JsonNumber(fields.Float):
    """A JSON number only (no strings, booleans, NaN or infinity)."""

    def __init__(self, **kwargs):
        super().__init__(allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictInteger(fields.Integer):
    """A JSON integer only (no strings, booleans or fractions)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


def _valid_serial(value: str) -> None:
    problem = contract.serial_problem(value)
    if problem:
        raise ValidationError(problem)


def _serial(**kwargs) -> fields.String:
    # The whole string must match (a regex validator's ``$`` would let "ABC\n" through);
    # the pattern is stated for the OpenAPI document.
    return fields.String(
        validate=_valid_serial,
        metadata={"pattern": contract.SERIAL_PATTERN},
        **kwargs,
    )


def _name(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(1, 200), **kwargs)


def _category(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(1, 100), **kwargs)


def _detection_classes(**kwargs) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(1, 64)),
        validate=[
            validate.Length(max=contract.MAX_DETECTION_CLASSES),
            _unique,
        ],
        metadata={"uniqueItems": True},
        **kwargs,
    )


def _unique(values: list) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("items must be unique")


def _stream_url(**kwargs) -> fields.Url:
    return fields.Url(
        schemes=STREAM_URL_SCHEMES,
        require_tld=False,
        allow_none=True,
        validate=validate.Length(max=2048),
        metadata={"format": "uri", "pattern": STREAM_URL_PATTERN},
        **kwargs,
    )


class DroneRegisterSchema(StrictSchema):
    deviceSerialNumber = _serial(required=True)
    deviceName = _name(required=True)
    deviceCategory = _category()
    streamIsOn = StrictBoolean()
    aiDetectionEnabled = StrictBoolean()
    detectionClasses = _detection_classes()
    streamUrl = _stream_url()


class DronePatchSchema(StrictSchema):
    deviceName = _name()
    deviceCategory = _category()
    streamIsOn = StrictBoolean()
    aiDetectionEnabled = StrictBoolean()
    detectionClasses = _detection_classes()
    streamUrl = _stream_url()

    @validates_schema(pass_original=True)
    def not_empty(self, data, original, **kwargs):
        if not original:
            raise ValidationError("give at least one field to change", "_schema")


def document_rules(spec) -> None:
    """Register the schemas with the rules apispec cannot read off their fields, before the
    routes that use them: the OpenAPI document then states them too."""
    spec.components.schema("DronePatch", {"minProperties": 1}, schema=DronePatchSchema)


class StreamSchema(StrictSchema):
    streamIsOn = StrictBoolean(required=True)


class AiDetectionSchema(StrictSchema):
    enabled = StrictBoolean(required=True)


class DetectionClassesSchema(StrictSchema):
    detectionClasses = _detection_classes(required=True)


class DroneFilterSchema(Schema):
    """Query filters of the list (pagination arguments are parsed separately)."""

    class Meta:
        unknown = "exclude"

    deviceCategory = _category()
    streamIsOn = fields.Boolean()
    inSync = fields.Boolean(
        metadata={"description": "false: the drones whose detectors have not caught up"}
    )


class ReportSchema(StrictSchema):
    """What a detector has applied, and which desired ``version`` that was."""

    appliedVersion = StrictInteger(
        required=True,
        validate=validate.Range(min=1, max=contract.MAX_VERSION),
        metadata={"description": "the drone's desired version this state is the result of"},
    )
    streamIsOn = StrictBoolean()
    aiDetectionEnabled = StrictBoolean()
    detectionClasses = _detection_classes()
    message = fields.String(
        validate=validate.Length(max=contract.MAX_REPORT_MESSAGE),
        metadata={"description": "why the state differs from the desired one, for the operator"},
    )


class ReportedSchema(Schema):
    """The stored report (read-only)."""

    appliedVersion = fields.Integer(required=True)
    streamIsOn = fields.Boolean()
    aiDetectionEnabled = fields.Boolean()
    detectionClasses = fields.List(fields.String())
    message = fields.String()
    reportedAt = fields.String(required=True)
    reportedBy = fields.String(required=True, metadata={"description": "the token's subject"})


class DroneSchema(Schema):
    id = fields.String()
    deviceSerialNumber = fields.String()
    deviceName = fields.String()
    deviceCategory = fields.String()
    streamIsOn = fields.Boolean()
    aiDetectionEnabled = fields.Boolean()
    detectionClasses = fields.List(fields.String())
    streamUrl = fields.String(allow_none=True)
    version = fields.Integer()
    createdAt = fields.String()
    updatedAt = fields.String()
    reported = fields.Nested(
        ReportedSchema,
        allow_none=True,
        metadata={"description": "what the detector applied; null until its first report"},
    )
    inSync = fields.Boolean(
        metadata={
            "description": "reported.appliedVersion equals version and every field the "
            "report states equals the desired value"
        }
    )


class IsoTime(fields.DateTime):
    """An ISO 8601 time, kept as a UTC string ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""

    def _deserialize(self, value, attr, data, **kwargs):
        parsed: datetime = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            # A time at the edge of the range (9999-12-31T23:59:59-14:00) has no UTC form.
            utc = parsed.astimezone(UTC)
        except OverflowError:
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE) from None
        return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class IncidentCreateSchema(StrictSchema):
    type = fields.String(required=True, validate=validate.Length(1, 100))
    confidence = JsonNumber(required=True, validate=validate.Range(min=0, max=1))
    label = fields.String(validate=validate.Length(1, 200))
    boundingBox = fields.List(JsonNumber(), validate=validate.Length(equal=4))
    detectedAt = IsoTime()


class IncidentSchema(Schema):
    id = fields.String()
    droneSerial = fields.String()
    type = fields.String()
    confidence = fields.Float()
    label = fields.String()
    boundingBox = fields.List(fields.Float())
    detectedAt = fields.String()
    createdAt = fields.String()
