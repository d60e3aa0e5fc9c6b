/* Calls to the hub's JSON API, shared by the inbox and the admin console.
 *
 * The session is an HttpOnly cookie; every state-changing request carries the
 * X-CSRF-Token header. A refusal becomes an ApiError with the hub's message
 * and, for invalid input, its list of problems (field and reason). An agent who
 * must set up two-factor sign-in first is sent to their account page.
 */

const CSRF_HEADER = "X-CSRF-Token";

const ACCOUNT_PAGE = "/account";

export class ApiError extends Error {
  constructor(status, message, problems, body) {
    super(message);
    this.status = status;
    this.problems = problems || [];
    this.body = body || {};
  }
}

/** An ``api(method, path, body)`` function; ``csrfToken()`` gives the session's token. */
export function apiClient(csrfToken, onSignedOut = () => {}) {
  return async function api(method, path, body) {
    const headers = {};
    const isForm = body instanceof FormData; // a file upload: the browser sets the type
    if (body !== undefined && !isForm) headers["Content-Type"] = "application/json";
    const token = csrfToken();
    if (method !== "GET" && token) headers[CSRF_HEADER] = token;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined || isForm ? body : JSON.stringify(body),
      });
    } catch (_networkError) {
      throw new ApiError(0, "cannot reach the hub: check your connection");
    }
    const isJson = (response.headers.get("Content-Type") || "").includes("application/json");
    const data = isJson ? await response.json() : null;
    if (response.status === 401) onSignedOut();
    if (response.status === 403 && data && data.two_factor === "enrol") {
      window.location.assign(ACCOUNT_PAGE);
    }
    if (!response.ok) {
      const reason = data && data.error ? data.error : `request failed (HTTP ${response.status})`;
      throw new ApiError(response.status, reason, data && data.problems, data);
    }
    return data;
  };
}
