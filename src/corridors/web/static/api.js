// HTTP client of the planner map: same-origin requests with the X-API-Key header, and
// RFC 9457 problem details turned into errors whose message is the problem's `detail`.

/** An error answered by the service (status > 0) or a failed request (status 0). */
export class ApiError extends Error {
  constructor(status, title, detail, problem = null) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.title = title;
    this.problem = problem;
  }
}

const KEY_NAME = "corridors.apiKey";

/** Where the API key lives: sessionStorage by default, localStorage when remembered. */
export const keyStore = {
  get() {
    return sessionStorage.getItem(KEY_NAME) || localStorage.getItem(KEY_NAME) || "";
  },
  remembered() {
    return Boolean(localStorage.getItem(KEY_NAME));
  },
  set(key, remember) {
    this.clear();
    (remember ? localStorage : sessionStorage).setItem(KEY_NAME, key);
  },
  clear() {
    sessionStorage.removeItem(KEY_NAME);
    localStorage.removeItem(KEY_NAME);
  },
};

/** A random id for Idempotency-Key (crypto.randomUUID needs a secure context). */
export function randomId() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function" && globalThis.isSecureContext) {
    return crypto.randomUUID();
  }
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function problemMessage(problem, response) {
  if (problem && typeof problem.detail === "string" && problem.detail) {
    return problem.detail;
  }
  if (problem && typeof problem.title === "string" && problem.title) {
    return problem.title;
  }
  return `${response.status} ${response.statusText || "error"}`;
}

/**
 * Send one request to the service.
 *
 * @param {string} path relative to the page (e.g. "v1/graph"), so a path prefix keeps working
 * @param {{method?: string, body?: unknown, accept?: string, headers?: Record<string,string>}} options
 * @returns {Promise<any>} the parsed JSON body (text for other media types)
 * @throws {ApiError} with the problem's `detail` as message
 */
export async function apiRequest(path, { method = "GET", body, accept = "application/json", headers = {} } = {}) {
  const sent = { Accept: accept, ...headers };
  const key = keyStore.get();
  if (key) {
    sent["X-API-Key"] = key;
  }
  const init = { method, headers: sent, credentials: "same-origin" };
  if (body !== undefined) {
    sent["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "Network error", `The service did not answer (${err.message}).`);
  }
  const type = response.headers.get("content-type") || "";
  if (!response.ok) {
    let problem = null;
    if (type.includes("json")) {
      try {
        problem = await response.json();
      } catch {
        problem = null;
      }
    }
    throw new ApiError(response.status, problem?.title || response.statusText, problemMessage(problem, response), problem);
  }
  if (response.status === 204) {
    return null;
  }
  return type.includes("json") ? response.json() : response.text();
}
