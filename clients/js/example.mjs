// Example: follow drone events with the official Socket.IO client, resuming after reconnects.
//
//   npm install --prefix clients/js
//   GATEWAY_URL=http://localhost:5001 TOKEN=<jwt> DRONE_SERIALS=DRONE123 node clients/js/example.mjs
//
// DRONE_SERIALS is a comma-separated list; leave it empty to follow every drone.
import { io } from "socket.io-client";

const url = process.env.GATEWAY_URL ?? "http://localhost:5001";
const token = process.env.TOKEN;
const serials = (process.env.DRONE_SERIALS ?? "").split(",").map((s) => s.trim()).filter(Boolean);
if (!token) {
  console.error("set TOKEN to a JWT (development: curl $GATEWAY_URL/dev/tokens)");
  process.exit(1);
}

const shape = serials.length ? { droneSerials: serials } : { all: true };
let lastId = null; // newest event id seen: where a resumed subscription starts

const newer = (id) => {
  if (lastId === null) return true;
  const [ms, seq] = id.split("-").map(BigInt);
  const [lastMs, lastSeq] = lastId.split("-").map(BigInt);
  return ms > lastMs || (ms === lastMs && seq > lastSeq);
};

const socket = io(url, {
  path: "/ws/events",
  transports: ["websocket", "polling"],
  auth: { token },
});

// The server greets every (re)connection with "connected": subscribe again there, from
// the last event seen, so nothing is missed while the connection was down.
socket.on("connected", ({ clientId }) => {
  const request = lastId ? { ...shape, since: lastId } : { ...shape, snapshot: true };
  socket.emit("subscribe", request, (answer) => {
    if (!answer.ok) {
      console.error("subscription refused:", answer.error);
      return;
    }
    if (answer.recovered === false) {
      // The gateway no longer holds every missed event: reload the current state.
      socket.emit("subscribe", { ...shape, snapshot: true }, (again) => {
        console.log(`resync: ${again.snapshot.length} drone(s)`);
        if (again.position && newer(again.position)) lastId = again.position;
      });
      return;
    }
    if (answer.snapshot) console.log(`snapshot: ${answer.snapshot.length} drone(s)`);
    if (!lastId && answer.position) lastId = answer.position;
    console.log(`subscribed as ${clientId} to ${answer.subscriptions.join(", ")}`);
  });
});

socket.on("drone:event", (event) => {
  if (!newer(event.id)) return; // already seen (delivered again around a reconnection)
  lastId = event.id;
  const { data } = event;
  switch (event.event) {
    case "drone.stream.status":
      console.log(`${event.droneSerial}: stream ${data.streamIsOn ? "on" : "off"}`);
      break;
    case "drone.ai.detection.toggled":
      console.log(`${event.droneSerial}: AI detection ${data.aiDetectionEnabled ? "on" : "off"}`);
      break;
    case "drone.detection.classes.changed":
      console.log(`${event.droneSerial}: classes ${data.detectionClasses.join(", ")}`);
      break;
    default:
      console.log(`${event.event} ${event.droneSerial} v${event.version} (${event.id})`);
  }
});

socket.on("system:broadcast", (event) => {
  if (newer(event.id)) lastId = event.id;
  console.log(`broadcast [${event.data.level}]: ${event.data.message}`);
});

socket.on("connect_error", (err) => {
  // Refused by the server (bad or expired token) is final; network errors are retried.
  console.error("connection error:", err.message);
  if (!socket.active) process.exit(1);
});
socket.on("disconnect", (reason) => console.log("disconnected:", reason));
