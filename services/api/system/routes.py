"""``POST /api/v1/system/broadcast``."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from services.api.auth import requires
from services.api.drones.schemas import StrictSchema
from services.api.middleware import current_request_id

LEVELS = ("info", "warning", "critical")

blp = Blueprint("system", __name__, url_prefix="/api/v1/system", description="System messages")


class BroadcastSchema(StrictSchema):
    message = fields.String(required=True, validate=validate.Length(1, 2000))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))


class BroadcastAcceptedSchema(Schema):
    id = fields.String()
    message = fields.String()
    level = fields.String()
    acceptedAt = fields.String()


@blp.route("/broadcast", methods=["POST"])
@requires("system:broadcast")
@blp.arguments(BroadcastSchema)
@blp.response(202, BroadcastAcceptedSchema)
def broadcast(body):
    """Send a message to every connected client (publishes ``system.broadcast``)."""
    service = current_app.extensions["broadcast_service"]
    return service.send(body["message"], body["level"], current_request_id())
