// Unit tests of the drone-events library against a scripted fake socket (node --test).
// The process-level tests against a real gateway are tests/clients/test_js_library.py.
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import {
  DroneEventsClient,
  FleetState,
  State,
  compareIds,
  isUnavailable,
  nextRetryDelay,
} from "../../clients/js/src/drone-events.js";

const drone = (serial, version, fields = {}) => ({ deviceSerialNumber: serial, version, streamIsOn: false, ...fields });
const change = (id, serial, version, type = "drone.stream.status", fields = {}) => ({
  id,
  event: type,
  droneSerial: serial,
  version,
  data: { full: drone(serial, version, fields) },
});

// A fake socket.io socket: records emits, lets the test answer them and push events.
class FakeSocket {
  constructor() {
    this.handlers = new Map();
    this.asked = [];
    this.connected = false;
    this.active = true;
    this.connects = 0;
  }
  on(name, fn) {
    this.handlers.set(name, fn);
  }
  fire(name, ...args) {
    this.handlers.get(name)?.(...args);
  }
  timeout() {
    return this;
  }
  emit(name, payload, ack) {
    this.asked.push({ name, payload, ack });
  }
  answer(reply) {
    const { ack } = this.asked.shift();
    ack(null, reply);
  }
  open() {
    this.connected = true;
    this.fire("connect");
  }
  connect() {
    this.connects += 1;
  }
  removeAllListeners() {}
  disconnect() {}
}

function started(options = {}) {
  const socket = new FakeSocket();
  const client = new DroneEventsClient({ io: () => socket, url: "http://gw", token: "t", random: () => 0.5, ...options });
  const seen = { events: [], states: [], errors: [], duplicates: 0 };
  client.on("event", (e) => seen.events.push(e.id));
  client.on("state", (s) => seen.states.push(s));
  client.on("error", (e) => seen.errors.push(e));
  client.on("duplicate", () => (seen.duplicates += 1));
  client.connect().catch(() => {});
  socket.open();
  return { socket, client, seen };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test("ids compare as (milliseconds, sequence), not as strings", () => {
  assert.ok(compareIds("10-0", "9-9") > 0);
  assert.ok(compareIds("5-10", "5-9") > 0);
  assert.equal(compareIds("5-1", "5-1"), 0);
  assert.throws(() => compareIds("x", "1-0"), TypeError);
});

test("unavailable answers are recognised with or without a code", () => {
  assert.ok(isUnavailable({ ok: false, code: "unavailable", retryAfter: 1 }));
  assert.ok(isUnavailable({ ok: false, error: "event history unavailable, try again" }));
  assert.ok(!isUnavailable({ ok: false, code: "forbidden", error: "forbidden: unavailable" }));
  assert.ok(!isUnavailable({ ok: false, error: "forbidden: this token may not subscribe to all drones" }));
  assert.ok(!isUnavailable({ ok: true }));
});

test("retry delays start at retryAfter, double, stop at 30 s, with jitter", () => {
  let step = nextRetryDelay(null, 2, () => 0.5);
  assert.deepEqual(step, { base: 2, delay: 2 });
  const bases = [];
  for (let i = 0; i < 6; i += 1) bases.push((step = nextRetryDelay(step.base, 2, () => 0.5)).base);
  assert.deepEqual(bases, [4, 8, 16, 30, 30, 30]);
  assert.equal(nextRetryDelay(null, 10, () => 0).delay, 8);
  assert.ok(Math.abs(nextRetryDelay(null, 10, () => 1).delay - 12) < 1e-9);
});

test("the fleet applies each version once and never goes backwards", () => {
  const fleet = new FleetState();
  fleet.reset([drone("A", 2)]);
  assert.equal(fleet.apply(change("1-0", "A", 2)), null); // already in the snapshot
  assert.equal(fleet.apply(change("1-1", "A", 3, "drone.updated", { streamIsOn: true })).kind, "upsert");
  assert.equal(fleet.apply(change("1-2", "A", 3, "drone.stream.status")), null); // same change
  assert.equal(fleet.drones.get("A").streamIsOn, true);
  assert.equal(fleet.apply(change("1-3", "A", 1, "drone.updated")), null);
  assert.equal(fleet.drones.get("A").version, 3);
});

test("a deleted drone disappears and its serial can come back at version 1", () => {
  const fleet = new FleetState();
  fleet.reset([drone("A", 4)]);
  assert.equal(fleet.apply({ id: "2-0", event: "drone.deleted", droneSerial: "A", version: 4, data: {} }).kind, "delete");
  assert.ok(!fleet.drones.has("A"));
  assert.equal(fleet.apply(change("2-1", "A", 1, "drone.created")).kind, "upsert");
  assert.equal(fleet.drones.get("A").version, 1);
});

test("incidents and reported state apply at the known version without bumping it", () => {
  const fleet = new FleetState();
  fleet.reset([drone("A", 3)]);
  const reported = { appliedVersion: 3, reportedAt: "t", reportedBy: "d" };
  const r = fleet.apply({ id: "3-0", event: "drone.reported", droneSerial: "A", version: 3, data: { reported, inSync: true } });
  assert.equal(r.kind, "reported");
  assert.deepEqual(fleet.drones.get("A").reported, reported);
  assert.equal(fleet.drones.get("A").inSync, true);
  assert.equal(fleet.versions.get("A"), 3);
  assert.equal(fleet.apply({ id: "3-1", event: "drone.incident.detected", droneSerial: "A", version: 3, data: {} }).kind, "incident");
  assert.equal(fleet.apply({ id: "3-2", event: "drone.reported", droneSerial: "A", version: 2, data: {} }), null);
});

test("first connect: snapshot, position, and events that came before the answer", async () => {
  const { socket, client, seen } = started();
  const { name, payload } = socket.asked[0];
  assert.equal(name, "subscribe");
  assert.deepEqual(payload, { all: true, snapshot: true }); // no since yet
  socket.fire("drone:event", change("10-0", "A", 2)); // before the answer: buffered
  socket.answer({ ok: true, subscriptions: ["all"], snapshot: [drone("A", 1)], position: "9-0" });
  await flush();
  assert.equal(client.state, State.LIVE);
  assert.deepEqual(seen.events, ["10-0"]);
  assert.equal(client.position, "10-0");
  assert.equal(client.drones.get("A").version, 2);
});

test("reconnect: resumes with since, keeps the state, drops duplicates", async () => {
  const { socket, client, seen } = started();
  socket.answer({ ok: true, subscriptions: ["all"], snapshot: [drone("A", 1)], position: "9-0" });
  await flush();
  socket.fire("drone:event", change("10-0", "A", 2));
  socket.connected = false;
  socket.fire("disconnect", "transport close");
  assert.equal(client.state, State.RECONNECTING);
  socket.open();
  assert.deepEqual(socket.asked[0].payload, { all: true, since: "10-0", snapshot: true });
  socket.answer({ ok: true, subscriptions: ["all"], recovered: true, snapshot: [drone("A", 1)], position: "12-0" });
  await flush();
  assert.equal(client.drones.get("A").version, 2); // the snapshot of a recovered resume is not used
  socket.fire("drone:event", change("10-0", "A", 2)); // replayed again: duplicate
  socket.fire("drone:event", change("11-0", "A", 3));
  assert.deepEqual(seen.events, ["10-0", "11-0"]);
  assert.equal(seen.duplicates, 1);
  assert.equal(client.position, "11-0");
});

test("a resume that is not recovered replaces the state with the snapshot", async () => {
  const { socket, client } = started();
  socket.answer({ ok: true, subscriptions: ["all"], snapshot: [drone("A", 5), drone("B", 1)], position: "9-0" });
  await flush();
  socket.connected = false;
  socket.fire("disconnect", "transport close");
  socket.open();
  let how = null;
  client.on("subscribed", (_answer, h) => (how = h));
  socket.answer({ ok: true, subscriptions: ["all"], recovered: false, snapshot: [drone("A", 2)], position: "50-0", epoch: "e2" });
  await flush();
  assert.deepEqual([...client.drones.keys()], ["A"]);
  assert.equal(client.drones.get("A").version, 2); // lower than before: a new history
  assert.equal(client.position, "50-0");
  assert.equal(client.epoch, "e2");
  assert.deepEqual(how, { resumed: false, reloaded: true });
});

test("unavailable answers are retried with backoff while connected; other refusals are not", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { socket, client, seen } = started();
    socket.answer({ ok: false, code: "unavailable", error: "snapshot rebuilding", retryAfter: 2 });
    await flush();
    assert.equal(client.state, State.RETRYING);
    assert.equal(socket.asked.length, 0);
    mock.timers.tick(1999);
    assert.equal(socket.asked.length, 0);
    mock.timers.tick(1);
    assert.equal(socket.asked.length, 1);
    socket.answer({ ok: false, error: "event history unavailable, try again" }); // old gateway
    await flush();
    mock.timers.tick(3999);
    assert.equal(socket.asked.length, 0);
    mock.timers.tick(1);
    assert.equal(socket.asked.length, 1); // doubled: 4 s
    socket.answer({ ok: false, code: "forbidden", error: "forbidden: no" });
    await flush();
    assert.equal(client.state, State.FAILED);
    assert.equal(seen.errors[0].code, "forbidden");
    mock.timers.tick(60000);
    assert.equal(socket.asked.length, 0);
  } finally {
    mock.timers.reset();
  }
});

test("a retry stops when the connection is lost, and starts over on the next one", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { socket } = started();
    socket.answer({ ok: false, code: "unavailable", error: "x", retryAfter: 1 });
    await flush();
    socket.connected = false;
    socket.fire("disconnect", "transport close");
    mock.timers.tick(5000);
    assert.equal(socket.asked.length, 0);
    socket.open();
    assert.equal(socket.asked.length, 1);
  } finally {
    mock.timers.reset();
  }
});

test("reconnect_elsewhere: the client reconnects after the server closes the session", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { socket, client } = started();
    socket.answer({ ok: true, subscriptions: ["all"], snapshot: [], position: "1-0" });
    await flush();
    socket.fire("reconnect_elsewhere", { reason: "history lost" });
    socket.connected = false;
    socket.fire("disconnect", "io server disconnect");
    assert.equal(client.state, State.RECONNECTING);
    mock.timers.tick(2000);
    assert.equal(socket.connects, 1);
  } finally {
    mock.timers.reset();
  }
});

test("events outside a subscription are ignored, not counted as handled", async () => {
  const { socket, client, seen } = started();
  socket.answer({ ok: false, code: "forbidden", error: "no" });
  await flush();
  socket.fire("system:broadcast", { id: "5-0", event: "system.broadcast", data: { message: "m", level: "info" } });
  assert.deepEqual(seen.events, []);
  assert.equal(client.position, null);
});
