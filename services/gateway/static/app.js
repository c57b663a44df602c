// Interactive test client of the drone events gateway, on the drone-events library
// (/static/lib/drone-events.js, the same file as clients/js/src/drone-events.js).
// Everything received is rendered with textContent: event data is never parsed as HTML.
import { DroneEventsClient, State } from "/static/lib/drone-events.js";

const MAX_LOG_ENTRIES = 500;

const $ = (id) => document.getElementById(id);
const ui = {
  url: $("url"), token: $("token"), showToken: $("show-token"), role: $("role"),
  loadToken: $("load-token"), connect: $("connect"), disconnect: $("disconnect"),
  refresh: $("refresh"), state: $("state"), clientId: $("client-id"), expires: $("expires"),
  transport: $("transport"), serial: $("serial"), subscribeAll: $("subscribe-all"),
  subscribeOne: $("subscribe-one"), unsubscribe: $("unsubscribe"), snapshot: $("snapshot"),
  resume: $("resume"), subscriptions: $("subscriptions"), lastId: $("last-id"),
  recovered: $("recovered"), count: $("count"), duplicates: $("duplicates"),
  clear: $("clear"), counters: $("counters"), log: $("log"),
};

let client = null;
let total = 0;
let duplicates = 0;
const perType = new Map();

// The library's states as the page shows them.
const SHOWN = {
  [State.IDLE]: "disconnected",
  [State.CONNECTING]: "connecting",
  [State.SUBSCRIBING]: "connected",
  [State.RETRYING]: "connected",
  [State.LIVE]: "connected",
  [State.RECONNECTING]: "reconnecting",
  [State.FAILED]: "error",
};

function setState(state, detail) {
  ui.state.dataset.state = state;
  ui.state.textContent = detail ? `${state}: ${detail}` : state;
  const online = state === "connected";
  ui.connect.disabled = client !== null;
  ui.disconnect.disabled = client === null;
  for (const b of [ui.subscribeAll, ui.subscribeOne, ui.unsubscribe, ui.refresh]) {
    b.disabled = !online;
  }
}

function serialsFromField() {
  return ui.serial.value.split(",").map((s) => s.trim()).filter(Boolean);
}

function shapeOf(all, serials) {
  if (all) return { all: true };
  return serials.length === 1 ? { droneSerial: serials[0] } : { droneSerials: serials };
}

// --- the log ---------------------------------------------------------------------
function addEntry(kind, title, body) {
  const item = document.createElement("li");
  item.className = `entry ${kind}`;
  const head = document.createElement("div");
  head.className = "head";
  const time = document.createElement("time");
  time.textContent = new Date().toLocaleTimeString();
  const name = document.createElement("span");
  name.className = "title";
  name.textContent = title;
  head.append(time, name);
  item.append(head);
  if (body !== undefined) {
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(body, null, 2);
    item.append(pre);
  }
  ui.log.prepend(item);
  while (ui.log.childElementCount > MAX_LOG_ENTRIES) ui.log.lastElementChild.remove();
}

function info(title, body) {
  addEntry("info", title, body);
}

function renderCounters() {
  ui.count.textContent = String(total);
  ui.duplicates.textContent = String(duplicates);
  const items = [...perType.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([type, n]) => {
    const li = document.createElement("li");
    li.dataset.type = type;
    li.textContent = `${type}: ${n}`;
    return li;
  });
  ui.counters.replaceChildren(...items);
}

function onEvent(envelope) {
  ui.lastId.textContent = client.position || "–";
  total += 1;
  perType.set(envelope.event, (perType.get(envelope.event) || 0) + 1);
  renderCounters();
  const parts = [envelope.event, envelope.droneSerial, envelope.version && `v${envelope.version}`];
  addEntry("event", parts.filter(Boolean).join(" · "), envelope);
}

// --- subscriptions ---------------------------------------------------------------
function onSubscribed(answer, { resumed, reloaded }) {
  if (!answer || !answer.ok) {
    info(`subscribe refused: ${answer ? answer.error : "no answer"}`, answer);
    return;
  }
  ui.subscriptions.textContent = answer.subscriptions.join(", ") || "–";
  if ("recovered" in answer) ui.recovered.textContent = String(answer.recovered);
  if (client.position) ui.lastId.textContent = client.position;
  if (reloaded) info("history incomplete: continuing from the gateway's position");
  else if (resumed) info("resumed", answer);
  else if (answer.snapshot) info(`snapshot: ${answer.snapshot.length} drone(s)`, answer.snapshot);
  else info("subscribed", answer);
}

async function subscribeNow(all) {
  const serials = all ? [] : serialsFromField();
  if (!all && serials.length === 0) {
    info("enter at least one serial");
    return;
  }
  try {
    await client.subscribe(shapeOf(all, serials), { snapshot: ui.snapshot.checked });
  } catch (err) {
    info(`subscribe failed: ${err.message}`);
  }
}

async function unsubscribeNow() {
  const serials = serialsFromField();
  // An empty field means "everything": the serials too.
  const shape = serials.length === 0 ? { all: true } : shapeOf(false, serials);
  try {
    const answer = await client.unsubscribe(shape);
    if (answer && answer.ok) ui.subscriptions.textContent = answer.subscriptions.join(", ") || "–";
    info(answer && answer.ok ? "unsubscribed" : "unsubscribe refused", answer);
  } catch (err) {
    info(`unsubscribe failed: ${err.message}`);
  }
}

// --- connection ------------------------------------------------------------------
function connect() {
  if (client) return;
  if (typeof io !== "function") {
    setState("error", "socket.io client did not load");
    return;
  }
  client = new DroneEventsClient({
    url: ui.url.value.trim() || window.location.origin,
    // A function: every reconnection sends the token currently in the field.
    token: () => ui.token.value.trim(),
    subscription: null, // chosen with the buttons below
    keepState: false, // the page logs events; it keeps no fleet
    resume: ui.resume.checked,
  });
  const current = client;
  client.on("state", (state, detail) => {
    if (client !== current) return;
    if (state === State.FAILED && current.socket && current.socket.connected) {
      return; // a refused subscription: logged, the connection is fine
    }
    if (state === State.FAILED) {
      info(`connection refused: ${detail}`);
      closeClient();
    }
    setState(SHOWN[state], state === State.LIVE ? "" : detail);
    if (state === State.LIVE && current.socket) {
      const engine = current.socket.io.engine;
      ui.transport.textContent = engine.transport.name;
      engine.on("upgrade", (t) => { ui.transport.textContent = t.name; });
    }
  });
  client.connect().catch(() => {}); // failures arrive as "state" and "error"
  client.socket.on("connected", (data) => {
    ui.clientId.textContent = data.clientId;
    ui.expires.textContent = data.expiresAt ? new Date(data.expiresAt * 1000).toLocaleString() : "–";
    info("connected", data);
  });
  client.socket.on("disconnect", (reason) => info(`disconnected: ${reason}`));
  client.on("subscribed", onSubscribed);
  client.on("event", onEvent);
  client.on("duplicate", () => {
    duplicates += 1;
    renderCounters();
  });
  client.on("refreshed", (answer) => {
    if (answer && answer.ok) ui.expires.textContent = new Date(answer.expiresAt * 1000).toLocaleString();
    info(answer && answer.ok ? "token refreshed" : "token refresh refused", answer);
  });
  client.on("reconnectElsewhere", (data) => info("gateway is going away", data));
  client.on("error", (err) => {
    if (err.code !== "unauthorized") info(`${err.code}: ${err.message}`);
  });
}

function closeClient() {
  if (!client) return;
  const c = client;
  client = null;
  c.close();
}

async function loadDevToken({ onlyIfEmpty = false } = {}) {
  const base = ui.url.value.trim() || window.location.origin;
  try {
    const response = await fetch(new URL("/dev/tokens", base), { cache: "no-store" });
    if (!response.ok) {
      if (!onlyIfEmpty) info(`no development tokens here (HTTP ${response.status}); paste a token`);
      return false;
    }
    const tokens = await response.json();
    const token = tokens[ui.role.value];
    if (typeof token !== "string" || (onlyIfEmpty && ui.token.value)) return false;
    ui.token.value = token;
    return true;
  } catch (err) {
    info(`could not load development tokens: ${err.message}`);
    return false;
  }
}

// --- wiring ----------------------------------------------------------------------
ui.url.value = window.location.origin;
ui.connect.addEventListener("click", connect);
ui.disconnect.addEventListener("click", () => {
  closeClient();
  setState("disconnected", "by you");
});
ui.refresh.addEventListener("click", () => {
  client.refreshToken(ui.token.value.trim()).catch((err) => info(`refresh failed: ${err.message}`));
});
ui.subscribeAll.addEventListener("click", () => subscribeNow(true));
ui.subscribeOne.addEventListener("click", () => subscribeNow(false));
ui.unsubscribe.addEventListener("click", unsubscribeNow);
ui.resume.addEventListener("change", () => { if (client) client.resume = ui.resume.checked; });
ui.loadToken.addEventListener("click", () => loadDevToken());
ui.role.addEventListener("change", () => loadDevToken());
ui.showToken.addEventListener("click", () => {
  const hidden = ui.token.type === "password";
  ui.token.type = hidden ? "text" : "password";
  ui.showToken.textContent = hidden ? "hide" : "show";
});
ui.clear.addEventListener("click", () => {
  ui.log.replaceChildren();
  total = 0;
  duplicates = 0;
  perType.clear();
  renderCounters();
});
setState("disconnected");
// Development stacks serve tokens; prefill one unless the user typed one meanwhile.
loadDevToken({ onlyIfEmpty: true });
