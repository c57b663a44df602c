// drone-events: a client of the drone events gateway for browsers and Node (ES module).
//
// It follows the resume protocol of docs/clients.md ("The client's algorithm"): subscribe on
// every (re)connection with `since` = the newest event handled, replace the state from a
// snapshot when the resume was not complete, apply drone events by `version`, drop events
// already handled, retry temporary refusals with backoff, and follow `reconnect_elsewhere`.
//
// It imports nothing: pass the official socket.io-client's `io` as an option (Node:
// `import { io } from "socket.io-client"`, or use ./index.js which does), or load the
// browser build (`socket.io.min.js`) first so that `globalThis.io` exists.

export const SOCKETIO_PATH = "/ws/events";

// The life of a client, one value at a time (client.state, the "state" event).
export const State = Object.freeze({
  IDLE: "idle", // not started, or closed by close()
  CONNECTING: "connecting", // first connection under way
  SUBSCRIBING: "subscribing", // connected, subscribe sent, answer awaited
  RETRYING: "retrying", // connected, the gateway answered "unavailable": asking again soon
  LIVE: "live", // connected and subscribed: events flow
  RECONNECTING: "reconnecting", // the connection was lost; socket.io is reconnecting
  FAILED: "failed", // refused for good (bad token, forbidden subscription): needs the app
});

const MAX_RETRY_SECONDS = 30;
const ACK_TIMEOUT_MS = 15000;
// Answers of gateways older than the "code" field (PROTOCOL point 1) say this instead.
const UNAVAILABLE_MESSAGE = /unavailable|try again/i;
// connect_error messages after which trying again later may succeed.
const TRANSIENT_REFUSAL = /shutting down|too many connection|retry later/i;

/** Parse an event id "ms-seq" into [ms, seq] (numbers), or null when malformed. */
export function parseId(id) {
  const m = typeof id === "string" ? /^(\d{1,16})-(\d{1,16})$/.exec(id) : null;
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** Compare two event ids as (milliseconds, sequence): negative, 0 or positive. */
export function compareIds(a, b) {
  const x = parseId(a);
  const y = parseId(b);
  if (!x || !y) throw new TypeError(`not an event id: ${!x ? a : b}`);
  return x[0] - y[0] || x[1] - y[1];
}

/** Whether a refusal is temporary (PROTOCOL point 1), also for gateways without "code". */
export function isUnavailable(answer) {
  if (!answer || answer.ok !== false) return false;
  if (answer.code) return answer.code === "unavailable";
  return UNAVAILABLE_MESSAGE.test(String(answer.error || ""));
}

/** The next retry delay in seconds: `retryAfter` first, then doubled up to 30 s, +-20 %. */
export function nextRetryDelay(previous, retryAfter, random = Math.random) {
  const base = previous == null ? Math.max(0.1, Number(retryAfter) || 1) : previous * 2;
  const capped = Math.min(MAX_RETRY_SECONDS, base);
  return { base: capped, delay: capped * (0.8 + 0.4 * random()) };
}

// Events that carry the drone document and bump `version`.
const STATE_EVENTS = new Set([
  "drone.created",
  "drone.updated",
  "drone.stream.status",
  "drone.ai.detection.toggled",
  "drone.detection.classes.changed",
]);

/**
 * The state a client keeps: drones by serial and the highest version applied per drone.
 * Plain and synchronous, so it is tested without a network.
 */
export class FleetState {
  constructor() {
    this.drones = new Map();
    this.versions = new Map();
  }

  /** Replace everything with a snapshot (a list of drone documents). */
  reset(drones) {
    this.drones = new Map();
    this.versions = new Map();
    for (const drone of drones || []) {
      if (drone && typeof drone.deviceSerialNumber === "string") {
        this.drones.set(drone.deviceSerialNumber, drone);
        this.versions.set(drone.deviceSerialNumber, Number(drone.version) || 0);
      }
    }
  }

  /**
   * Apply one drone event; returns what changed: {kind: "upsert"|"delete"|"incident"|
   * "reported"|"other", serial, drone} or null when the event is older than the state.
   */
  apply(event) {
    const serial = event.droneSerial;
    const version = Number(event.version);
    const known = this.versions.get(serial);
    const data = event.data || {};
    if (STATE_EVENTS.has(event.event)) {
      // Every event of one change carries the same version: the first one applies it.
      if (known !== undefined && !(version > known)) return null;
      const drone = data.full || this._patched(serial, event);
      if (!drone) return null;
      this.drones.set(serial, drone);
      this.versions.set(serial, version);
      return { kind: "upsert", serial, drone };
    }
    if (event.event === "drone.deleted") {
      if (known !== undefined && version < known) return null;
      this.drones.delete(serial);
      this.versions.delete(serial);
      return { kind: "delete", serial, drone: data.full || null };
    }
    if (event.event === "drone.reported") {
      // Does not bump version: apply when it is not older than the state.
      if (known === undefined || version < known) return null;
      const drone = { ...this.drones.get(serial), reported: data.reported ?? null };
      if ("inSync" in data) drone.inSync = data.inSync;
      this.drones.set(serial, drone);
      return { kind: "reported", serial, drone };
    }
    if (event.event === "drone.incident.detected") {
      if (known !== undefined && version < known) return null;
      return { kind: "incident", serial, drone: this.drones.get(serial) || null };
    }
    return { kind: "other", serial, drone: this.drones.get(serial) || null };
  }

  /** Merge one drone document (from a partial snapshot) unless the state is newer. */
  merge(drone) {
    const serial = drone && drone.deviceSerialNumber;
    if (typeof serial !== "string") return;
    const known = this.versions.get(serial);
    if (known !== undefined && !(Number(drone.version) > known)) return;
    this.drones.set(serial, drone);
    this.versions.set(serial, Number(drone.version) || 0);
  }

  // A state event without `full` (not sent by this gateway, but cheap to accept).
  _patched(serial, event) {
    const current = this.drones.get(serial);
    if (!current) return null;
    const { full, added, removed, changes, ...fields } = event.data || {};
    const next = { ...current, ...fields, version: Number(event.version) };
    for (const [field, change] of Object.entries(changes || {})) next[field] = change.new;
    return next;
  }
}

class Emitter {
  constructor() {
    this._handlers = new Map();
  }

  on(name, handler) {
    if (!this._handlers.has(name)) this._handlers.set(name, new Set());
    this._handlers.get(name).add(handler);
    return () => this.off(name, handler);
  }

  off(name, handler) {
    this._handlers.get(name)?.delete(handler);
  }

  emit(name, ...args) {
    for (const handler of [...(this._handlers.get(name) || [])]) {
      try {
        handler(...args);
      } catch (err) {
        // One failing handler must not stop delivery to the others nor the client.
        if (name !== "handlerError") this.emit("handlerError", err, name);
        else console.error(err);
      }
    }
  }
}

/**
 * A connection to the gateway that keeps one subscription, resumes it, and (keepState)
 * the fleet it covers.
 *
 * Options: url (default: the page's origin), token (string, or a function returning a
 * string or a promise, called on every connection), io (socket.io-client's io), path,
 * subscription ({all: true} | {droneSerial} | {droneSerials}), keepState (default true:
 * ask for snapshots and keep client.drones), transports, reconnectionDelay(Max),
 * refreshBeforeSeconds (with a token function: refresh the session that long before it
 * expires; default 60), random (for tests).
 *
 * Events (client.on(name, fn)): "state" (state, detail), "subscribed" (answer, {resumed,
 * reloaded}), "snapshot" (drones Map, answer), "change" (change, event), "event" (event,
 * change|null), "broadcast" (event), "incident" (event), "duplicate" (event), "missed"
 * ({after, until}), "refreshed" (answer), "error" (Error with .code), "handlerError".
 */
export class DroneEventsClient extends Emitter {
  constructor(options = {}) {
    super();
    const io = options.io || globalThis.io;
    if (typeof io !== "function") throw new TypeError("pass socket.io-client's io as options.io");
    this._io = io;
    this.url = options.url || (globalThis.location ? globalThis.location.origin : undefined);
    if (!this.url) throw new TypeError("options.url is required outside a browser");
    this._token = options.token;
    this.path = options.path || SOCKETIO_PATH;
    // What the application asked for, subscribed again on every connection.
    this._wanted = { all: false, serials: new Set() };
    this._want(options.subscription === undefined ? { all: true } : options.subscription, true);
    this.keepState = options.keepState !== false;
    this.resume = options.resume !== false;
    this._options = options;
    this._random = options.random || Math.random;
    this.fleet = new FleetState();
    this.position = null;
    this.epoch = null;
    this.state = State.IDLE;
    this.stateDetail = "";
    this.lastEventAt = null; // when the newest event was handled (ms since epoch, local)
    this.lastEventTimestamp = null; // its `timestamp` (server time)
    this.expiresAt = null;
    this.duplicatesDropped = 0;
    this.socket = null;
    this._subscribing = false;
    this._buffer = [];
    this._retry = null; // {timer, base}
    this._history = null; // the history request in flight: {after, until, events}
    this._movingElsewhere = false;
    this._refreshTimer = null;
  }

  /** The drones the client keeps (serial -> document), with keepState. */
  get drones() {
    return this.fleet.drones;
  }

  /** Start connecting; resolves when the first subscription is answered ok. */
  connect() {
    if (this.socket) return this._firstLive;
    this._firstLive = new Promise((resolve, reject) => {
      this._resolveFirst = resolve;
      this._rejectFirst = reject;
    });
    const socket = this._io(this.url, {
      path: this.path,
      transports: this._options.transports || ["websocket", "polling"],
      reconnection: true,
      reconnectionDelay: this._options.reconnectionDelay ?? 500,
      reconnectionDelayMax: this._options.reconnectionDelayMax ?? 5000,
      // A function: each (re)connection asks for the current token.
      auth: (cb) => {
        Promise.resolve(typeof this._token === "function" ? this._token() : this._token).then(
          (token) => cb({ token }),
          (err) => {
            this.emit("error", Object.assign(new Error(`token: ${err.message}`), { code: "token" }));
            cb({ token: null });
          },
        );
      },
    });
    this.socket = socket;
    this._setState(State.CONNECTING);
    socket.on("connect", () => this._subscribe());
    socket.on("connected", (greeting) => {
      if (greeting && greeting.expiresAt) this._setExpiry(greeting.expiresAt);
    });
    socket.on("disconnect", (reason) => this._onDisconnect(reason));
    socket.on("connect_error", (err) => this._onConnectError(err));
    socket.on("drone:event", (event) => this._onEvent(event));
    socket.on("system:broadcast", (event) => this._onEvent(event));
    socket.on("missed", (notice) => this.emit("missed", notice));
    socket.on("reconnect_elsewhere", (data) => {
      // The transport is closing: reconnect (to this gateway or another) and resume.
      this._movingElsewhere = true;
      this.emit("reconnectElsewhere", data);
    });
    socket.on("refreshed", (answer) => {
      if (answer && answer.ok) this._setExpiry(answer.expiresAt);
    });
    return this._firstLive;
  }

  /** Close the connection for good (until connect() again). State stays as it was. */
  close() {
    this._cancelRetry();
    clearTimeout(this._refreshTimer);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.removeAllListeners();
      socket.disconnect();
    }
    this._setState(State.IDLE, "closed");
  }

  /**
   * Hand the gateway a new token (same subject); later reconnections use it too.
   * Resolves with the answer {ok, expiresAt} or {ok: false, error}.
   */
  async refreshToken(token) {
    if (!this.socket || !this.socket.connected) throw new Error("not connected");
    const answer = await this._ask("refresh", { token });
    if (answer.ok && typeof this._token !== "function") this._token = token;
    this.emit("refreshed", answer);
    return answer;
  }

  /**
   * Events of the history after `after` (and up to `until`) that the subscription takes,
   * a page at a time until `maxEvents`, oldest first; they do not touch the state.
   * Resolves with {recovered, events, next}.
   */
  async history({ after, until, limit = 500, maxEvents = 2000 } = {}) {
    if (this._history) throw new Error("one history request at a time");
    const events = [];
    let cursor = after;
    try {
      while (cursor && events.length < maxEvents) {
        this._history = { after: cursor, until, events };
        const request = { after: cursor, limit };
        if (until) request.until = until;
        const answer = await this._ask("history", request);
        if (!answer.ok) throw Object.assign(new Error(answer.error), { code: answer.code || "history" });
        if (answer.recovered === false) return { recovered: false, events, next: null };
        cursor = answer.next;
      }
      return { recovered: true, events, next: cursor || null };
    } finally {
      this._history = null;
    }
  }

  /** The subscription asked for: {all: true}, {droneSerials: [...]} or null (none). */
  get subscription() {
    if (this._wanted.all) return { all: true };
    return this._wanted.serials.size ? { droneSerials: [...this._wanted.serials].sort() } : null;
  }

  /**
   * Add drones to the subscription ({all: true}, {droneSerial} or {droneSerials}); kept
   * across reconnections. Connected, it asks the gateway now (with `snapshot`, the new
   * drones' documents are merged into the state) and resolves with the answer.
   */
  async subscribe(shape, { snapshot = this.keepState } = {}) {
    this._want(shape, true);
    if (!this.socket || !this.socket.connected || this.state !== State.LIVE) return null;
    const request = { ...shape };
    if (snapshot) request.snapshot = true;
    const answer = await this._ask("subscribe", request);
    if (answer.ok && this.position === null && answer.position) this.position = answer.position;
    if (answer.ok && this.keepState && Array.isArray(answer.snapshot)) {
      for (const drone of answer.snapshot) this.fleet.merge(drone);
      this.emit("snapshot", this.fleet.drones, answer);
    }
    this.emit("subscribed", answer, { resumed: false, reloaded: false });
    return answer;
  }

  /** Remove drones from the subscription (the same shapes; {all: true} removes all). */
  async unsubscribe(shape) {
    this._want(shape, false);
    if (!this.socket || !this.socket.connected) return null;
    return this._ask("unsubscribe", shape);
  }

  _want(shape, add) {
    if (!shape) return;
    const serials = shape.droneSerials || (shape.droneSerial ? [shape.droneSerial] : []);
    if (shape.all) {
      this._wanted.all = add;
      if (!add) this._wanted.serials.clear();
    }
    for (const serial of serials) {
      if (add) this._wanted.serials.add(serial);
      else this._wanted.serials.delete(serial);
    }
  }

  // --- subscribing -------------------------------------------------------------------
  async _subscribe() {
    if (!this.socket || !this.socket.connected) return;
    this._cancelRetry(false);
    if (!this.resume) this.position = null;
    const shape = this.subscription;
    if (shape === null) {
      this._setState(State.LIVE, "no subscription");
      this._resolveFirst?.(null);
      this._resolveFirst = this._rejectFirst = null;
      return;
    }
    this._subscribing = true;
    this._setState(State.SUBSCRIBING);
    const since = this.position;
    const request = { ...shape };
    if (since !== null) request.since = since;
    if (this.keepState) request.snapshot = true;
    let answer;
    try {
      answer = await this._ask("subscribe", request);
    } catch (err) {
      // No answer in time (the connection is probably gone): treat as temporary.
      answer = { ok: false, code: "unavailable", error: err.message, retryAfter: 1 };
    }
    if (!this.socket || !this.socket.connected) return;
    if (!answer.ok) {
      this._subscribing = false;
      this._buffer = [];
      if (isUnavailable(answer)) {
        this._scheduleRetry(answer);
      } else {
        const err = Object.assign(new Error(`subscription refused: ${answer.error}`), {
          code: answer.code || "refused",
          answer,
        });
        this._setState(State.FAILED, answer.error);
        this.emit("error", err);
        this._rejectFirst?.(err);
      }
      return;
    }
    this._retry = null;
    const reloaded = since === null || answer.recovered === false;
    if (reloaded) {
      if (this.keepState && Array.isArray(answer.snapshot)) {
        this.fleet.reset(answer.snapshot);
        this.emit("snapshot", this.fleet.drones, answer);
      }
      if (answer.position) this.position = answer.position;
    }
    if (answer.epoch) this.epoch = answer.epoch;
    this._subscribing = false;
    this._setState(State.LIVE, reloaded && since !== null ? "reloaded" : since ? "resumed" : "");
    this.emit("subscribed", answer, { resumed: since !== null && !reloaded, reloaded: reloaded && since !== null });
    this._resolveFirst?.(answer);
    this._resolveFirst = this._rejectFirst = null;
    // Events that came while the answer was awaited, in order, through the usual checks.
    const buffered = this._buffer;
    this._buffer = [];
    for (const event of buffered) this._handle(event);
    this._scheduleRefresh();
  }

  _scheduleRetry(answer) {
    const { base, delay } = nextRetryDelay(this._retry?.base ?? null, answer.retryAfter, this._random);
    this._setState(State.RETRYING, `${answer.error || "unavailable"}; again in ${delay.toFixed(1)} s`);
    this._retry = { base, timer: setTimeout(() => this._subscribe(), delay * 1000) };
  }

  _cancelRetry(forget = true) {
    if (this._retry?.timer) clearTimeout(this._retry.timer);
    if (this._retry) this._retry.timer = null;
    if (forget) this._retry = null;
  }

  _ask(name, payload) {
    return new Promise((resolve, reject) => {
      this.socket.timeout(ACK_TIMEOUT_MS).emit(name, payload, (err, answer) => {
        if (err) reject(new Error(`no answer to ${name}`));
        else resolve(answer || { ok: false, error: "empty answer" });
      });
    });
  }

  // --- events --------------------------------------------------------------------------
  _onEvent(event) {
    if (!event || !parseId(event.id)) return;
    // Not subscribed (yet, or refused): a resume from `position` brings it again.
    if (this.state !== State.LIVE && !this._subscribing) return;
    if (this._subscribing) {
      this._buffer.push(event);
      return;
    }
    this._handle(event);
  }

  _handle(event) {
    if (this.position !== null && compareIds(event.id, this.position) <= 0) {
      const h = this._history;
      if (h && compareIds(event.id, h.after) > 0 && (!h.until || compareIds(event.id, h.until) <= 0)) {
        h.events.push(event);
        return;
      }
      this.duplicatesDropped += 1;
      this.emit("duplicate", event);
      return;
    }
    this.position = event.id;
    this.lastEventAt = Date.now();
    this.lastEventTimestamp = event.timestamp || null;
    if (event.event === "system.broadcast") {
      this.emit("broadcast", event);
      this.emit("event", event, null);
      return;
    }
    const change = this.keepState ? this.fleet.apply(event) : null;
    if (change) this.emit("change", change, event);
    if (event.event === "drone.incident.detected" && (change || !this.keepState)) {
      this.emit("incident", event);
    }
    this.emit("event", event, change);
  }

  // --- connection life -----------------------------------------------------------------
  _onDisconnect(reason) {
    this._cancelRetry();
    this._subscribing = false;
    this._buffer = [];
    if (!this.socket) return;
    if (reason === "io server disconnect") {
      // socket.io does not reconnect by itself after the server closed the session: the
      // gateway moving us elsewhere, or an expired token (reconnect when a function can
      // give a fresh one).
      if (this._movingElsewhere || typeof this._token === "function") {
        this._movingElsewhere = false;
        this._setState(State.RECONNECTING, reason);
        setTimeout(() => this.socket && this.socket.connect(), 200 + 800 * this._random());
      } else {
        this._setState(State.FAILED, "disconnected by the gateway (token expired?)");
        this.emit("error", Object.assign(new Error("disconnected by the gateway"), { code: "expired" }));
      }
      return;
    }
    this._movingElsewhere = false;
    this._setState(State.RECONNECTING, reason);
  }

  _onConnectError(err) {
    const message = (err && err.message) || String(err);
    if (!this.socket) return;
    if (this.socket.active) {
      this._setState(this.position === null && this.state === State.CONNECTING ? State.CONNECTING : State.RECONNECTING, message);
    } else if (TRANSIENT_REFUSAL.test(message)) {
      this._setState(State.RECONNECTING, message);
      setTimeout(() => this.socket && this.socket.connect(), 1000 + 1000 * this._random());
    } else {
      const error = Object.assign(new Error(message), { code: "unauthorized" });
      this._setState(State.FAILED, message);
      this.emit("error", error);
      this._rejectFirst?.(error);
    }
  }

  _setExpiry(expiresAt) {
    this.expiresAt = expiresAt;
    this._scheduleRefresh();
  }

  // With a token function, refresh the session shortly before it expires.
  _scheduleRefresh() {
    clearTimeout(this._refreshTimer);
    if (typeof this._token !== "function" || !this.expiresAt) return;
    const before = this._options.refreshBeforeSeconds ?? 60;
    const wait = Math.max(1000, this.expiresAt * 1000 - before * 1000 - Date.now());
    this._refreshTimer = setTimeout(async () => {
      try {
        const token = await this._token();
        if (this.socket && this.socket.connected) await this.refreshToken(token);
      } catch (err) {
        this.emit("error", Object.assign(err, { code: err.code || "refresh" }));
      }
    }, Math.min(wait, 2 ** 31 - 1));
  }

  _setState(state, detail = "") {
    if (this.state === state && this.stateDetail === detail) return;
    this.state = state;
    this.stateDetail = detail;
    this.emit("state", state, detail);
  }
}
