// The API client: the session (tokens) kept in localStorage, a refresh when the access token
// has expired, and errors turned into words a user understands.

export type User = { id: string; email: string; display_name: string; role: string };
type Session = { access_token: string; refresh_token: string; user: User };

const KEY = "ferrocast.session";

export function session(): Session | null {
  try {
    const s = localStorage.getItem(KEY);
    return s ? (JSON.parse(s) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null) {
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
  window.dispatchEvent(new Event("ferrocast-session"));
}

/** An API refusal: `error` is the sentence, `details` what to do. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public error: string,
    public details: string,
    public code?: string,
    public body?: Record<string, unknown>,
  ) {
    super(details ? `${error}. ${details}` : error);
  }
}

async function refresh(s: Session): Promise<boolean> {
  const r = await fetch("/api/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: s.refresh_token }),
  });
  if (!r.ok) {
    saveSession(null);
    return false;
  }
  const body = await r.json();
  saveSession({ ...s, access_token: body.access_token, refresh_token: body.refresh_token ?? s.refresh_token });
  return true;
}

/** Calls the API; JSON in and out. */
export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const s = session();
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (s) headers.authorization = `Bearer ${s.access_token}`;
    let r: Response;
    try {
      r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, "The server cannot be reached", "Check your connection and try again.");
    }
    if (r.status === 401 && s && attempt === 0 && (await refresh(s))) continue;
    const text = await r.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      /* not JSON */
    }
    if (!r.ok) {
      throw new ApiError(
        r.status,
        String(json.error ?? `The request failed (${r.status})`),
        String(json.details ?? ""),
        json.code as string | undefined,
        json,
      );
    }
    return json as T;
  }
  throw new ApiError(401, "Your session has ended", "Log in again.");
}

export async function logout() {
  const s = session();
  if (s) {
    try {
      await api("POST", "/api/auth/logout");
    } catch {
      /* the session ends here either way */
    }
  }
  saveSession(null);
}
