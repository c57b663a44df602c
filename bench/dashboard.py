"""The dashboard at fleet scale, in headless Chromium: ``python -m bench.dashboard``.

A private Redis and a real gateway; N drones written into the event log (the state the
snapshot comes from) and then R events per second, each a ``drone.updated`` of a random
drone with the next version. The dashboard, signed in as a viewer, shows them. Measured:

- the latency from an event's ``timestamp`` (set when it is written) to the end of the
  frame in which its row's version cell shows it (a MutationObserver in the page, stamped
  by the task after that frame; the same machine's clock),
  p50/p95/p99/max, and whether it grows (first half against second half of the run);
- the page's main-thread busy share: Chrome's ``TaskDuration`` (CDP Performance metrics)
  over wall time during the run.

``--screenshot PATH`` instead starts the API too, registers a few drones with incidents
and a broadcast through REST, and saves a screenshot of the dashboard (docs/img).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import redis
import requests

from shared.auth import mint_token
from shared.eventlog import EventLog
from shared.settings import Settings
from tests.support.events import DroneEventWriter
from tests.support.redis_server import RedisServer, free_port
from tests.support.services import ServiceProcess

SECRET = "bench-dashboard-" + "k" * 40
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
CATEGORIES = ("Surveillance", "Inspection", "Delivery", "Mapping")
OBSERVER = """() => {
  // The render of a frame changes the cells; the task that follows it runs once that frame
  // is laid out and painted: its time is when the row showed the change.
  window.__seen = [];
  const body = document.getElementById('fleet-body');
  new MutationObserver((records) => {
    const changed = [];
    for (const r of records) {
      const cell = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (!cell || cell.dataset.field !== 'version') continue;
      changed.push([cell.parentElement.dataset.serial, Number(cell.textContent)]);
    }
    if (changed.length) setTimeout(() => {
      const now = Date.now();
      for (const [serial, version] of changed) window.__seen.push([serial, version, now]);
    }, 0);
  }).observe(body, {subtree: true, childList: true, characterData: true});
}"""


def _full(serial: str, version: int, index: int) -> dict:
    return {
        "deviceSerialNumber": serial,
        "deviceName": f"Drone {index:04d}",
        "deviceCategory": CATEGORIES[index % len(CATEGORIES)],
        "streamIsOn": version % 2 == 0,
        "aiDetectionEnabled": index % 3 == 0,
        "detectionClasses": ["person", "vehicle"][: 1 + index % 2],
        "version": version,
        "updatedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
    }


def _settings(workdir: Path, redis_url: str, **extra) -> Settings:
    return Settings.from_env(
        {},
        redis_url=redis_url,
        key_prefix="benchdash",
        var_dir=workdir / "var",
        jwt_secret=SECRET,
        rate_limits_enabled=False,
        **extra,
    )


def measure(drones: int, rate: float, seconds: float, workdir: Path, visible: int = 0) -> dict:
    from playwright.sync_api import expect, sync_playwright

    redis_server = RedisServer(workdir / "redis").start()
    settings = _settings(workdir, redis_server.url)
    port = free_port()
    gateway = ServiceProcess(
        "services.gateway", settings.replace(gateway_port=port), port, workdir / "gw.log"
    )
    client = redis.Redis.from_url(redis_server.url)
    writer = DroneEventWriter(EventLog(client, settings.key_prefix))
    serials = [f"FLEET{i:04d}" for i in range(drones)]
    for i, serial in enumerate(serials):
        full = _full(serial, 1, i)
        writer.write(
            serial, **{k: v for k, v in full.items() if k not in ("deviceSerialNumber", "version")}
        )
    gateway.start()
    written: dict[tuple[str, int], float] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(gateway.url + "/dashboard")
            page.fill("#token", mint_token(SECRET, "viewer", "bench-viewer"))
            page.click("#sign-in")
            expect(page.locator("#fleet-body [data-serial]")).to_have_count(drones, timeout=60_000)
            if os.environ.get("BENCH_CSS"):
                page.add_style_tag(content=os.environ["BENCH_CSS"])
            page.evaluate(OBSERVER)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable", {"timeDomain": "timeTicks"})
            before = _metrics(cdp)
            wall0 = time.monotonic()
            # visible > 0: every event for the first rows, the ones on screen (the worst case).
            _publish(writer, serials[:visible] if visible else serials, rate, seconds, written)
            # Let the last events arrive, then read what the page saw.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and page.evaluate("window.__seen.length") < len(
                written
            ):
                time.sleep(0.1)
            wall = time.monotonic() - wall0
            after = _metrics(cdp)
            seen = page.evaluate("window.__seen")
            browser.close()
    finally:
        gateway.stop()
        client.close()
        redis_server.stop()
    # A drone changed twice within one frame shows only its newer version: an event counts
    # as shown when its version, or a newer one, first appears in its row.
    first_shown: dict[str, list[tuple[int, float]]] = {}
    for serial, version, at in seen:
        first_shown.setdefault(serial, []).append((version, at))
    latencies = []
    for (serial, version), ms in sorted(written.items(), key=lambda kv: kv[1]):
        at = next((at for v, at in first_shown.get(serial, []) if v >= version), None)
        if at is not None:
            latencies.append(at - ms)
    half = len(latencies) // 2
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    return {
        "drones": drones,
        "changed_drones": visible or drones,
        "rate_per_s": rate,
        "seconds": seconds,
        "events": len(written),
        "shown": len(latencies),
        "latency_ms": {
            "p50": round(quantiles[49], 1),
            "p95": round(quantiles[94], 1),
            "p99": round(quantiles[98], 1),
            "max": round(max(latencies), 1) if latencies else None,
            "first_half_p50": round(statistics.median(latencies[:half]), 1) if half else None,
            "second_half_p50": round(statistics.median(latencies[half:]), 1) if half else None,
        },
        "main_thread_busy_share": round((after["TaskDuration"] - before["TaskDuration"]) / wall, 3),
        "script_share": round((after["ScriptDuration"] - before["ScriptDuration"]) / wall, 3),
        "layout_share": round(
            (
                after["LayoutDuration"]
                + after["RecalcStyleDuration"]
                - before["LayoutDuration"]
                - before["RecalcStyleDuration"]
            )
            / wall,
            3,
        ),
    }


def _metrics(cdp) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def _publish(writer, serials, rate, seconds, written) -> None:
    """``rate`` events per second for ``seconds``, paced against the clock (no drift)."""
    versions = dict.fromkeys(serials, 1)
    index = {serial: i for i, serial in enumerate(serials)}
    rng = random.Random(7)
    start = time.monotonic()
    for n in range(int(rate * seconds)):
        wait = start + n / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        serial = rng.choice(serials)
        versions[serial] += 1
        full = _full(serial, versions[serial], index[serial])
        written[(serial, versions[serial])] = time.time() * 1000
        writer.write(
            serial, **{k: v for k, v in full.items() if k not in ("deviceSerialNumber", "version")}
        )


def screenshot(path: Path, workdir: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    redis_server = RedisServer(workdir / "redis").start()
    gw_port, api_port = free_port(), free_port()
    settings = _settings(
        workdir, redis_server.url, allowed_origins=(f"http://127.0.0.1:{gw_port}",)
    )
    api = ServiceProcess(
        "services.api", settings.replace(api_port=api_port), api_port, workdir / "api.log"
    )
    gateway = ServiceProcess(
        "services.gateway",
        settings.replace(gateway_port=gw_port, api_public_url=f"http://127.0.0.1:{api_port}"),
        gw_port,
        workdir / "gw.log",
    )
    api.start()
    gateway.start()
    admin = {"Authorization": f"Bearer {mint_token(SECRET, 'admin', 'bench-admin')}"}

    def call(method, route, body=None):
        r = requests.request(
            method, f"{api.url}/api/v1{route}", json=body, headers=admin, timeout=10
        )
        r.raise_for_status()

    fleet = [
        ("HARBOR-01", "Harbour east", "Surveillance", True, True, ["person", "boat"]),
        ("HARBOR-02", "Harbour west", "Surveillance", False, True, ["person"]),
        ("BRIDGE-07", "North bridge", "Inspection", True, False, []),
        ("DEPOT-11", "Depot roof", "Surveillance", True, True, ["person", "vehicle"]),
        ("FIELD-03", "Solar field", "Mapping", False, False, []),
    ]
    try:
        for serial, name, category, _stream, ai, classes in fleet:
            call(
                "POST",
                "/drones/register",
                {
                    "deviceSerialNumber": serial,
                    "deviceName": name,
                    "deviceCategory": category,
                    "aiDetectionEnabled": ai,
                    "detectionClasses": classes,
                },
            )
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(
                viewport={"width": int(os.environ.get("SHOT_W", 1500)), "height": 900}
            )
            page.goto(gateway.url + "/dashboard")
            page.fill("#token", mint_token(SECRET, "operator", "ops-alice"))
            page.click("#sign-in")
            page.wait_for_selector('#fleet-body [data-serial="FIELD-03"]')
            for serial, _, _, stream, _, _ in fleet:
                if stream:
                    call("PUT", f"/drones/{serial}/stream", {"streamIsOn": True})
            incidents = [
                ("HARBOR-01", "intrusion", "person", 0.93, [0.58, 0.42, 0.12, 0.3]),
                ("DEPOT-11", "vehicle", "truck", 0.81, [0.1, 0.5, 0.35, 0.3]),
                ("HARBOR-01", "intrusion", "boat", 0.77, [0.2, 0.55, 0.3, 0.2]),
            ]
            for serial, kind, label, confidence, box in incidents:
                call(
                    "POST",
                    f"/drones/{serial}/incidents",
                    {"type": kind, "label": label, "confidence": confidence, "boundingBox": box},
                )
            # What the detectors report back: in sync, behind, refusing, and silent.
            reports = {
                "HARBOR-01": {"appliedVersion": 2, "streamIsOn": True},
                "HARBOR-02": {"appliedVersion": 1},
                "BRIDGE-07": {"appliedVersion": 1},
                "DEPOT-11": {"appliedVersion": 2, "streamIsOn": False, "message": "camera busy"},
            }
            for serial, body in reports.items():
                call("PUT", f"/drones/{serial}/reported", body)
            call(
                "POST",
                "/system/broadcast",
                {
                    "message": "Wind warning: gusts over 40 km/h at the harbour from 14:00",
                    "level": "warning",
                },
            )
            page.wait_for_selector("#banners .banner")
            expect(page.locator("#incidents li")).to_have_count(3)
            page.click('#fleet-body [data-serial="HARBOR-01"] button[data-action="detail"]')
            page.wait_for_selector("#detail-incidents li .bbox")
            page.wait_for_selector("#detail-history li")
            page.wait_for_timeout(2500)  # let the change highlights fade for a calm picture
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(path), full_page=True)
            browser.close()
    finally:
        gateway.stop()
        api.stop()
        redis_server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drones", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--visible", type=int, default=0, help="send every event to the first N drones (on screen)"
    )
    parser.add_argument("--screenshot", type=Path, help="save a screenshot here instead")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        if args.screenshot:
            screenshot(args.screenshot, Path(tmp))
            print(f"saved {args.screenshot}")
            return
        result = measure(args.drones, args.rate, args.seconds, Path(tmp), args.visible)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
