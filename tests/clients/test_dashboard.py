"""The fleet dashboard (GET /dashboard of the gateway) in headless Chromium, against the real
API and gateway: an operator and a viewer side by side, live changes, controls by role,
incidents, broadcasts, and a gateway restart in the middle of a session."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import pytest
import requests
from playwright.sync_api import expect

from tests.clients.conftest import ROOT, Stack
from tests.support.redis_server import free_port
from tests.support.waiting import wait_until

STATIC = ROOT / "services" / "gateway" / "static"
SHOWN_WITHIN_MS = 1000  # the bound for a change to reach the other user's row


@pytest.fixture
def dash(start_api, start_gateway, process_settings, auth_headers) -> Stack:
    """API and gateway where the gateway's origin may call the API (CORS) and the gateway
    tells the dashboard where the API is."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = process_settings.replace(allowed_origins=(origin,))
    api = start_api(settings)
    gateway = start_gateway(settings.replace(api_public_url=api.url), port=port)
    return Stack(api, gateway, auth_headers("admin"))


@pytest.fixture
def open_dashboard(browser, dash, tokens):
    """``open_dashboard(role)``: a page of its own browser context, signed in as ``role``."""
    contexts = []

    def open_as(role: str):
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.goto(dash.gateway.url + "/dashboard")
        page.fill("#token", tokens[role])
        page.click("#sign-in")
        page.wait_for_selector("#conn[data-state=connected]")
        return page

    yield open_as
    for context in contexts:
        context.close()


def row(serial: str) -> str:
    return f'#fleet-body [data-serial="{serial}"]'


def cell(serial: str, field: str) -> str:
    return f'{row(serial)} [data-field="{field}"]'


def wait_text(page, selector: str, text: str, timeout_ms: int = 10_000) -> float:
    """Wait until ``selector`` shows ``text``; returns the seconds it took."""
    started = time.monotonic()
    # expect() polls without eval, which the page's CSP forbids (wait_for_function uses it).
    expect(page.locator(selector)).to_have_text(text, timeout=timeout_ms)
    return time.monotonic() - started


class _Scan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []
        self.inline_scripts = 0
        self.inputs: list[str] = []
        self.labels: set[str] = set()
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if attrs.get(key) and not attrs[key].startswith("#"):
                self.sources.append(attrs[key])
        if tag in ("input", "select") and attrs.get("type") != "hidden":
            self.inputs.append(attrs.get("id"))
        if tag == "label" and attrs.get("for"):
            self.labels.add(attrs["for"])
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1


def test_dashboard_is_local_labelled_and_never_renders_html():
    scan = _Scan()
    scan.feed((STATIC / "dashboard" / "index.html").read_text())
    assert scan.sources and all(src.startswith("/static/") for src in scan.sources)
    for src in scan.sources:
        assert (STATIC / src.removeprefix("/static/")).is_file()
    assert scan.inline_scripts == 0
    assert set(scan.inputs) <= scan.labels  # every field has a label
    for script in (STATIC / "dashboard").glob("*.js"):
        text = script.read_text()
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, script.name


def test_gateway_serves_the_dashboard_and_its_config(dash):
    page = requests.get(dash.gateway.url + "/dashboard", timeout=5)
    assert page.status_code == 200 and 'id="fleet"' in page.text
    assert "Content-Security-Policy" in page.headers
    config = requests.get(dash.gateway.url + "/dashboard/config.json", timeout=5).json()
    assert config == {"apiUrl": dash.api.url, "development": True}
    for asset in ("main.js", "fleet.js", "detail.js", "api.js", "session.js", "dashboard.css"):
        assert requests.get(f"{dash.gateway.url}/static/dashboard/{asset}", timeout=5).ok


def test_api_allows_the_dashboard_origin_only(dash):
    origin = dash.gateway.url
    preflight = requests.options(
        dash.api.url + "/api/v1/drones/X/stream",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=5,
    )
    assert preflight.headers.get("Access-Control-Allow-Origin") == origin
    assert "authorization" in preflight.headers.get("Access-Control-Allow-Headers", "").lower()
    other = requests.options(
        dash.api.url + "/api/v1/drones",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        timeout=5,
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_operator_changes_reach_the_viewer_within_a_second(dash, open_dashboard):
    dash.register("DASH1", deviceCategory="Survey")
    operator = open_dashboard("operator")
    viewer = open_dashboard("viewer")
    for page in (operator, viewer):
        page.wait_for_selector(row("DASH1"))
    assert viewer.text_content(cell("DASH1", "streamIsOn")) == "○ off"

    # The viewer's controls are disabled, with the reason on the page.
    for action in ("stream", "ai", "classes", "delete"):
        assert viewer.is_disabled(f'{row("DASH1")} button[data-action="{action}"]')
    assert "viewer" in viewer.text_content("#controls-note")
    assert viewer.is_hidden("#register")
    assert viewer.is_enabled(f'{row("DASH1")} button[data-action="detail"]')
    # The operator's are enabled, but delete (admin only).
    assert operator.is_enabled(f'{row("DASH1")} button[data-action="stream"]')
    assert operator.is_disabled(f'{row("DASH1")} button[data-action="delete"]')

    operator.click(f'{row("DASH1")} button[data-action="stream"]')
    operator_seen = wait_text(operator, cell("DASH1", "streamIsOn"), "● on")
    viewer_seen = wait_text(viewer, cell("DASH1", "streamIsOn"), "● on")
    assert viewer_seen <= SHOWN_WITHIN_MS / 1000 + operator_seen
    assert dash.call("GET", "/drones/DASH1")["streamIsOn"] is True
    # Pending ends with the event: the button is usable again and says what it is.
    operator.wait_for_selector(
        f'{row("DASH1")} button[data-action="stream"][aria-pressed="true"]:enabled'
    )

    operator.click(f'{row("DASH1")} button[data-action="classes"]')
    operator.fill("#classes-input", "person, vehicle")
    operator.click("#classes-save")
    operator_seen = wait_text(operator, cell("DASH1", "detectionClasses"), "person, vehicle")
    viewer_seen = wait_text(viewer, cell("DASH1", "detectionClasses"), "person, vehicle")
    assert viewer_seen <= SHOWN_WITHIN_MS / 1000 + operator_seen
    assert viewer.text_content(cell("DASH1", "version")) == "3"
    assert dash.call("GET", "/drones/DASH1")["detectionClasses"] == ["person", "vehicle"]


def test_a_refused_change_shows_the_api_message(dash, open_dashboard):
    dash.register("DASH2")
    operator = open_dashboard("operator")
    operator.wait_for_selector(row("DASH2"))
    operator.click(f'{row("DASH2")} button[data-action="classes"]')
    operator.fill("#classes-input", "x" * 65)  # longer than a class may be
    operator.click("#classes-save")
    operator.wait_for_selector(f'{cell("DASH2", "status")}[data-state="error"]')
    assert "invalid request" in operator.text_content(cell("DASH2", "status"))
    assert "invalid request" in operator.text_content("#alerts")
    assert operator.text_content(cell("DASH2", "detectionClasses")) == "–"


def test_drones_appear_and_disappear_live(dash, open_dashboard):
    viewer = open_dashboard("viewer")
    dash.register("DASH3", deviceName="Harbour east")
    viewer.wait_for_selector(row("DASH3"))
    assert viewer.text_content(cell("DASH3", "deviceName")) == "Harbour east"
    dash.call("DELETE", "/drones/DASH3", expect=204)
    viewer.wait_for_selector(row("DASH3"), state="detached")


def test_admin_registers_and_deletes_from_the_page(dash, open_dashboard):
    admin = open_dashboard("admin")
    admin.click("#register summary")
    admin.fill("#reg-serial", "DASH4")
    admin.fill("#reg-name", "From the page")
    admin.click("#reg-submit")
    admin.wait_for_selector(row("DASH4"))
    assert dash.call("GET", "/drones/DASH4")["deviceName"] == "From the page"
    delete = f'{row("DASH4")} button[data-action="delete"]'
    admin.click(delete)  # asks once more
    assert admin.text_content(delete) == "Confirm delete"
    admin.click(delete)
    admin.wait_for_selector(row("DASH4"), state="detached")
    dash.call("GET", "/drones/DASH4", expect=404)


def test_incidents_show_in_the_feed_and_the_detail(dash, open_dashboard):
    dash.register("DASH5")
    viewer = open_dashboard("viewer")
    viewer.wait_for_selector(row("DASH5"))
    incident = {"type": "intrusion", "label": "person", "confidence": 0.91}
    dash.call(
        "POST", "/drones/DASH5/incidents", {**incident, "boundingBox": [0.1, 0.2, 0.3, 0.4]}, 201
    )
    viewer.wait_for_selector('#incidents li[data-serial="DASH5"]')
    assert "intrusion · person · confidence 91 %" in viewer.text_content("#incidents")
    wait_text(viewer, cell("DASH5", "incidents"), "1")

    viewer.click('#incidents li[data-serial="DASH5"] button')  # opens its drone
    viewer.wait_for_selector("#detail:not([hidden])")
    assert viewer.text_content("#detail-title") == "Drone DASH5"
    viewer.wait_for_selector("#detail-incidents li")
    box = viewer.query_selector("#detail-incidents li .bbox")
    assert box is not None
    assert [box.get_attribute(a) for a in ("x", "y", "width", "height")] == ["32", "36", "96", "72"]
    # A second incident while the detail is open lands on top, and the history shows both.
    dash.call("POST", "/drones/DASH5/incidents", {"type": "fire", "confidence": 0.5}, 201)
    expect(viewer.locator("#detail-incidents li p").first).to_have_text(re.compile("^fire"))
    assert viewer.locator("#detail-incidents li").count() == 2
    history = viewer.text_content("#detail-history")
    assert "registered" in history and "incident: intrusion" in history


def test_detail_shows_the_recent_changes_from_the_event_history(dash, open_dashboard):
    dash.register("DASH6")
    dash.set_stream("DASH6", True)
    dash.call("PATCH", "/drones/DASH6", {"deviceName": "renamed"})
    viewer = open_dashboard("viewer")  # after the changes: they come from the history
    viewer.click(f'{row("DASH6")} button[data-action="detail"]')
    viewer.wait_for_selector("#detail-history li >> nth=2")
    items = viewer.locator("#detail-history li").all_text_contents()
    assert "deviceName" in items[0] and "streamIsOn: false → true" in items[1]
    assert "registered" in items[2]
    assert '"deviceName": "renamed"' in viewer.text_content("#detail-doc")


def test_a_broadcast_shows_its_banner(dash, open_dashboard):
    viewer = open_dashboard("viewer")
    admin = open_dashboard("admin")
    assert viewer.is_hidden("#broadcast")  # only admins may send one
    admin.fill("#broadcast-message", "Maintenance at <b>noon</b>")
    admin.select_option("#broadcast-level", "warning")
    admin.click("#broadcast-send")
    for page in (viewer, admin):
        page.wait_for_selector('#banners .banner[data-level="warning"]')
        assert page.text_content("#banners .banner .message") == "Maintenance at <b>noon</b>"
        assert "Warning" in page.text_content("#banners .banner strong")


def test_the_page_resumes_after_a_gateway_restart_and_equals_the_api(dash, open_dashboard):
    for serial in ("DASH7", "DASH8", "DASH9"):
        dash.register(serial)
    viewer = open_dashboard("viewer")
    viewer.wait_for_selector(row("DASH9"))
    assert viewer.get_attribute("#conn-resume", "data-resume") == "loaded"

    dash.gateway.stop()
    viewer.wait_for_selector("#conn[data-state=reconnecting]")
    viewer.wait_for_selector("#stale-note:not([hidden])")
    dash.set_stream("DASH7", True)  # while the page is disconnected
    dash.call("DELETE", "/drones/DASH8", expect=204)
    dash.register("DASH10", deviceCategory="Inspection")
    dash.gateway.start()

    viewer.wait_for_selector("#conn[data-state=connected]", timeout=30_000)
    assert viewer.get_attribute("#conn-resume", "data-resume") == "recovered"
    viewer.wait_for_selector(row("DASH10"))
    viewer.wait_for_selector(row("DASH8"), state="detached")
    assert viewer.is_hidden("#stale-note")
    dash.set_stream("DASH9", True)  # and live again
    wait_text(viewer, cell("DASH9", "streamIsOn"), "● on")

    api = {d["deviceSerialNumber"]: d for d in dash.call("GET", "/drones?page_size=100")}

    def rows_equal_api():
        shown = viewer.evaluate(
            """() => [...document.querySelectorAll('#fleet-body [data-serial]')].map((tr) => ({
                serial: tr.dataset.serial,
                name: tr.querySelector('[data-field=deviceName]').textContent,
                category: tr.querySelector('[data-field=deviceCategory]').textContent,
                stream: tr.querySelector('[data-field=streamIsOn]').textContent,
                ai: tr.querySelector('[data-field=aiDetectionEnabled]').textContent,
                version: tr.querySelector('[data-field=version]').textContent,
            }))"""
        )
        expected = [
            {
                "serial": s,
                "name": d["deviceName"],
                "category": d["deviceCategory"],
                "stream": "● on" if d["streamIsOn"] else "○ off",
                "ai": "● on" if d["aiDetectionEnabled"] else "○ off",
                "version": str(d["version"]),
            }
            for s, d in sorted(api.items())
        ]
        return shown == expected

    wait_until(rows_equal_api, timeout=10, message="the rows equal GET /drones")


def test_an_expired_session_asks_to_sign_in_again_and_resumes(dash, browser):
    from shared.auth import mint_token
    from tests.conftest import TEST_SECRET

    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(dash.gateway.url + "/dashboard")
        page.fill("#token", mint_token(TEST_SECRET, "viewer", "short", ttl_seconds=3))
        page.click("#sign-in")
        page.wait_for_selector("#conn[data-state=connected]")
        # The gateway ends the session at expiry; the token is refused on reconnection.
        page.wait_for_selector("#signin:not([hidden])", timeout=15_000)
        expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
        assert "expired" in page.text_content("#alerts")
        dash.register("DASH11")  # while signed out: the new session's snapshot has it
        page.fill("#token", mint_token(TEST_SECRET, "viewer", "short"))
        page.click("#sign-in")
        page.wait_for_selector("#conn[data-state=connected]")
        page.wait_for_selector(row("DASH11"))
        assert page.is_hidden("#signin")
        # Nothing of the token in the URL, and only in this tab's session storage.
        assert "ey" not in page.url
        stored = page.evaluate("() => Object.keys(localStorage).length")
        assert stored == 0
    finally:
        context.close()


def test_controls_work_from_the_keyboard(dash, open_dashboard):
    dash.register("DASH12")
    operator = open_dashboard("operator")
    stream = operator.locator(f'{row("DASH12")} button[data-action="stream"]')
    stream.focus()
    operator.keyboard.press("Enter")
    wait_text(operator, cell("DASH12", "streamIsOn"), "● on")
    expect(stream).to_have_attribute("aria-pressed", "true")
    operator.locator(f'{row("DASH12")} button[data-action="classes"]').focus()
    operator.keyboard.press("Enter")  # opens the dialog, focus in its field
    expect(operator.locator("#classes-input")).to_be_focused()
    operator.keyboard.type("drone, bird")
    operator.keyboard.press("Enter")  # submits: save
    wait_text(operator, cell("DASH12", "detectionClasses"), "drone, bird")
    operator.locator(f'{row("DASH12")} button[data-action="detail"]').focus()
    operator.keyboard.press("Enter")
    expect(operator.locator("#detail")).to_be_focused()
    operator.keyboard.press("Escape")
    expect(operator.locator("#detail")).to_be_hidden()


def test_filter_search_and_sort(dash, open_dashboard):
    dash.register("DASH13", deviceName="Alpha", deviceCategory="Inspection")
    dash.register("DASH14", deviceName="Bravo", deviceCategory="Survey", streamIsOn=True)
    dash.register("DASH15", deviceName="Charlie", deviceCategory="Survey")
    viewer = open_dashboard("viewer")
    viewer.wait_for_selector(row("DASH15"))
    visible = viewer.locator("#fleet-body [data-serial]:visible")
    # The table renders on the next animation frame after a click: wait for the
    # order (to_have_text retries until the list matches), never read it once.
    shown = viewer.locator('#fleet-body [data-serial]:visible [data-field="deviceSerialNumber"]')

    viewer.select_option("#filter-category", "Survey")
    expect(shown).to_have_text(["DASH14", "DASH15"])
    viewer.select_option("#filter-stream", "on")
    expect(visible).to_have_count(1)
    viewer.select_option("#filter-category", "")
    viewer.select_option("#filter-stream", "")
    viewer.fill("#search", "charl")
    expect(shown).to_have_text(["DASH15"])
    viewer.fill("#search", "")
    viewer.click('#fleet [data-sort="deviceName"] button')
    viewer.click('#fleet [data-sort="deviceName"] button')  # again: descending
    expect(viewer.locator('#fleet [data-sort="deviceName"]')).to_have_attribute(
        "aria-sort", "descending"
    )
    expect(shown).to_have_text(["DASH15", "DASH14", "DASH13"])
    expect(viewer.locator("#fleet-count")).to_have_text("(3 of 3)")


def test_device_state_follows_the_reports(dash, open_dashboard):
    drone = dash.register("DASH16")
    viewer = open_dashboard("viewer")
    viewer.wait_for_selector(row("DASH16"))
    # "–" where drones carry no reported state (before issue #24), else this:
    assert viewer.text_content(cell("DASH16", "sync")) == "… no report yet"
    report = "/drones/DASH16/reported"

    dash.call("PUT", report, {"appliedVersion": drone["version"]})
    wait_text(viewer, cell("DASH16", "sync"), "✓ in sync")
    dash.set_stream("DASH16", True)  # a new desired state the device has not applied
    expect(viewer.locator(cell("DASH16", "sync"))).to_have_text(re.compile("^… pending since"))
    dash.call("PUT", report, {"appliedVersion": 2, "streamIsOn": False, "message": "camera busy"})
    wait_text(viewer, cell("DASH16", "sync"), "✗ failed: camera busy")
    expect(viewer.locator(cell("DASH16", "sync"))).to_have_attribute("data-state", "failed")
    viewer.click(f'{row("DASH16")} button[data-action="detail"]')
    expect(viewer.locator("#detail-sync")).to_have_text("✗ failed: camera busy")
    dash.call("PUT", report, {"appliedVersion": 2, "streamIsOn": True})
    wait_text(viewer, cell("DASH16", "sync"), "✓ in sync")
