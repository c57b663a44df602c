// Load generator for the gateway benchmark: C official socket.io-client sockets in one process.
//
//   BENCH_TOKEN=<jwt> node bench/client.js URL CLIENTS KIND [CONNECT_CONCURRENCY]
//
// KIND: "sio"    default client options (offers permessage-deflate, as browsers do)
//       "sio-nd" perMessageDeflate: false
// Every socket uses the websocket transport, passes auth {token}, emits subscribe {all: true}
// after `connected`, and counts `drone:event` envelopes of the current run.
//
// The send time of an event is a CLOCK_MONOTONIC nanosecond count put there by the sender:
// top-level `run` and `ts` (bench publisher), or `meta.requestId` = "bench-<run>-<ns>" (REST
// writes through the API). process.hrtime.bigint() reads the same clock as Python's
// time.monotonic_ns() on Linux; the harness checks that with the `clock` command.
//
// BENCH_WHEN_BEHIND=skip subscribes with {whenBehind: "skip"}: on a `missed` notice the
// socket fetches the gap with `history`, a page at a time at BENCH_HISTORY_RATE events/s
// (0: not at all). Events of a gap count as `recovered`, apart from the live ones: they
// have their own tally and no latency.
//
// stdin, one command a line:  reset <run> | stats | clock | quit
// stdout: one JSON object a line (`ready` once connected, then one answer per command).
'use strict';

const readline = require('readline');
const { io } = require('socket.io-client');

const URL_ = process.argv[2];
const CLIENTS = parseInt(process.argv[3] || '200', 10);
const KIND = process.argv[4] || 'sio';
const CONCURRENCY = parseInt(process.argv[5] || '100', 10);
const TOKEN = process.env.BENCH_TOKEN || '';
const PATH = '/ws/events';
const CONNECT_TIMEOUT_MS = 30000;
const REQUEST_ID = /^bench-(\d+)-(\d+)$/;
const SKIP = process.env.BENCH_WHEN_BEHIND === 'skip';
const HISTORY_PAGE = 50; // small pages: a live event waits behind one page per socket at most
// Events/s each socket fetches from the history at most, so that the gaps of hundreds of
// sockets sharing this core do not crowd out their live events (0: fetch no gap).
const HISTORY_RATE = Number(process.env.BENCH_HISTORY_RATE || 0);

if (!URL_ || !(CLIENTS > 0) || !['sio', 'sio-nd'].includes(KIND)) {
  process.stderr.write('usage: node client.js URL CLIENTS sio|sio-nd [CONCURRENCY]\n');
  process.exit(2);
}

const now = () => Number(process.hrtime.bigint());
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

// Latency histogram: bucket i holds latencies in [1.01^i, 1.01^(i+1)) microseconds.
const BUCKETS = 2400; // up to ~23 s
const LOG_STEP = Math.log(1.01);
function bucketOf(ns) {
  const us = ns / 1000;
  if (us <= 1) return 0;
  return Math.min(BUCKETS - 1, Math.floor(Math.log(us) / LOG_STEP));
}

// Receive-time series: per 100 ms bin since `reset`, the count and the worst latency.
const BIN_NS = 100e6;
const MAX_BINS = 6000;

class RunStats {
  constructor(run) {
    this.run = run;
    this.startNs = now();
    this.hist = new Float64Array(BUCKETS);
    this.received = 0;
    this.stale = 0;
    this.duplicates = 0;
    this.outOfOrder = 0;
    this.maxLatNs = 0;
    this.firstNs = 0;
    this.lastNs = 0;
    this.perClient = new Uint32Array(CLIENTS);
    this.seenSeq = new Array(CLIENTS); // per client: bitset of publisher sequence numbers
    this.seenIds = new Array(CLIENTS); // per client: Set of event ids (events without seq)
    this.lastVersion = new Array(CLIENTS); // per client: Map serial -> last version
    this.binCount = [];
    this.binMax = [];
    this.recovered = 0; // events of gaps fetched with `history` (BENCH_WHEN_BEHIND=skip)
    this.missed = 0; // `missed` notices
    this.recoveredLastNs = 0;
    // The longest any client went without a ping (the server pings every pingInterval, and
    // more often while it paces a catch-up; socket.io-client gives up at pingInterval +
    // pingTimeout): how close heartbeats came to failing.
    this.maxPingGapNs = 0;
  }

  pingGap(ns) {
    if (ns > this.maxPingGapNs) this.maxPingGapNs = ns;
  }

  recover(idx, event) {
    if (!this.firstTime(idx, event)) {
      this.duplicates++;
      return;
    }
    this.recovered++;
    this.perClient[idx]++;
    this.recoveredLastNs = now();
  }

  firstTime(idx, event) {
    if (typeof event.seq === 'number') {
      let bits = this.seenSeq[idx];
      const byte = event.seq >> 3;
      if (!bits || byte >= bits.length) {
        const grown = new Uint8Array(Math.max(1024, (byte + 1) * 2));
        if (bits) grown.set(bits);
        bits = this.seenSeq[idx] = grown;
      }
      const mask = 1 << (event.seq & 7);
      if (bits[byte] & mask) return false;
      bits[byte] |= mask;
      return true;
    }
    if (typeof event.id !== 'string') return true;
    let ids = this.seenIds[idx];
    if (!ids) ids = this.seenIds[idx] = new Set();
    if (ids.has(event.id)) return false;
    ids.add(event.id);
    return true;
  }

  checkOrder(idx, event) {
    const version = typeof event.version === 'number' ? event.version : event.seq;
    if (typeof version !== 'number' || typeof event.droneSerial !== 'string') return;
    let last = this.lastVersion[idx];
    if (!last) last = this.lastVersion[idx] = new Map();
    const prev = last.get(event.droneSerial);
    if (prev !== undefined && version < prev) this.outOfOrder++;
    else last.set(event.droneSerial, version);
  }

  record(idx, event, sentNs) {
    const t = now();
    if (!this.firstTime(idx, event)) {
      this.duplicates++;
      return;
    }
    this.checkOrder(idx, event);
    this.received++;
    this.perClient[idx]++;
    if (this.firstNs === 0) this.firstNs = t;
    this.lastNs = t;
    const lat = t - sentNs;
    if (lat > this.maxLatNs) this.maxLatNs = lat;
    this.hist[bucketOf(lat)]++;
    const bin = Math.min(MAX_BINS - 1, Math.floor((t - this.startNs) / BIN_NS));
    while (this.binCount.length <= bin) {
      this.binCount.push(0);
      this.binMax.push(0);
    }
    this.binCount[bin]++;
    if (lat > this.binMax[bin]) this.binMax[bin] = lat;
  }

  summary() {
    let minPer = Infinity;
    let maxPer = 0;
    let starved = 0;
    for (let i = 0; i < CLIENTS; i++) {
      const n = this.perClient[i];
      if (n < minPer) minPer = n;
      if (n > maxPer) maxPer = n;
      if (n === 0) starved++;
    }
    const hist = {};
    for (let i = 0; i < BUCKETS; i++) if (this.hist[i]) hist[i] = this.hist[i];
    return {
      event: 'stats', run: this.run, clients: CLIENTS, connected: connectedNow,
      received: this.received, stale: this.stale, duplicates: this.duplicates,
      out_of_order: this.outOfOrder, disconnects, disconnect_reasons: disconnectReasons,
      disconnect_ns: disconnectTimes,
      min_per_client: minPer, max_per_client: maxPer,
      clients_without_events: starved, max_ms: this.maxLatNs / 1e6,
      first_recv_ns: this.firstNs, last_recv_ns: this.lastNs, start_ns: this.startNs,
      hist, bin_ms: BIN_NS / 1e6, bin_count: this.binCount,
      bin_max_ms: this.binMax.map((v) => v / 1e6), now_ns: now(),
      recovered: this.recovered, missed: this.missed, recovered_last_ns: this.recoveredLastNs,
      max_ping_gap_ms: this.maxPingGapNs / 1e6,
    };
  }
}

let stats = new RunStats(-1);
let disconnects = 0;
// Why subscribed clients were disconnected ("ping timeout": no ping reached the client in
// time; "transport close": the server closed the connection), as socket.io-client names it.
const disconnectReasons = {};
const disconnectTimes = []; // when (CLOCK_MONOTONIC ns)
let connectedNow = 0;

// The run and send time of an envelope, or null when it carries neither.
function sendInfo(event) {
  if (typeof event.run === 'number' && typeof event.ts === 'number') return [event.run, event.ts];
  const rid = event.meta && event.meta.requestId;
  if (typeof rid === 'string') {
    const m = REQUEST_ID.exec(rid);
    if (m) return [parseInt(m[1], 10), parseInt(m[2], 10)];
  }
  return null;
}

// "1764252000123-4" as [1764252000123, 4]; `before(a, b)`: a is an older id than b.
function idKey(id) {
  const dash = id.indexOf('-');
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}
const before = (a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

function onDroneEvent(idx, event, gaps) {
  const info = event && sendInfo(event);
  if (!info || info[0] !== stats.run) {
    stats.stale++;
    return;
  }
  // Only the gap being fetched can send events of its range; live ones are never in it.
  const gap = gaps.fetching;
  if (gap && typeof event.id === 'string') {
    const key = idKey(event.id);
    if (before(gap.after, key) && !before(gap.until, key)) {
      stats.recover(idx, event);
      return;
    }
  }
  stats.record(idx, event, info[1]);
}

// Fetch the gaps of `missed` notices with `history`, oldest first, one page at a time.
function fetchGaps(socket, gaps) {
  if (gaps.fetching || gaps.queue.length === 0 || !(HISTORY_RATE > 0)) return;
  const gap = gaps.queue.shift();
  gaps.fetching = { after: idKey(gap.after), until: idKey(gap.until) };
  const page = (after) => {
    socket.emit('history', { after, until: gap.until, limit: HISTORY_PAGE }, (answer) => {
      if (answer && answer.ok && answer.next) {
        // Spread at random: sockets that missed at the same moment must not ask in step.
        const pause = ((2000 * HISTORY_PAGE) / HISTORY_RATE) * Math.random();
        setTimeout(() => page(answer.next), pause);
        return;
      }
      gaps.fetching = null;
      fetchGaps(socket, gaps);
    });
  };
  page(gap.after);
}

function openSocket(idx, done) {
  const opts = {
    path: PATH,
    transports: ['websocket'],
    auth: { token: TOKEN },
    reconnection: false,
    forceNew: true,
    timeout: CONNECT_TIMEOUT_MS,
  };
  if (KIND === 'sio-nd') opts.perMessageDeflate = false;
  const socket = io(URL_, opts);
  let settled = false;
  let subscribed = false;
  const settle = (err) => {
    if (!settled) {
      settled = true;
      done(err);
    }
  };
  const gaps = { queue: [], fetching: null };
  const subscription = SKIP ? { all: true, whenBehind: 'skip' } : { all: true };
  socket.on('connected', () => socket.emit('subscribe', subscription));
  socket.on('missed', (gap) => {
    stats.missed++;
    gaps.queue.push(gap);
    fetchGaps(socket, gaps);
  });
  socket.on('subscribed', (reply) => {
    if (reply && reply.ok === false) settle(new Error(`subscribe refused: ${reply.error}`));
    else if (!subscribed) {
      subscribed = true;
      connectedNow++;
      settle(null);
    }
  });
  socket.on('drone:event', (event) => onDroneEvent(idx, event, gaps));
  let lastPing = now();
  socket.io.on('ping', () => {
    const t = now();
    stats.pingGap(t - lastPing);
    lastPing = t;
  });
  socket.on('connect_error', (err) => settle(err));
  socket.on('disconnect', (reason) => {
    if (subscribed) {
      const t = now();
      stats.pingGap(t - lastPing);
      subscribed = false;
      disconnects++;
      disconnectReasons[reason] = (disconnectReasons[reason] || 0) + 1;
      disconnectTimes.push(t);
      connectedNow--;
    }
    settle(new Error('disconnected before subscribing'));
  });
  return socket;
}

const sockets = [];
const connectStart = now();
let launched = 0;
let finished = 0;
let failed = 0;
let firstError = null;

function launch() {
  while (launched < CLIENTS && launched - finished < CONCURRENCY) {
    const idx = launched++;
    sockets.push(
      openSocket(idx, (err) => {
        finished++;
        if (err) {
          failed++;
          firstError = firstError || String(err.message || err);
        }
        if (finished === CLIENTS) {
          emit({
            event: 'ready', kind: KIND, clients: CLIENTS, ok: CLIENTS - failed, failed,
            error: firstError, connect_ms: (now() - connectStart) / 1e6,
          });
        } else launch();
      }),
    );
  }
}

const commands = {
  reset(arg) {
    stats = new RunStats(parseInt(arg, 10));
    emit({ event: 'reset', run: stats.run });
  },
  stats() {
    emit(stats.summary());
  },
  clock() {
    emit({ event: 'clock', now_ns: now() });
  },
  quit() {
    for (const s of sockets) s.close();
    emit({ event: 'bye' });
    setTimeout(() => process.exit(0), 100);
  },
};

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (commands[cmd]) commands[cmd](arg);
  else emit({ event: 'error', error: `unknown command ${cmd}` });
});
process.stdin.on('end', () => process.exit(0));

launch();
