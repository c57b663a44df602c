// Test helper: the drone-events library (clients/js/src/drone-events.js) with the official
// socket.io-client, printing what it does as JSON lines on stdout for
// tests/clients/test_js_library.py to read.
//   node library_client.mjs <gateway url> <token> '<subscription JSON>'
// Lines: {"type": "state"|"subscribed"|"snapshot"|"event"|"duplicate"|"error", ...}.
// A line "dump" on stdin prints the kept drones ({"type": "drones", "drones": [...]}).
import { io } from "socket.io-client";
import { createInterface } from "node:readline";
import { DroneEventsClient } from "../../clients/js/src/drone-events.js";

const [url, token, subscription] = process.argv.slice(2);
const print = (type, body) => process.stdout.write(JSON.stringify({ type, ...body }) + "\n");

const client = new DroneEventsClient({
  io,
  url,
  token,
  subscription: JSON.parse(subscription),
  transports: ["websocket"],
  reconnectionDelay: 200,
  reconnectionDelayMax: 1000,
});
client.on("state", (state, detail) => print("state", { state, detail }));
client.on("subscribed", (answer, how) => print("subscribed", { answer: { ...answer, snapshot: undefined }, ...how }));
client.on("snapshot", (drones) => print("snapshot", { serials: [...drones.keys()].sort() }));
client.on("event", (event) => print("event", { id: event.id, event: event.event, droneSerial: event.droneSerial, version: event.version }));
client.on("duplicate", (event) => print("duplicate", { id: event.id }));
client.on("refreshed", (answer) => print("refreshed", { answer }));
client.on("error", (err) => print("error", { code: err.code, message: err.message }));
client.connect().catch(() => {});

createInterface({ input: process.stdin }).on("line", async (line) => {
  const [command, arg] = line.trim().split(" ");
  if (command === "dump") print("drones", { drones: [...client.drones.values()], position: client.position });
  if (command === "refresh") {
    try {
      await client.refreshToken(arg);
    } catch (err) {
      print("error", { code: "refresh", message: err.message });
    }
  }
});
process.on("SIGTERM", () => {
  client.close();
  process.exit(0);
});
