// The signed-in token: kept in this tab's sessionStorage only (never in a URL or a log),
// and what its claims allow, for the controls. The API and gateway decide; this only
// explains in advance why a control is disabled.

const KEY = "drone-dashboard-token";

// The roles of shared/auth.py PERMISSIONS, per action.
const ALLOWED = {
  write: ["admin", "operator"],
  delete: ["admin"],
  broadcast: ["admin"],
};

export function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), "="));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

export class Session {
  constructor(storage = globalThis.sessionStorage) {
    this._storage = storage;
    this.token = storage.getItem(KEY) || "";
    this.claims = this.token ? claimsOf(this.token) : null;
  }

  get signedIn() {
    return Boolean(this.token);
  }

  get role() {
    return (this.claims && this.claims.role) || "unknown";
  }

  /** The subscription this token may take: everything, or its list of drones. */
  get subscription() {
    const drones = this.claims && this.claims.drones;
    return Array.isArray(drones) ? { droneSerials: drones } : { all: true };
  }

  signIn(token) {
    this.token = token.trim();
    this.claims = claimsOf(this.token);
    this._storage.setItem(KEY, this.token);
  }

  signOut() {
    this.token = "";
    this.claims = null;
    this._storage.removeItem(KEY);
  }

  /** Why this role may not do `action` ("write", "delete", "broadcast"), or "" if it may. */
  denied(action) {
    if (ALLOWED[action].includes(this.role)) return "";
    const who = ALLOWED[action].join(" or ");
    return `Your role (${this.role}) cannot ${action === "write" ? "change drones" : action} — ${who} only.`;
  }
}

/** The development tokens of the local stack, or null (404 in production). */
export async function loadDevTokens() {
  try {
    const response = await fetch("/dev/tokens", { cache: "no-store" });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}
