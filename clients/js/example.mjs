// Example: follow drone events with the drone-events client library (clients/js/src).
//
//   npm install --prefix clients/js
//   GATEWAY_URL=http://localhost:5001 TOKEN=<jwt> DRONE_SERIALS=DRONE123 node clients/js/example.mjs
//
// DRONE_SERIALS is a comma-separated list; leave it empty to follow every drone. The
// library resumes after reconnections (no gap, no duplicate), reloads the fleet from a
// snapshot when the gateway's history cannot fill the gap, and retries temporary refusals.
import { DroneEventsClient } from "./src/index.js";

const url = process.env.GATEWAY_URL ?? "http://localhost:5001";
const token = process.env.TOKEN;
const serials = (process.env.DRONE_SERIALS ?? "").split(",").map((s) => s.trim()).filter(Boolean);
if (!token) {
  console.error("set TOKEN to a JWT (development: curl $GATEWAY_URL/dev/tokens)");
  process.exit(1);
}

const client = new DroneEventsClient({
  url,
  token,
  subscription: serials.length ? { droneSerials: serials } : { all: true },
});

client.on("state", (state, detail) => console.log(`state: ${state}${detail ? ` (${detail})` : ""}`));
client.on("snapshot", (drones) => console.log(`snapshot: ${drones.size} drone(s)`));
client.on("subscribed", (answer, { resumed, reloaded }) => {
  const how = resumed ? "resumed" : reloaded ? "reloaded from a snapshot" : "fresh";
  console.log(`subscribed to ${answer.subscriptions.join(", ")} (${how})`);
});
client.on("change", ({ kind, serial, drone }, event) => {
  if (kind === "delete") console.log(`${serial}: deleted`);
  else if (kind === "upsert") {
    const { streamIsOn, aiDetectionEnabled, detectionClasses } = drone;
    console.log(
      `${serial} v${drone.version}: stream ${streamIsOn ? "on" : "off"}, ` +
        `AI ${aiDetectionEnabled ? "on" : "off"}, classes ${detectionClasses.join(", ") || "-"} ` +
        `(${event.event} ${event.id})`,
    );
  }
});
client.on("incident", (event) => {
  const { type, label, confidence } = event.data.incident;
  console.log(`${event.droneSerial}: incident ${type} ${label ?? ""} ${confidence}`);
});
client.on("broadcast", (event) => console.log(`broadcast [${event.data.level}]: ${event.data.message}`));
client.on("error", (err) => {
  console.error(`error (${err.code}): ${err.message}`);
  if (client.state === "failed") process.exit(1);
});
process.on("SIGINT", () => {
  client.close();
  process.exit(0);
});
client.connect().catch(() => {}); // failures arrive as "error" events
