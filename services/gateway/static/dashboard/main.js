// The live fleet dashboard: sign-in, the connection (the drone-events library), the fleet
// table, controls through the REST API, the detail panel, incidents and broadcasts.
import { DroneEventsClient, State } from "/static/lib/drone-events.js";
import { RestApi } from "./api.js";
import { DetailPanel, IncidentsFeed } from "./detail.js";
import { FleetTable, ago } from "./fleet.js";
import { Session, loadDevTokens } from "./session.js";

const $ = (id) => document.getElementById(id);
const PENDING_TIMEOUT_MS = 15000;
const BANNERS_KEPT = 3;

const session = new Session();
let config = { apiUrl: "", development: false };
let api = null;
let client = null;
let detail = null;
let offlineSince = null;
let lastTruth = "";
// A REST change waits for its event: serial -> Map(action -> {version, timer}).
const waits = new Map();

const table = new FleetTable({
  tbody: $("fleet-body"),
  empty: $("fleet-empty"),
  count: $("fleet-count"),
  onAction: (action, serial, drone, button) => act(action, serial, drone, button),
});
window.dashboard = { table, get client() { return client; } }; // for tests and the benchmark

const feed = new IncidentsFeed({
  list: $("incidents"),
  empty: $("incidents-empty"),
  filter: $("incident-filter"),
  onOpen: (serial) => openDetail(serial),
});

// --- alerts and banners ----------------------------------------------------------------
function alert(message) {
  const p = document.createElement("p");
  p.textContent = message;
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.textContent = "Dismiss";
  dismiss.addEventListener("click", () => p.remove());
  p.append(" ", dismiss);
  $("alerts").prepend(p);
  while ($("alerts").childElementCount > 5) $("alerts").lastElementChild.remove();
}

const LEVEL_MARK = { info: "ℹ Info", warning: "⚠ Warning", critical: "⛔ Critical" };

function banner(event) {
  const { message, level } = event.data || {};
  const div = document.createElement("div");
  div.className = "banner";
  div.dataset.level = LEVEL_MARK[level] ? level : "info";
  div.setAttribute("role", level === "critical" ? "alert" : "status");
  const strong = document.createElement("strong");
  strong.textContent = `${LEVEL_MARK[level] || LEVEL_MARK.info}: `;
  const text = document.createElement("span");
  text.className = "message";
  text.textContent = String(message ?? "");
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.textContent = "Dismiss";
  dismiss.setAttribute("aria-label", "Dismiss this broadcast");
  dismiss.addEventListener("click", () => div.remove());
  div.append(strong, text, " ", dismiss);
  $("banners").prepend(div);
  while ($("banners").childElementCount > BANNERS_KEPT) $("banners").lastElementChild.remove();
}

// --- connection truth --------------------------------------------------------------------
const TRUTH = {
  [State.IDLE]: "offline",
  [State.CONNECTING]: "connecting",
  [State.SUBSCRIBING]: "connecting",
  [State.RETRYING]: "reconnecting",
  [State.LIVE]: "connected",
  [State.RECONNECTING]: "reconnecting",
  [State.FAILED]: "offline",
};

function showState(state, detail) {
  const truth = TRUTH[state] || "offline";
  $("conn").dataset.state = truth;
  $("conn-text").textContent = detail && truth !== "connected" ? `${truth}: ${detail}` : truth;
  if (truth === "connected") offlineSince = null;
  else if (offlineSince === null && lastTruth === "connected") offlineSince = Date.now();
  lastTruth = truth;
  showStale();
}

function showStale() {
  const note = $("stale-note");
  if (offlineSince === null) {
    note.hidden = true;
    return;
  }
  note.hidden = false;
  note.textContent = `⚠ Not live since ${new Date(offlineSince).toLocaleTimeString()}: the view may be stale until the connection is back.`;
}

function showAge() {
  if (!client) return;
  const at = client.lastEventAt;
  $("newest-age").textContent = at ? `newest event received ${ago(at)}` : "no event yet";
  $("newest-age").dataset.ms = at ? String(Date.now() - at) : "";
}

// --- controls ------------------------------------------------------------------------------
function waitFor(serial, action, version) {
  if (!waits.has(serial)) waits.set(serial, new Map());
  const timer = setTimeout(() => {
    waits.get(serial)?.delete(action);
    table.clearPending(serial, action, "saved, but its event has not arrived: the view may be stale");
  }, PENDING_TIMEOUT_MS);
  waits.get(serial).set(action, { version, timer });
}

function settle(serial) {
  const pending = waits.get(serial);
  if (!pending) return;
  const known = client.fleet.versions.get(serial);
  for (const [action, wait] of pending) {
    // Deleted (no version any more) or at the version the REST call produced.
    if (wait.version === null ? known === undefined : known !== undefined && known >= wait.version) {
      clearTimeout(wait.timer);
      pending.delete(action);
      table.clearPending(serial, action);
    }
  }
}

async function rest(serial, action, label, call, { deleting = false } = {}) {
  table.setPending(serial, action, label);
  try {
    const drone = await call();
    waitFor(serial, action, deleting ? null : drone.version);
    settle(serial); // the event may have come before the answer, or nothing changed
  } catch (err) {
    table.clearPending(serial, action, err.message);
    alert(`${serial}: ${label} failed: ${err.message}`);
  }
}

function act(action, serial, drone, button) {
  if (action === "detail") return openDetail(serial);
  if (!drone) return;
  if (action === "stream") {
    const on = !drone.streamIsOn;
    return rest(serial, "stream", `stream ${on ? "on" : "off"}`, () => api.setStream(serial, on));
  }
  if (action === "ai") {
    const on = !drone.aiDetectionEnabled;
    return rest(serial, "ai", `AI ${on ? "on" : "off"}`, () => api.setAi(serial, on));
  }
  if (action === "classes") return editClasses(serial, drone);
  if (action === "delete") {
    // Two steps instead of a modal confirm: the button asks once more for 5 s.
    if (button.dataset.confirm !== "yes") {
      button.dataset.confirm = "yes";
      button.textContent = "Confirm delete";
      setTimeout(() => {
        delete button.dataset.confirm;
        button.textContent = "Delete";
      }, 5000);
      return;
    }
    return rest(serial, "delete", "delete", () => api.remove(serial), { deleting: true });
  }
}

function editClasses(serial, drone) {
  const dialog = $("classes-dialog");
  $("classes-title").textContent = `Detection classes of ${serial}`;
  $("classes-input").value = (drone.detectionClasses || []).join(", ");
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue !== "save") return;
    const classes = $("classes-input").value.split(",").map((s) => s.trim()).filter(Boolean);
    rest(serial, "classes", "classes", () => api.setClasses(serial, classes));
  };
  dialog.showModal();
}

async function registerDrone(event) {
  event.preventDefault();
  const serial = $("reg-serial").value.trim();
  const body = { deviceSerialNumber: serial, deviceName: $("reg-name").value.trim() };
  if ($("reg-category").value.trim()) body.deviceCategory = $("reg-category").value.trim();
  $("reg-status").textContent = `registering ${serial}…`;
  try {
    await api.register(body);
    $("reg-status").textContent = client.drones.has(serial) ? `${serial} registered` : `${serial} registered; waiting for its event…`;
    $("register-form").reset();
  } catch (err) {
    $("reg-status").textContent = `⚠ ${err.message}`;
  }
}

async function sendBroadcast(event) {
  event.preventDefault();
  $("broadcast-status").textContent = "sending…";
  try {
    await api.broadcast($("broadcast-message").value, $("broadcast-level").value);
    $("broadcast-status").textContent = "sent";
    $("broadcast-message").value = "";
  } catch (err) {
    $("broadcast-status").textContent = `⚠ ${err.message}`;
  }
}

function openDetail(serial) {
  detail.open(serial);
}

// --- events from the library ----------------------------------------------------------------
function refreshCategories() {
  const select = $("filter-category");
  const current = select.value;
  const categories = table.categories();
  const shown = [...select.options].slice(1).map((o) => o.value);
  if (shown.join("\n") === categories.join("\n")) return;
  select.replaceChildren(new Option("all", ""), ...categories.map((c) => new Option(c, c)));
  select.value = categories.includes(current) ? current : "";
}

function startClient() {
  client = new DroneEventsClient({
    url: window.location.origin,
    token: () => session.token,
    subscription: session.subscription,
  });
  if (detail) detail.client = client;
  else detail = new DetailPanel($("detail"), { client, api, onClose: () => {} });
  client.on("state", showState);
  client.on("snapshot", (drones) => {
    table.setAll(drones);
    refreshCategories();
    detail.render();
  });
  client.on("subscribed", (_answer, { resumed, reloaded }) => {
    const at = new Date().toLocaleTimeString();
    if (resumed) $("conn-resume").textContent = `resumed at ${at}: complete, nothing missed`;
    else if (reloaded) $("conn-resume").textContent = `reloaded from a snapshot at ${at} (history incomplete)`;
    else $("conn-resume").textContent = `loaded at ${at}`;
    $("conn-resume").dataset.resume = resumed ? "recovered" : reloaded ? "reloaded" : "loaded";
    for (const serial of waits.keys()) settle(serial);
  });
  client.on("change", (change, event) => {
    table.changed(change.serial);
    if (change.kind === "upsert" && event.event === "drone.created") refreshCategories();
    settle(change.serial);
    if (change.kind === "upsert" && $("reg-status").textContent.startsWith(`${change.serial} registered;`)) {
      $("reg-status").textContent = `${change.serial} registered`;
    }
  });
  client.on("event", (event) => detail.event(event));
  client.on("incident", (event) => {
    table.incident(event.droneSerial, Date.parse(event.timestamp) || Date.now());
    feed.add(event);
  });
  client.on("broadcast", banner);
  client.on("error", (err) => {
    alert(`Connection: ${err.message}`);
    if (err.code === "unauthorized" || err.code === "expired") {
      // The token was refused or has expired: ask for a new one, keep the (stale) view.
      $("signin").hidden = false;
      $("h-signin").textContent = "Sign in again: the session has ended";
      $("token").focus();
    }
  });
  client.connect().catch(() => {});
}

// --- sign-in ---------------------------------------------------------------------------------
function applyRole() {
  const denied = { write: session.denied("write"), delete: session.denied("delete") };
  table.setPermissions(denied);
  const note = $("controls-note");
  note.hidden = !denied.write && !denied.delete;
  note.textContent = denied.write ? `Controls are disabled: ${denied.write}` : denied.delete ? `Delete is disabled: ${denied.delete}` : "";
  $("register").hidden = Boolean(denied.write);
  $("broadcast").hidden = Boolean(session.denied("broadcast"));
  const subject = session.claims && session.claims.sub ? ` (${session.claims.sub})` : "";
  $("who").textContent = `signed in as ${session.role}${subject}`;
}

function signedIn() {
  $("signin").hidden = true;
  $("main").hidden = false;
  $("sign-out").hidden = false;
  api = new RestApi(config.apiUrl, () => session.token);
  applyRole();
  startClient();
}

function signOut() {
  client?.close();
  client = null;
  session.signOut();
  window.location.reload();
}

async function fillDevToken() {
  const tokens = await loadDevTokens();
  const token = tokens && tokens[$("dev-role").value];
  if (typeof token === "string") $("token").value = token;
  return Boolean(token);
}

async function main() {
  try {
    const response = await fetch("/dashboard/config.json", { cache: "no-store" });
    if (response.ok) config = await response.json();
  } catch {
    alert("The dashboard configuration could not be loaded: REST calls go to this origin.");
  }
  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!$("token").value.trim()) return;
    const previousSubject = session.claims && session.claims.sub;
    session.signIn($("token").value);
    $("token").value = "";
    if (client && client.state === State.LIVE && previousSubject === session.claims?.sub) {
      // The same user with a new token: hand it to the gateway, keep the connection.
      const answer = await client.refreshToken(session.token).catch((err) => ({ ok: false, error: err.message }));
      if (answer.ok) {
        $("signin").hidden = true;
        applyRole();
        return;
      }
    }
    client?.close();
    signedIn();
  });
  $("sign-out").addEventListener("click", signOut);
  $("register-form").addEventListener("submit", registerDrone);
  $("broadcast-form").addEventListener("submit", sendBroadcast);
  $("search").addEventListener("input", (e) => table.setFilter({ text: e.target.value.trim() }));
  $("filter-category").addEventListener("change", (e) => table.setFilter({ category: e.target.value }));
  $("filter-stream").addEventListener("change", (e) => table.setFilter({ stream: e.target.value }));
  for (const th of document.querySelectorAll("#fleet [data-sort]")) {
    th.querySelector("button").addEventListener("click", () => {
      const { field, dir } = table.setSort(th.dataset.sort);
      for (const other of document.querySelectorAll("#fleet [data-sort]")) other.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      void field;
    });
  }
  setInterval(() => {
    showAge();
    showStale();
  }, 1000);
  setInterval(() => table.tick(), 10000);
  if (session.signedIn) return signedIn();
  if (config.development) {
    $("dev-tokens").hidden = false;
    $("load-token").addEventListener("click", fillDevToken);
    $("dev-role").addEventListener("change", fillDevToken);
    if (!$("token").value) fillDevToken();
  }
  $("token").focus();
}

main();
