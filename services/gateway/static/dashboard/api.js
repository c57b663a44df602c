// REST calls to the API with the signed-in token; failures carry the API's error message.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class RestApi {
  /** baseUrl: the API origin ("" for the page's own origin); token: a function. */
  constructor(baseUrl, token) {
    this.baseUrl = baseUrl || "";
    this._token = token;
  }

  async call(method, path, body) {
    const headers = { Authorization: `Bearer ${this._token()}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(`${this.baseUrl}/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (err) {
      throw new ApiError(0, "network", `the API did not answer (${err.message})`);
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!response.ok) {
      const error = (json && json.error) || {};
      throw new ApiError(response.status, error.code || "http", error.message || `HTTP ${response.status}`);
    }
    return json;
  }

  drone(serial) {
    return `/drones/${encodeURIComponent(serial)}`;
  }

  setStream(serial, on) {
    return this.call("PUT", `${this.drone(serial)}/stream`, { streamIsOn: on });
  }

  setAi(serial, on) {
    return this.call("PUT", `${this.drone(serial)}/ai-detection`, { enabled: on });
  }

  setClasses(serial, classes) {
    return this.call("PUT", `${this.drone(serial)}/detection-classes`, { detectionClasses: classes });
  }

  register(body) {
    return this.call("POST", "/drones/register", body);
  }

  remove(serial) {
    return this.call("DELETE", this.drone(serial));
  }

  incidents(serial, pageSize = 20) {
    return this.call("GET", `${this.drone(serial)}/incidents?page_size=${pageSize}`);
  }

  broadcast(message, level) {
    return this.call("POST", "/system/broadcast", { message, level });
  }
}
