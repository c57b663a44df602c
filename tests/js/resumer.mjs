// Test helper: the official socket.io-client following docs/clients.md's algorithm for its
// position: on every (re)connection it subscribes with since = the id of the newest event it
// received (drone event or broadcast) and prints every event as received (no de-duplication,
// so that the test sees what the gateway sent), as JSON lines on stdout.
//   node resumer.mjs <gateway url> <token> '<subscribe payload JSON>'
import { io } from "socket.io-client";

const [url, token, subscription] = process.argv.slice(2);
const print = (type, body) => process.stdout.write(JSON.stringify({ type, ...body }) + "\n");
let position = null;
const key = (id) => id.split("-").map(BigInt);
const newer = (a, b) => {
  const [am, as] = key(a);
  const [bm, bs] = key(b);
  return am > bm || (am === bm && as > bs);
};

const socket = io(url, {
  path: "/ws/events",
  transports: ["websocket"],
  auth: { token },
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
});

function subscribe() {
  const request = JSON.parse(subscription);
  if (position !== null) request.since = position;
  socket.emit("subscribe", request, (answer) => {
    print("subscribed", answer);
    if (!answer.ok && answer.code === "unavailable") setTimeout(subscribe, answer.retryAfter * 1000);
    else if (answer.ok && (position === null || answer.recovered === false)) position = answer.position;
  });
}

socket.on("connected", subscribe);
const take = (type) => (envelope) => {
  print(type, envelope);
  if (position === null || newer(envelope.id, position)) position = envelope.id;
};
socket.on("drone:event", take("event"));
socket.on("system:broadcast", take("broadcast"));
socket.on("disconnect", (reason) => print("disconnect", { reason }));
process.on("SIGTERM", () => {
  socket.close();
  process.exit(0);
});
