// Unit tests of the dashboard's pure helpers (node --test): the device-state column and
// relative times. The page itself is tested in Chromium (tests/clients/test_dashboard.py).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ago, syncOf } from "../../services/gateway/static/dashboard/fleet.js";

const now = Date.parse("2026-12-04T12:00:00Z");

test("a drone without reported state shows nothing to report", () => {
  assert.deepEqual(syncOf({ version: 3 }, now), { state: "unknown", text: "–" });
  assert.deepEqual(syncOf(undefined, now), { state: "unknown", text: "–" });
});

test("in sync, pending since when, or failed with the device's message", () => {
  const drone = { version: 4, updatedAt: "2026-12-04T11:59:30Z" };
  assert.equal(syncOf({ ...drone, inSync: true, reported: { appliedVersion: 4 } }, now).state, "in-sync");
  assert.deepEqual(syncOf({ ...drone, inSync: false, reported: null }, now), {
    state: "pending",
    text: "… no report yet",
  });
  assert.deepEqual(syncOf({ ...drone, inSync: false, reported: { appliedVersion: 3 } }, now), {
    state: "pending",
    text: "… pending since 30 s ago",
  });
  assert.deepEqual(syncOf({ ...drone, inSync: false, reported: { appliedVersion: 4, message: "camera busy" } }, now), {
    state: "failed",
    text: "✗ failed: camera busy",
  });
  assert.equal(syncOf({ ...drone, inSync: false, reported: { appliedVersion: 4 } }, now).state, "failed");
});

test("relative times", () => {
  assert.equal(ago(now - 5000, now), "5 s ago");
  assert.equal(ago(now - 5 * 60000, now), "5 min ago");
  assert.equal(ago(now - 3 * 3600000, now), "3 h ago");
  assert.equal(ago(NaN, now), "–");
});
