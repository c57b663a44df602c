// Test helper: the official socket.io-client subscribes once and prints what it receives
// as JSON lines on stdout, for tests/clients/test_node_client.py to read.
//   node subscriber.mjs <gateway url> <token> '<subscribe payload JSON>'
import { io } from "socket.io-client";

const [url, token, subscription] = process.argv.slice(2);
const print = (type, body) => process.stdout.write(JSON.stringify({ type, ...body }) + "\n");

const socket = io(url, {
  path: "/ws/events",
  transports: ["websocket"],
  auth: { token },
  reconnection: false,
});

socket.on("connected", (data) => {
  print("connected", data);
  socket.emit("subscribe", JSON.parse(subscription), (answer) => print("subscribed", answer));
});
socket.on("drone:event", (envelope) => print("event", envelope));
socket.on("system:broadcast", (envelope) => print("broadcast", envelope));
socket.on("connect_error", (err) => {
  print("connect_error", { message: err.message });
  process.exit(2);
});
socket.on("disconnect", (reason) => {
  print("disconnect", { reason });
  process.exit(0);
});
process.on("SIGTERM", () => {
  socket.close();
  process.exit(0);
});
