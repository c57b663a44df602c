// The drone detail panel (document, recent changes from the event history, incidents with
// their bounding box) and the fleet-wide incidents feed. Text only, never HTML.
import { parseId } from "/static/lib/drone-events.js";
import { ago, syncOf } from "./fleet.js";

const SVG = "http://www.w3.org/2000/svg";
const HISTORY_WINDOW_MS = 15 * 60 * 1000;
const HISTORY_SHOWN = 20;
const FEED_KEPT = 200;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * A placeholder frame with the incident's bounding box [x, y, w, h]: fractions of the
 * frame when every value is at most 1, else pixels of a frame of at least 1280x720.
 */
export function incidentFrame(incident) {
  const box = Array.isArray(incident.boundingBox) && incident.boundingBox.length === 4 ? incident.boundingBox.map(Number) : null;
  const normalized = box && box.every((v) => v >= 0 && v <= 1);
  const width = normalized || !box ? 1 : Math.max(1280, box[0] + box[2]);
  const height = normalized || !box ? 1 : Math.max(720, box[1] + box[3]);
  const frame = svg("svg", { viewBox: "0 0 320 180", class: "frame", role: "img" });
  const label = `${incident.type}${incident.label ? ` (${incident.label})` : ""}`;
  frame.setAttribute(
    "aria-label",
    box ? `Placeholder frame with the bounding box of ${label} at x ${box[0]}, y ${box[1]}, width ${box[2]}, height ${box[3]}` : `No bounding box for ${label}`,
  );
  frame.append(svg("rect", { x: 0, y: 0, width: 320, height: 180, class: "frame-bg" }));
  for (let x = 40; x < 320; x += 40) frame.append(svg("line", { x1: x, y1: 0, x2: x, y2: 180, class: "frame-grid" }));
  for (let y = 45; y < 180; y += 45) frame.append(svg("line", { x1: 0, y1: y, x2: 320, y2: y, class: "frame-grid" }));
  const note = svg("text", { x: 8, y: 172, class: "frame-note" });
  note.textContent = "no video: placeholder frame";
  frame.append(note);
  if (box) {
    const [x, y, w, h] = [box[0] / width * 320, box[1] / height * 180, box[2] / width * 320, box[3] / height * 180];
    frame.append(svg("rect", { x, y, width: Math.max(1, w), height: Math.max(1, h), class: "bbox" }));
    const tag = svg("text", { x: x + 2, y: Math.max(10, y - 3), class: "bbox-label" });
    tag.textContent = label;
    frame.append(tag);
  }
  return frame;
}

function incidentText(incident) {
  const confidence = Number.isFinite(Number(incident.confidence)) ? `${Math.round(incident.confidence * 100)} %` : "?";
  return `${incident.type}${incident.label ? ` · ${incident.label}` : ""} · confidence ${confidence}`;
}

function changeSummary(event) {
  const data = event.data || {};
  switch (event.event) {
    case "drone.updated":
      return Object.entries(data.changes || {})
        .map(([field, c]) => `${field}: ${JSON.stringify(c.old)} → ${JSON.stringify(c.new)}`)
        .join("; ");
    case "drone.created":
      return "registered";
    case "drone.deleted":
      return "deleted";
    case "drone.incident.detected":
      return `incident: ${incidentText(data.incident || {})}`;
    case "drone.reported":
      return `device reported${data.inSync === undefined ? "" : data.inSync ? " (in sync)" : " (not in sync)"}`;
    default:
      return null; // the specific events repeat what drone.updated already says
  }
}

export class DetailPanel {
  constructor(root, { client, api, onClose }) {
    this.root = root;
    this.client = client;
    this.api = api;
    this.serial = null;
    this.$ = (id) => root.querySelector(`#${id}`);
    this.$("detail-close").addEventListener("click", () => this.close());
    root.addEventListener("keydown", (e) => e.key === "Escape" && this.close());
    this._onClose = onClose;
  }

  async open(serial) {
    this.serial = serial;
    this.root.hidden = false;
    this.$("detail-title").textContent = `Drone ${serial}`;
    this.render();
    this.root.focus();
    this.$("detail-history").replaceChildren();
    this.$("detail-incidents").replaceChildren();
    await Promise.all([this._loadHistory(serial), this._loadIncidents(serial)]);
  }

  close() {
    this.serial = null;
    this.root.hidden = true;
    this._onClose?.();
  }

  /** The document and reported state of the open drone, as they are now. */
  render() {
    if (!this.serial) return;
    const drone = this.client.drones.get(this.serial);
    this.$("detail-doc").textContent = drone ? JSON.stringify(drone, null, 2) : "This drone no longer exists.";
    const sync = syncOf(drone);
    const sync_ = this.$("detail-sync");
    sync_.dataset.state = sync.state;
    sync_.textContent = sync.state === "unknown" ? "not reported by the device" : sync.text;
  }

  /** A live event of the open drone: newest first in the history, incidents on top. */
  event(event) {
    if (event.droneSerial !== this.serial) return;
    this.render();
    const summary = changeSummary(event);
    if (summary) this.$("detail-history").prepend(this._historyItem(event, summary));
    if (event.event === "drone.incident.detected" && event.data && event.data.incident) {
      this.$("detail-incidents").prepend(this._incidentItem(event.data.incident));
      this.$("detail-incidents-note").textContent = "";
    }
  }

  async _loadHistory(serial) {
    const note = this.$("detail-history-note");
    const position = parseId(this.client.position || "");
    if (!position) {
      note.textContent = "No event history yet.";
      return;
    }
    note.textContent = "Loading the event history…";
    try {
      const after = `${Math.max(0, position[0] - HISTORY_WINDOW_MS)}-0`;
      const page = await this.client.history({ after, until: this.client.position, maxEvents: 5000 });
      if (serial !== this.serial) return;
      const items = page.events
        .filter((e) => e.droneSerial === serial)
        .map((e) => [e, changeSummary(e)])
        .filter(([, s]) => s)
        .slice(-HISTORY_SHOWN)
        .reverse()
        .map(([e, s]) => this._historyItem(e, s));
      // Live events may have been prepended meanwhile: the loaded ones go below them.
      this.$("detail-history").append(...items);
      const scope = page.recovered ? "of the last 15 minutes" : "still held by the gateway";
      note.textContent = items.length ? `Changes ${scope}, newest first${page.next ? " (older ones not loaded)" : ""}.` : `No changes ${scope}.`;
    } catch (err) {
      note.textContent = `The event history is not available: ${err.message}`;
    }
  }

  async _loadIncidents(serial) {
    const note = this.$("detail-incidents-note");
    note.textContent = "Loading incidents…";
    try {
      const incidents = await this.api.incidents(serial, 20);
      if (serial !== this.serial) return;
      const shown = new Set([...this.$("detail-incidents").children].map((li) => li.dataset.id));
      this.$("detail-incidents").append(...incidents.filter((i) => !shown.has(i.id)).map((i) => this._incidentItem(i)));
      note.textContent = incidents.length || shown.size ? "Newest first." : "No incidents.";
    } catch (err) {
      note.textContent = `Incidents could not be loaded: ${err.message}`;
    }
  }

  _historyItem(event, summary) {
    const li = el("li");
    li.dataset.id = event.id;
    const time = el("time", new Date(Date.parse(event.timestamp)).toLocaleTimeString());
    time.dateTime = event.timestamp || "";
    li.append(time, el("span", ` v${event.version ?? "?"} · ${event.event} · `, "muted"), el("span", summary));
    return li;
  }

  _incidentItem(incident) {
    const li = el("li");
    li.dataset.id = incident.id || "";
    const when = Date.parse(incident.detectedAt || incident.createdAt);
    li.append(el("p", incidentText(incident)), el("p", Number.isFinite(when) ? `${new Date(when).toLocaleString()} (${ago(when)})` : "", "muted"), incidentFrame(incident));
    return li;
  }
}

export class IncidentsFeed {
  constructor({ list, empty, filter, onOpen }) {
    this.list = list;
    this.empty = empty;
    this.filter = filter;
    filter.addEventListener("input", () => this._applyFilter());
    list.addEventListener("click", (e) => {
      const button = e.target.closest("button[data-serial]");
      if (button) onOpen(button.dataset.serial);
    });
  }

  add(event) {
    const incident = (event.data && event.data.incident) || {};
    const li = el("li");
    li.dataset.serial = event.droneSerial;
    li.dataset.text = `${incident.type} ${incident.label || ""} ${event.droneSerial}`.toLowerCase();
    const open = el("button", event.droneSerial);
    open.type = "button";
    open.dataset.serial = event.droneSerial;
    open.setAttribute("aria-label", `Open drone ${event.droneSerial}`);
    const time = el("time", new Date(Date.parse(event.timestamp)).toLocaleTimeString());
    time.dateTime = event.timestamp || "";
    li.append(time, " ", open, " ", el("span", incidentText(incident)));
    this.list.prepend(li);
    while (this.list.childElementCount > FEED_KEPT) this.list.lastElementChild.remove();
    this._applyFilter(li);
  }

  _applyFilter(only) {
    const needle = this.filter.value.trim().toLowerCase();
    for (const li of only ? [only] : this.list.children) li.hidden = Boolean(needle) && !li.dataset.text.includes(needle);
    this.empty.hidden = this.list.childElementCount > 0;
  }
}
