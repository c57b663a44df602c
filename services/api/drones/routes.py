"""The drone routes: parse, check the caller, call :class:`DroneService`, answer."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from services.api.auth import principal, requires
from services.api.drones import schemas
from services.api.drones.service import DroneService
from services.api.middleware import current_request_id

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

blp = Blueprint(
    "drones", __name__, url_prefix="/api/v1/drones", description="Drones and their incidents"
)


def service() -> DroneService:
    return current_app.extensions["drone_service"]


def _paginate():
    return blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)


def _page(fetch, pagination_parameters):
    p = pagination_parameters
    items, p.item_count = fetch(p.first_item, p.page_size)
    return items


@blp.route("/register", methods=["POST"])
@requires("drones:write")
@blp.arguments(schemas.DroneRegisterSchema)
@blp.response(201, schemas.DroneSchema)
@blp.alt_response(409, description="A drone with this serial exists")
def register(fields):
    """Register a drone (publishes ``drone.created``)."""
    principal().require("drones:write", fields["deviceSerialNumber"])
    return service().register(fields, current_request_id())


@blp.route("")
@requires("drones:read")
@blp.arguments(schemas.DroneFilterSchema, location="query")
@blp.response(200, schemas.DroneSchema(many=True))
@_paginate()
def list_drones(filters, pagination_parameters):
    """List drones (only those the token covers), oldest first. At most 100 per page."""
    serials = principal().drones
    fetch = lambda skip, limit: service().list(filters, serials, skip, limit)  # noqa: E731
    return _page(fetch, pagination_parameters)


@blp.route("/<serial>")
class Drone(MethodView):
    @requires("drones:read")
    @blp.response(200, schemas.DroneSchema)
    def get(self, serial):
        """One drone."""
        return service().get(serial)

    @requires("drones:write")
    @blp.arguments(schemas.DronePatchSchema)
    @blp.response(200, schemas.DroneSchema)
    def patch(self, values, serial):
        """Change any of the mutable fields (publishes the events of the change)."""
        return service().update(serial, values, current_request_id())

    @requires("drones:delete")
    @blp.response(204)
    def delete(self, serial):
        """Delete a drone (publishes ``drone.deleted``)."""
        service().delete(serial, current_request_id())


@blp.route("/<serial>/stream", methods=["PUT"])
@requires("drones:write")
@blp.arguments(schemas.StreamSchema)
@blp.response(200, schemas.DroneSchema)
def set_stream(body, serial):
    """Turn the stream on or off."""
    return service().update(serial, body, current_request_id())


@blp.route("/<serial>/stream/toggle", methods=["POST"])
@requires("drones:write")
@blp.response(200, schemas.DroneSchema)
def toggle_stream(serial):
    """Flip the stream."""
    return service().toggle(serial, "streamIsOn", current_request_id())


@blp.route("/<serial>/ai-detection", methods=["PUT"])
@requires("drones:write")
@blp.arguments(schemas.AiDetectionSchema)
@blp.response(200, schemas.DroneSchema)
def set_ai_detection(body, serial):
    """Turn AI detection on or off."""
    values = {"aiDetectionEnabled": body["enabled"]}
    return service().update(serial, values, current_request_id())


@blp.route("/<serial>/ai-detection/toggle", methods=["POST"])
@requires("drones:write")
@blp.response(200, schemas.DroneSchema)
def toggle_ai_detection(serial):
    """Flip AI detection."""
    return service().toggle(serial, "aiDetectionEnabled", current_request_id())


@blp.route("/<serial>/detection-classes", methods=["PUT"])
@requires("drones:write")
@blp.arguments(schemas.DetectionClassesSchema)
@blp.response(200, schemas.DroneSchema)
def set_detection_classes(body, serial):
    """Replace the detection classes."""
    return service().update(serial, body, current_request_id())


@blp.route("/<serial>/reported", methods=["PUT"])
@requires("drones:report")
@blp.arguments(schemas.ReportSchema)
@blp.response(200, schemas.DroneSchema)
@blp.alt_response(409, description="A newer report is stored (code `stale_report`)")
def set_reported(body, serial):
    """Report what the detector has applied and of which desired ``version``
    (publishes ``drone.reported``; the drone's ``version`` does not change).

    Roles ``detector`` (drones of its token) and ``admin``. An ``appliedVersion`` above the
    drone's ``version`` is refused with 422, one below the stored report's with 409
    ``stale_report``; nothing changes then.
    """
    return service().report(serial, body, principal().subject, current_request_id())


@blp.route("/<serial>/incidents", methods=["POST"])
@requires("incidents:write")
@blp.arguments(schemas.IncidentCreateSchema)
@blp.response(201, schemas.IncidentSchema)
def report_incident(fields, serial):
    """Report an incident (publishes ``drone.incident.detected``)."""
    return service().report_incident(serial, fields, current_request_id())


@blp.route("/<serial>/incidents", methods=["GET"])
@requires("incidents:read")
@blp.response(200, schemas.IncidentSchema(many=True))
@_paginate()
def list_incidents(serial, pagination_parameters):
    """A drone's incidents, newest first. At most 100 per page."""
    fetch = lambda skip, limit: service().incidents(serial, skip, limit)  # noqa: E731
    return _page(fetch, pagination_parameters)
