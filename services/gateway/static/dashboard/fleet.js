// The fleet table: one row per drone (data-serial), one cell per field (data-field),
// updated in place at most once per animation frame, whatever the event rate. Rows are
// ARIA table rows laid out by CSS grid rather than <tr>: a grid row can skip layout and
// paint while off screen (content-visibility), so a change costs the same at 1,000 drones.
// Everything is rendered as text: drone data never becomes HTML.

const HOUR_MS = 3600 * 1000;
// A changed cell is marked for this long; one sweep removes the marks (two style changes
// per change, rather than an animation repainting the table every frame).
const HIGHLIGHT_MS = 1500;

export function ago(ms, now = Date.now()) {
  if (!Number.isFinite(ms)) return "–";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** The device's reported state as {state: "in-sync"|"pending"|"failed"|"unknown", text}. */
export function syncOf(drone, now = Date.now()) {
  if (!drone || !("inSync" in drone || "reported" in drone)) return { state: "unknown", text: "–" };
  const reported = drone.reported || null;
  if (drone.inSync === true) return { state: "in-sync", text: "✓ in sync" };
  if (!reported) return { state: "pending", text: "… no report yet" };
  const applied = reported && Number(reported.appliedVersion) >= Number(drone.version);
  if (reported && (reported.message || applied)) {
    return { state: "failed", text: `✗ failed${reported.message ? `: ${reported.message}` : ""}` };
  }
  const since = Date.parse(drone.updatedAt);
  return { state: "pending", text: `… pending ${Number.isFinite(since) ? `since ${ago(since, now)}` : ""}`.trim() };
}

const CELLS = [
  "deviceSerialNumber",
  "deviceName",
  "deviceCategory",
  "streamIsOn",
  "aiDetectionEnabled",
  "detectionClasses",
  "version",
  "updatedAt",
  "incidents",
  "sync",
];

export class FleetTable {
  constructor({ tbody, empty, count, onAction }) {
    this.tbody = tbody;
    this.empty = empty;
    this.count = count;
    this.onAction = onAction;
    this.drones = new Map();
    this.rows = new Map();
    this.incidentTimes = new Map();
    this.pending = new Map(); // serial -> Map(action -> text)
    this.errors = new Map(); // serial -> message
    this.denied = { write: "", delete: "" };
    this.sort = { field: "deviceSerialNumber", dir: 1 };
    this.filter = { text: "", category: "", stream: "" };
    this._dirty = new Set();
    this._reorder = false;
    this._frame = null;
    this._marked = new Map(); // cell -> when it was marked
    this._sweeper = null;
    this.onRendered = null; // called after each frame with the serials rendered (bench hook)
    tbody.addEventListener("click", (e) => this._click(e));
  }

  /** Replace every row's data (a snapshot): Map serial -> drone. */
  setAll(drones) {
    this.drones = drones;
    for (const serial of this.rows.keys()) this._dirty.add(serial);
    for (const serial of drones.keys()) this._dirty.add(serial);
    this._reorder = true;
    this._schedule();
  }

  /** One drone changed, appeared or disappeared. */
  changed(serial) {
    this._dirty.add(serial);
    if (!this.rows.has(serial) || !this.drones.has(serial)) this._reorder = true;
    this._schedule();
  }

  incident(serial, at) {
    const times = this.incidentTimes.get(serial) || [];
    times.push(at);
    this.incidentTimes.set(serial, times);
    this.changed(serial);
  }

  setPending(serial, action, text) {
    if (!this.pending.has(serial)) this.pending.set(serial, new Map());
    this.pending.get(serial).set(action, text);
    this.errors.delete(serial);
    this.changed(serial);
  }

  clearPending(serial, action, error = "") {
    this.pending.get(serial)?.delete(action);
    if (error) this.errors.set(serial, error);
    this.changed(serial);
  }

  setPermissions(denied) {
    this.denied = denied;
    for (const serial of this.rows.keys()) this._dirty.add(serial);
    this._schedule();
  }

  setFilter(filter) {
    this.filter = { ...this.filter, ...filter };
    for (const serial of this.rows.keys()) this._dirty.add(serial);
    this._schedule();
  }

  setSort(field) {
    this.sort = { field, dir: this.sort.field === field ? -this.sort.dir : 1 };
    this._reorder = true;
    this._schedule();
    return this.sort;
  }

  /** Refresh the relative times and hour windows (called every few seconds). */
  tick() {
    const now = Date.now();
    for (const [serial, row] of this.rows) {
      const drone = this.drones.get(serial);
      if (!drone) continue;
      row.cells.updatedAt.textContent = ago(Date.parse(drone.updatedAt), now);
      this._setText(row, "incidents", String(this._incidentsLastHour(serial, now)), false);
      const sync = syncOf(drone, now);
      this._setText(row, "sync", sync.text, false);
    }
  }

  categories() {
    const all = new Set();
    for (const drone of this.drones.values()) if (drone.deviceCategory) all.add(drone.deviceCategory);
    return [...all].sort();
  }

  // --- rendering ---------------------------------------------------------------------
  _schedule() {
    if (this._frame === null) this._frame = requestAnimationFrame(() => this.render());
  }

  render() {
    this._frame = null;
    const rendered = [...this._dirty];
    this._dirty.clear();
    const now = Date.now();
    for (const serial of rendered) {
      const drone = this.drones.get(serial);
      if (!drone) {
        this.rows.get(serial)?.tr.remove();
        this.rows.delete(serial);
        continue;
      }
      let row = this.rows.get(serial);
      const fresh = !row;
      if (fresh) {
        row = this._newRow(serial);
        this.rows.set(serial, row);
      }
      this._fill(row, serial, drone, now, !fresh);
    }
    if (this._reorder) this._order();
    let visible = 0;
    for (const row of this.rows.values()) if (!row.tr.hidden) visible += 1;
    this.count.textContent = `(${visible} of ${this.rows.size})`;
    this.empty.hidden = visible > 0;
    if (this.onRendered) this.onRendered(rendered);
  }

  _newRow(serial) {
    const tr = document.createElement("div");
    tr.className = "frow";
    tr.setAttribute("role", "row");
    tr.dataset.serial = serial;
    const cells = {};
    for (const field of CELLS) {
      const td = document.createElement("div");
      td.setAttribute("role", field === "deviceSerialNumber" ? "rowheader" : "cell");
      td.dataset.field = field;
      cells[field] = td;
      tr.append(td);
    }
    const actions = document.createElement("div");
    actions.setAttribute("role", "cell");
    actions.className = "actions";
    const button = (action, label) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.action = action;
      b.textContent = label;
      actions.append(b);
      return b;
    };
    const buttons = {
      stream: button("stream", "Stream"),
      ai: button("ai", "AI"),
      classes: button("classes", "Classes…"),
      detail: button("detail", "Details"),
      delete: button("delete", "Delete"),
    };
    buttons.detail.setAttribute("aria-label", `Details of ${serial}`);
    buttons.classes.setAttribute("aria-label", `Edit detection classes of ${serial}`);
    buttons.delete.setAttribute("aria-label", `Delete ${serial}`);
    const status = document.createElement("span");
    status.className = "status";
    status.dataset.field = "status";
    status.setAttribute("role", "status");
    actions.append(status);
    tr.append(actions);
    return { tr, cells, buttons, status, values: {} };
  }

  _fill(row, serial, drone, now, highlight) {
    const on = (v) => (v ? "● on" : "○ off");
    this._setText(row, "deviceSerialNumber", serial, false);
    this._setText(row, "deviceName", drone.deviceName ?? "", highlight);
    this._setText(row, "deviceCategory", drone.deviceCategory ?? "", highlight);
    this._setText(row, "streamIsOn", on(drone.streamIsOn), highlight);
    this._setText(row, "aiDetectionEnabled", on(drone.aiDetectionEnabled), highlight);
    this._setText(row, "detectionClasses", (drone.detectionClasses || []).join(", ") || "–", highlight);
    this._setText(row, "version", String(drone.version ?? ""), highlight);
    this._setText(row, "updatedAt", ago(Date.parse(drone.updatedAt), now), false);
    this._setText(row, "incidents", String(this._incidentsLastHour(serial, now)), highlight);
    const sync = syncOf(drone, now);
    row.cells.sync.dataset.state = sync.state;
    this._setText(row, "sync", sync.text, highlight);
    row.cells.streamIsOn.dataset.value = String(Boolean(drone.streamIsOn));
    row.cells.aiDetectionEnabled.dataset.value = String(Boolean(drone.aiDetectionEnabled));

    const pending = this.pending.get(serial) || new Map();
    const { stream, ai, classes, delete: del } = row.buttons;
    this._toggle(stream, `Stream of ${serial}`, drone.streamIsOn, pending.has("stream"), this.denied.write);
    this._toggle(ai, `AI detection of ${serial}`, drone.aiDetectionEnabled, pending.has("ai"), this.denied.write);
    this._control(classes, pending.has("classes"), this.denied.write);
    this._control(del, pending.has("delete"), this.denied.delete);
    const error = this.errors.get(serial);
    const status = pending.size ? `saving: ${[...pending.values()].join(", ")}…` : error ? `⚠ ${error}` : "";
    if (row.status.textContent !== status) row.status.textContent = status;
    row.status.dataset.state = pending.size ? "pending" : error ? "error" : "";
    row.tr.hidden = !this._matches(serial, drone);
  }

  _toggle(button, label, value, pending, denied) {
    button.setAttribute("aria-pressed", String(Boolean(value)));
    button.setAttribute("aria-label", label);
    button.textContent = `${button.dataset.action === "ai" ? "AI" : "Stream"} ${value ? "on" : "off"}`;
    this._control(button, pending, denied);
  }

  _control(button, pending, denied) {
    button.disabled = Boolean(denied) || pending;
    button.title = denied || (pending ? "waiting for the change to arrive" : "");
    button.setAttribute("aria-busy", String(pending));
  }

  _setText(row, field, text, highlight) {
    if (row.values[field] === text) return;
    const changed = field in row.values;
    row.values[field] = text;
    row.cells[field].textContent = text;
    if (changed && field === this.sort.field) this._reorder = true;
    if (highlight && changed) this._mark(row.cells[field]);
  }

  _mark(td) {
    td.classList.add("changed");
    this._marked.set(td, Date.now());
    if (this._sweeper === null) this._sweeper = setInterval(() => this._sweep(), HIGHLIGHT_MS / 3);
  }

  _sweep() {
    const old = Date.now() - HIGHLIGHT_MS;
    for (const [td, at] of this._marked) {
      if (at > old) continue;
      td.classList.remove("changed");
      this._marked.delete(td);
    }
    if (this._marked.size === 0) {
      clearInterval(this._sweeper);
      this._sweeper = null;
    }
  }

  _incidentsLastHour(serial, now) {
    const times = this.incidentTimes.get(serial);
    if (!times) return 0;
    while (times.length && times[0] < now - HOUR_MS) times.shift();
    return times.length;
  }

  _matches(serial, drone) {
    const { text, category, stream } = this.filter;
    if (category && drone.deviceCategory !== category) return false;
    if (stream && Boolean(drone.streamIsOn) !== (stream === "on")) return false;
    if (!text) return true;
    const needle = text.toLowerCase();
    return serial.toLowerCase().includes(needle) || String(drone.deviceName || "").toLowerCase().includes(needle);
  }

  _order() {
    this._reorder = false;
    const { field, dir } = this.sort;
    const key = (serial) => {
      const d = this.drones.get(serial);
      if (field === "incidents") return this._incidentsLastHour(serial, Date.now());
      if (field === "version") return Number(d.version) || 0;
      if (field === "updatedAt") return Date.parse(d.updatedAt) || 0;
      const v = d[field];
      return typeof v === "boolean" ? Number(v) : String(v ?? "").toLowerCase();
    };
    const serials = [...this.rows.keys()];
    const keys = new Map(serials.map((s) => [s, key(s)]));
    serials.sort((a, b) => {
      const x = keys.get(a);
      const y = keys.get(b);
      return (x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0) * dir;
    });
    // Move only what is out of place: a sorted table stays put while cells change.
    let cursor = this.tbody.firstElementChild;
    for (const serial of serials) {
      const tr = this.rows.get(serial).tr;
      if (tr === cursor) cursor = cursor.nextElementSibling;
      else this.tbody.insertBefore(tr, cursor);
    }
  }

  _click(event) {
    const button = event.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    const serial = button.closest("[data-serial]").dataset.serial;
    this.onAction(button.dataset.action, serial, this.drones.get(serial), button);
  }
}
