// Interactive test client of the drone events gateway (Socket.IO v4, path /ws/events).
// Everything received is rendered with textContent: event data is never parsed as HTML.
(function () {
  "use strict";

  const MAX_LOG_ENTRIES = 500;
  const PATH = "/ws/events";

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

  let socket = null;
  // What the user asked for; subscribed again after every reconnection.
  const wanted = { all: false, serials: new Set() };
  // Newest event id seen, as [ms, seq]: where a resumed subscription starts, and the
  // bound under which a delivery is a duplicate.
  let lastId = null;
  let lastPos = null;
  let total = 0;
  let duplicates = 0;
  const perType = new Map();

  // --- small helpers ---------------------------------------------------------------
  function parseId(id) {
    const m = /^(\d+)-(\d+)$/.exec(typeof id === "string" ? id : "");
    return m ? [BigInt(m[1]), BigInt(m[2])] : null;
  }

  function after(a, b) {
    return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
  }

  function setState(state, detail) {
    ui.state.dataset.state = state;
    ui.state.textContent = detail ? `${state}: ${detail}` : state;
    const online = state === "connected";
    ui.connect.disabled = socket !== null;
    ui.disconnect.disabled = socket === null;
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

  function advance(id) {
    const pos = parseId(id);
    if (pos && (lastPos === null || after(pos, lastPos))) {
      lastPos = pos;
      lastId = id;
      ui.lastId.textContent = id;
    }
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

  function onEnvelope(envelope) {
    const pos = parseId(envelope && envelope.id);
    if (!pos) {
      info("malformed event dropped", envelope);
      return;
    }
    if (lastPos !== null && !after(pos, lastPos)) {
      duplicates += 1;
      renderCounters();
      return;
    }
    advance(envelope.id);
    total += 1;
    perType.set(envelope.event, (perType.get(envelope.event) || 0) + 1);
    renderCounters();
    const parts = [envelope.event, envelope.droneSerial, envelope.version && `v${envelope.version}`];
    addEntry("event", parts.filter(Boolean).join(" · "), envelope);
  }

  // --- subscriptions ---------------------------------------------------------------
  function subscribe(payload, { advanceToPosition }) {
    socket.emit("subscribe", payload, (answer) => {
      if (!answer || !answer.ok) {
        info(`subscribe refused: ${answer ? answer.error : "no answer"}`, payload);
        return;
      }
      ui.subscriptions.textContent = answer.subscriptions.join(", ") || "–";
      if ("recovered" in answer) {
        ui.recovered.textContent = String(answer.recovered);
        if (!answer.recovered) {
          // The history no longer holds every missed event: reload state instead.
          info("history incomplete since " + payload.since + ": reloading a snapshot");
          const { since, ...shape } = payload;
          subscribe({ ...shape, snapshot: true }, { advanceToPosition: true });
          return;
        }
      }
      if (advanceToPosition && answer.position) advance(answer.position);
      if (answer.snapshot) info(`snapshot: ${answer.snapshot.length} drone(s)`, answer.snapshot);
      else info("subscribed", answer);
    });
  }

  function resubscribe() {
    const serials = [...wanted.serials];
    if (!wanted.all && serials.length === 0) return;
    const shape = shapeOf(wanted.all, serials);
    if (ui.resume.checked && lastId) {
      subscribe({ ...shape, since: lastId }, { advanceToPosition: false });
    } else {
      subscribe({ ...shape, snapshot: ui.snapshot.checked }, { advanceToPosition: true });
    }
  }

  function subscribeNow(all) {
    const serials = all ? [] : serialsFromField();
    if (!all && serials.length === 0) {
      info("enter at least one serial");
      return;
    }
    if (all) wanted.all = true;
    serials.forEach((s) => wanted.serials.add(s));
    const payload = { ...shapeOf(all, serials), snapshot: ui.snapshot.checked };
    subscribe(payload, { advanceToPosition: lastId === null });
  }

  function unsubscribeNow() {
    const serials = serialsFromField();
    const all = serials.length === 0;
    const payload = all ? { all: true } : shapeOf(false, serials);
    if (all) {
      wanted.all = false;
      // An empty field means "everything": the serials too.
      if (wanted.serials.size) {
        const everyone = [...wanted.serials];
        wanted.serials.clear();
        socket.emit("unsubscribe", shapeOf(false, everyone));
      }
    } else {
      serials.forEach((s) => wanted.serials.delete(s));
    }
    socket.emit("unsubscribe", payload, (answer) => {
      if (answer && answer.ok) ui.subscriptions.textContent = answer.subscriptions.join(", ") || "–";
      info(answer && answer.ok ? "unsubscribed" : "unsubscribe refused", answer);
    });
  }

  // --- connection ------------------------------------------------------------------
  function connect() {
    if (socket) return;
    if (typeof io !== "function") {
      setState("error", "socket.io client did not load");
      return;
    }
    const url = ui.url.value.trim() || window.location.origin;
    socket = io(url, {
      path: PATH,
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      // A function: every reconnection sends the token currently in the field.
      auth: (cb) => cb({ token: ui.token.value.trim() }),
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    setState("connecting");

    socket.on("connect", () => {
      setState("connected");
      ui.transport.textContent = socket.io.engine.transport.name;
      socket.io.engine.on("upgrade", (t) => { ui.transport.textContent = t.name; });
    });
    socket.on("connected", (data) => {
      ui.clientId.textContent = data.clientId;
      ui.expires.textContent = data.expiresAt ? new Date(data.expiresAt * 1000).toLocaleString() : "–";
      info("connected", data);
      resubscribe();
    });
    socket.on("connect_error", (err) => {
      const detail = (err && err.message) || String(err);
      if (socket && socket.active) {
        setState("reconnecting", detail);
      } else if (/shutting down/.test(detail)) {
        // A replica on its way out: try again (the balancer picks another one).
        setState("reconnecting", detail);
        setTimeout(() => socket && socket.connect(), 1000);
      } else {
        // Refused by the server (bad or expired token): socket.io does not retry that.
        info(`connection refused: ${detail}`);
        closeSocket();
        setState("error", detail);
      }
    });
    socket.on("disconnect", (reason) => {
      info(`disconnected: ${reason}`);
      if (socket && socket.active) {
        setState("reconnecting", reason);
      } else {
        closeSocket();
        setState("disconnected", reason);
      }
    });
    socket.on("drone:event", onEnvelope);
    socket.on("system:broadcast", onEnvelope);
    socket.on("refreshed", (answer) => {
      if (answer && answer.ok) ui.expires.textContent = new Date(answer.expiresAt * 1000).toLocaleString();
      info(answer && answer.ok ? "token refreshed" : "token refresh refused", answer);
    });
    socket.on("reconnect_elsewhere", (data) => info("gateway is going away", data));
  }

  function closeSocket() {
    if (!socket) return;
    const s = socket;
    socket = null;
    s.removeAllListeners();
    s.disconnect();
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
    closeSocket();
    setState("disconnected", "by you");
  });
  ui.refresh.addEventListener("click", () => socket.emit("refresh", { token: ui.token.value.trim() }));
  ui.subscribeAll.addEventListener("click", () => subscribeNow(true));
  ui.subscribeOne.addEventListener("click", () => subscribeNow(false));
  ui.unsubscribe.addEventListener("click", unsubscribeNow);
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
})();
