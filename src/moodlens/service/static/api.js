// The REST API for the pages: JSON in and out, and errors people can read. A server that cannot be
// reached is an ApiError with status 0; a server's message is kept only when it names no place on
// the server's machine (the server already keeps paths out; this is a second fence).

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const PLACE = /(sqlite|postgres(ql)?(\+\w+)?):\/\/\S*|(?:^|\s)(\/[\w.-]+){2,}|[A-Za-z]:\\\S+/i;

export function safeMessage(text, fallback) {
  return !text || PLACE.test(text) ? fallback : text;
}

export async function api(path, options) {
  if (options && options.json !== undefined) {
    options = { method: options.method || "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(options.json) };
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, options);
  } catch {
    throw new ApiError(0, "cannot reach the server: is moodlens serve still running, and this computer online?");
  }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status, safeMessage(body.error || (body.detail && body.detail[0] && body.detail[0].msg),
      `the server answered ${response.status} ${response.statusText}`));
  }
  return body;
}
