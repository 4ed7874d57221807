// The dashboard's wiring: filters live in the URL (so a view can be shared), every panel loads
// from the API with them, and /ws/live messages update the panels in place between loads.

import { filterParams, getEventually, getJSON, postJSON, url, windowSeconds } from "./api.js";
import { LiveFeed } from "./live.js";
import { Session } from "./session.js";
import { Alerts, Counters, Emotions, Feed, Trends, Urgent, clearNote, el, notAvailable, renderDetail } from "./panels.js";
import { Timeline } from "./timeline.js";

const DEFAULTS = { source: "", topic: "", lang: "", window: "1h", q: "", bucket: "minute" };
const FEED_SIZE = 30;
const HISTORY_POSTS = 500;
const REFRESH_MS = 60000;

const $ = (id) => document.getElementById(id);
let filters = readURL();
let generation = 0;
const known = { sources: new Set(), topics: new Set() };

const timeline = new Timeline($("chart"));
const counters = new Counters();
const emotions = new Emotions();
const feed = new Feed(openDetail);
const urgent = new Urgent(openDetail, markHandled);
const trends = new Trends();
const alerts = new Alerts();
const live = new LiveFeed({ onMessage, onState });
const session = new Session({ onChange: start });

function readURL() {
  const params = new URLSearchParams(location.search);
  return Object.fromEntries(Object.entries(DEFAULTS).map(([k, d]) => [k, params.get(k) ?? d]));
}

function writeURL() {
  const params = new URLSearchParams();
  for (const [k, d] of Object.entries(DEFAULTS)) if (filters[k] && filters[k] !== d) params.set(k, filters[k]);
  const next = params.toString() ? `?${params}` : location.pathname;
  if (next !== location.search && !(next === location.pathname && !location.search)) {
    history.pushState(null, "", next);
  }
}

function showFilters() {
  $("f-source").value = filters.source;
  $("f-topic").value = filters.topic;
  showLanguage(filters.lang);
  $("f-window").value = filters.window;
  $("f-q").value = filters.q;
  for (const radio of document.querySelectorAll('input[name="bucket"]')) radio.checked = radio.value === filters.bucket;
}

/** Select `lang`, adding it to the choices when the list does not hold it (a shared URL). */
function showLanguage(lang) {
  const select = $("f-lang");
  if (lang && ![...select.options].some((o) => o.value === lang)) {
    select.append(el("option", { value: lang }, lang));
  }
  select.value = lang;
}

function setFilter(changes) {
  const next = { ...filters, ...changes };
  if (Object.keys(DEFAULTS).every((k) => next[k] === filters[k])) return;
  const liveChanged = next.source !== filters.source || next.topic !== filters.topic;
  filters = next;
  writeURL();
  if (liveChanged) live.connect(filters);
  loadAll();
}

// Loaders: each ignores its answer if the filters changed while it was in flight.

function current(gen) {
  return gen === generation;
}

async function loadSummary(gen = generation) {
  const summary = await getJSON("/api/stats/summary", filterParams(filters));
  if (!current(gen) || !summary.ok) return null;
  counters.render(summary.data);
  return summary.data;
}

async function loadEmotions(summary, gen = generation) {
  const result = await getJSON("/api/stats/distribution", { by: "emotion", ...filterParams(filters) });
  if (!current(gen)) return;
  if (result.ok) {
    emotions.reset(result.data.counts);
    clearNote(emotions.note);
  } else if (summary) {
    emotions.reset(summary.emotion);
    clearNote(emotions.note, result.missing ? "from the summary (distribution endpoint not available)" : "");
  }
}

const BUCKETS = ["minute", "hour", "day"];
const BUCKET_SECONDS = { minute: 60, hour: 3600, day: 86400 };
const MAX_BUCKETS = 1500;

/** The chosen bucket, or a coarser one when the window would hold too many points to draw. */
function fittingBucket(bucket, seconds) {
  let i = BUCKETS.indexOf(bucket);
  while (seconds && i < BUCKETS.length - 1 && seconds / BUCKET_SECONDS[BUCKETS[i]] > MAX_BUCKETS) i += 1;
  return BUCKETS[i];
}

async function loadTimeline(gen = generation) {
  const seconds = windowSeconds(filters.window);
  const note = $("chart-note");
  let bucket = fittingBucket(filters.bucket, seconds);
  let result = await getJSON("/api/stats/timeseries", { bucket, by: "sentiment", ...filterParams(filters) });
  // "all" has no fixed length: the server says (422) when a range is too long for the bucket.
  while (result.status === 422 && bucket !== "day") {
    bucket = BUCKETS[BUCKETS.indexOf(bucket) + 1];
    result = await getJSON("/api/stats/timeseries", { bucket, by: "sentiment", ...filterParams(filters) });
  }
  if (!current(gen)) return;
  if (result.ok) {
    timeline.reset(result.data.points, bucket, seconds);
    clearNote(note, bucket === filters.bucket ? "" : `by ${bucket}: too many ${filters.bucket}s in this window`);
    return;
  }
  if (!result.missing) return;
  // Older servers have no time series: build one from the newest stored posts instead.
  const posts = await getJSON("/api/posts", { limit: HISTORY_POSTS, ...filterParams(filters) });
  if (!current(gen)) return;
  const items = posts.ok ? posts.data.items.filter((p) => p.analysis) : [];
  timeline.reset(
    items.map((p) => ({ t: p.created_at, counts: { [p.analysis.sentiment]: 1 } })),
    filters.bucket,
    seconds,
  );
  notAvailable(note, `Time series endpoint`);
  note.textContent += `; history drawn from the latest ${HISTORY_POSTS} posts`;
}

async function loadFeed(gen = generation) {
  const result = await getJSON("/api/posts", { limit: FEED_SIZE, q: filters.q, ...filterParams(filters) });
  if (!current(gen) || !result.ok) return;
  feed.reset(result.data.items);
  learn(result.data.items);
}

async function loadUrgent(gen = generation) {
  const result = await getJSON("/api/posts/urgent", { limit: 10, q: filters.q, ...filterParams(filters) });
  if (!current(gen)) return;
  if (result.ok) urgent.render(result.data.items);
  else if (result.missing) notAvailable(urgent.note, "Urgent posts");
}

async function loadTrends(gen = generation) {
  const window = filters.window === "all" ? "7d" : filters.window;
  let result = await getEventually("/api/trends/keywords", { window, ...filterParams(filters) });
  if (result.status === 422) result = await getEventually("/api/trends/keywords", filterParams(filters));
  if (!current(gen)) return;
  if (result.ok && result.data) trends.render(result.data);
  else if (result.missing) notAvailable(trends.note, "Keyword trends");
  else if (result.status === 202) clearNote(trends.note, "still computing…");
}

async function loadAlerts(gen = generation) {
  const result = await getJSON("/api/alerts", filterParams(filters));
  if (!current(gen)) return;
  if (result.ok) alerts.render(result.data.items);
  else if (result.missing) notAvailable(alerts.note, "Alerts");
}

async function loadOptions() {
  for (const [by, set] of [["source", known.sources], ["topic", known.topics]]) {
    const result = await getJSON("/api/stats/distribution", { by });
    if (result.ok) for (const label of Object.keys(result.data.counts)) set.add(label);
  }
  showOptions();
}

function learn(posts) {
  const before = known.sources.size + known.topics.size;
  for (const post of posts) {
    known.sources.add(post.source);
    if (post.topic) known.topics.add(post.topic);
  }
  if (known.sources.size + known.topics.size !== before) showOptions();
}

function showOptions() {
  const options = (set) => [...set].sort().map((value) => el("option", { value }));
  $("sources").replaceChildren(...options(known.sources));
  $("topics").replaceChildren(...options(known.topics));
}

async function loadAll() {
  const gen = ++generation;
  const summary = loadSummary(gen);
  await Promise.all([
    summary.then((s) => loadEmotions(s, gen)),
    loadTimeline(gen),
    loadFeed(gen),
    loadUrgent(gen),
    loadTrends(gen),
    loadAlerts(gen),
  ]);
  if (current(gen)) document.body.dataset.loaded = String(gen);
}

// Live updates: the cheap parts change in place, the server-computed ones are re-read at most
// once per interval however many messages come in.

const pending = new Map();
function throttle(name, ms, task) {
  if (pending.has(name)) return;
  const last = pending.get(`${name}:last`) ?? 0;
  const wait = Math.max(0, last + ms - Date.now());
  pending.set(name, setTimeout(() => {
    pending.delete(name);
    pending.set(`${name}:last`, Date.now());
    task();
  }, wait));
}

function matchesSearch(post) {
  return !filters.q || post.text.toLowerCase().includes(filters.q.toLowerCase());
}

function onMessage(message) {
  if (message.type !== "summary") return;
  // The live counts are of every language: with one chosen, the panels reload instead.
  if (filters.lang) {
    throttle("by-lang", 5000, () => Promise.all([loadTimeline(), loadEmotions(null)]));
  } else {
    timeline.addLive(message.series);
    emotions.add(message.emotion);
  }
  feed.prepend(message.samples.filter(matchesSearch).filter((p) => !filters.lang || p.lang === filters.lang));
  learn(message.samples);
  alerts.add(message.alerts ?? []);
  throttle("summary", 1000, () => loadSummary());
  if (message.sentiment.negative) throttle("urgent", 5000, () => loadUrgent());
}

let wasDown = false;
function onState(state) {
  const conn = $("conn");
  conn.dataset.state = state;
  conn.textContent = {
    live: "live",
    connecting: "connecting…",
    down: "reconnecting…",
    refused: "sign in to see live data",
  }[state];
  // Whatever happened while the connection was down is only in the database: read it again.
  if (state === "down") wasDown = true;
  if (state === "live" && wasDown) {
    wasDown = false;
    loadAll();
  }
}

async function openDetail(id) {
  const dialog = $("detail");
  const body = $("d-body");
  body.replaceChildren(el("p", {}, "loading…"));
  if (!dialog.open) dialog.showModal();
  const result = await getJSON(`/api/posts/${encodeURIComponent(id)}`);
  if (result.ok) body.replaceChildren(...renderDetail(result.data));
  else body.replaceChildren(el("p", {}, result.data?.error?.message ?? "this post could not be loaded"));
}

async function markHandled(id) {
  const result = await postJSON(`/api/posts/${encodeURIComponent(id)}/handled`);
  urgent.note.classList.remove("refused");
  if (result.ok) return true;
  if (result.missing && !result.data?.error?.message?.includes("no post")) notAvailable(urgent.note, "Marking as handled");
  else {
    clearNote(urgent.note, session.refusal("Marking as handled", result));
    urgent.note.classList.add("refused");
  }
  return false;
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $("theme").setAttribute("aria-pressed", String(theme === "dark"));
  timeline.restyle();
}

function toggleTheme() {
  const theme = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem("sentiflow-theme", theme);
  applyTheme(theme);
}

/** The export link for the current filters; `since` is taken at the moment of the click. */
function exportHref() {
  const format = $("export-format").value;
  return url("/api/posts/export", { format, q: filters.q, ...filterParams(filters) });
}

function wire() {
  $("export").addEventListener("click", (e) => {
    e.currentTarget.href = exportHref();
  });
  $("f-source").addEventListener("change", (e) => setFilter({ source: e.target.value.trim() }));
  $("f-topic").addEventListener("change", (e) => setFilter({ topic: e.target.value.trim() }));
  $("f-lang").addEventListener("change", (e) => setFilter({ lang: e.target.value }));
  $("f-window").addEventListener("change", (e) => setFilter({ window: e.target.value }));
  let typing;
  $("f-q").addEventListener("input", (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => setFilter({ q: e.target.value.trim() }), 400);
  });
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  for (const radio of document.querySelectorAll('input[name="bucket"]')) {
    radio.addEventListener("change", (e) => setFilter({ bucket: e.target.value }));
  }
  $("theme").addEventListener("click", toggleTheme);
  window.addEventListener("popstate", () => {
    const before = filters;
    filters = readURL();
    showFilters();
    if (before.source !== filters.source || before.topic !== filters.topic) live.connect(filters);
    loadAll();
  });
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest("input, select, textarea, dialog")) return;
    if (e.key === "/") {
      e.preventDefault();
      $("f-q").focus();
    } else if (e.key === "p") feed.toggle();
    else if (e.key === "t") toggleTheme();
  });
}

const saved = localStorage.getItem("sentiflow-theme");
applyTheme(saved ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
/** Load everything when this browser may read; else wait for a sign-in. */
function start() {
  if (!session.canRead) {
    live.close();
    onState("refused");
    return;
  }
  live.connect(filters);
  loadOptions();
  loadAll();
}

showFilters();
wire();
session.refresh().then(start);
setInterval(() => session.canRead && loadAll(), REFRESH_MS);
