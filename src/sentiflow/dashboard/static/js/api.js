// Talking to the sentiflow API: filters → query strings, JSON fetches that report a missing
// endpoint (404) as "not available" instead of failing, and polling of 202 jobs.

const WINDOWS = { "15m": 15 * 60, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400 };

/** Seconds covered by a window name; null for "all". */
export function windowSeconds(name) {
  return WINDOWS[name] ?? null;
}

/** Query parameters of the analytics endpoints: source, topic, lang, since. */
export function filterParams(filters) {
  const params = {};
  if (filters.source) params.source = filters.source;
  if (filters.topic) params.topic = filters.topic;
  if (filters.lang) params.lang = filters.lang;
  const seconds = windowSeconds(filters.window);
  if (seconds) params.since = new Date(Date.now() - seconds * 1000).toISOString();
  return params;
}

export function url(path, params = {}) {
  const query = new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""),
  );
  const qs = query.toString();
  return qs ? `${path}?${qs}` : path;
}

/** {ok, status, data}; `missing` is true when the endpoint does not exist on this server. */
export async function getJSON(path, params, init) {
  try {
    const response = await fetch(url(path, params), init);
    const data = await response.json().catch(() => null);
    return {
      ok: response.ok,
      status: response.status,
      data,
      missing: response.status === 404 && !response.ok,
    };
  } catch (error) {
    return { ok: false, status: 0, data: null, missing: false, error };
  }
}

export function postJSON(path) {
  return getJSON(path, {}, { method: "POST" });
}

/** A result that may come back as 202 + job location: poll it until done or `timeoutMs`. */
export async function getEventually(path, params, timeoutMs = 30000) {
  let result = await getJSON(path, params);
  const deadline = Date.now() + timeoutMs;
  while (result.status === 202 && result.data?.location && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const job = await getJSON(result.data.location);
    if (!job.ok) return job;
    if (job.data.status === "done" || job.data.status === "finished" || job.data.result) {
      return { ok: true, status: 200, data: job.data.result, missing: false };
    }
    if (job.data.status === "failed") return { ...job, ok: false };
  }
  return result;
}

export function wsURL(filters) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const params = {};
  if (filters.source) params.source = filters.source;
  if (filters.topic) params.topic = filters.topic;
  return `${scheme}//${location.host}${url("/ws/live", params)}`;
}
