// The review screen: a queue of posts to label, driven from the keyboard. A group of
// near-duplicates is one item (×N) and is corrected whole; every correction can be undone.

import { getJSON, url } from "./api.js";
import { el } from "./panels.js";
import { Session } from "./session.js";

const $ = (id) => document.getElementById(id);
const BATCH = 20;
const SENTIMENT_KEYS = { 1: "negative", 2: "neutral", 3: "positive" };
const EMOTION_KEYS = { a: "anger", d: "disgust", f: "fear", j: "joy", s: "sadness", o: "surprise", n: "neutral" };
const percent = (x) => `${Math.round(x * 100)}%`;

const state = {
  strategy: new URLSearchParams(location.search).get("queue") ?? "uncertain",
  items: [],
  cursor: 0,
  selected: new Set(),
  choice: { sentiment: null, emotion: null },
  undo: [],
};
// Enter and U take effect in the order they were pressed: U right after Enter waits for that
// correction to be saved, then takes it back.
let pending = Promise.resolve();
const inTurn = (action) => () => {
  pending = pending.then(action).catch((error) => note("action-note", String(error), true));
  return pending;
};
const session = new Session({ onChange: start });

async function send(path, body) {
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { ok: response.ok, status: response.status, data: await response.json().catch(() => null) };
  } catch {
    return { ok: false, status: 0, data: null };
  }
}

function note(id, text, refused = false) {
  $(id).textContent = text;
  $(id).classList.toggle("refused", refused);
}

// Loading.

async function loadQueue() {
  const result = await getJSON("/api/review", { strategy: state.strategy, limit: BATCH });
  if (!result.ok) {
    state.items = [];
    render();
    note("queue-note", session.refusal("Loading the queue", result), true);
    if (result.status === 401) session.ask("Reviewing needs an API key with scope review.");
    return;
  }
  state.items = result.data.items;
  state.cursor = 0;
  state.selected.clear();
  note("queue-note", state.items.length ? "" : "nothing to review in this queue");
  render();
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded ?? 0) + 1);
}

async function loadProgress() {
  const result = await getJSON("/api/review/progress");
  if (!result.ok) return;
  const { since_snapshot: done, threshold } = result.data;
  $("snapshot-progress").max = threshold;
  $("snapshot-progress").value = Math.min(done, threshold);
  $("snapshot-text").textContent = `${done} / ${threshold} corrections`;
}

async function loadDatasets() {
  const result = await getJSON("/api/datasets");
  // Only admins see the snapshots; for anyone else the panel stays hidden.
  $("p-datasets").hidden = !result.ok;
  if (!result.ok) return;
  $("datasets").replaceChildren(
    ...result.data.map((d) =>
      el(
        "tr",
        { dataset: { id: d.id } },
        el("td", {}, el("code", {}, d.id)),
        el("td", {}, d.status),
        el("td", {}, String(d.rows)),
        el("td", {}, ...Object.entries(d.downloads).map(([fmt, href]) => el("a", { href, download: "" }, fmt))),
      ),
    ),
  );
}

async function loadHistory() {
  const item = state.items[state.cursor];
  if (!item) {
    $("history").replaceChildren();
    note("history-note", "");
    return;
  }
  const result = await getJSON(`/api/posts/${encodeURIComponent(item.id)}/corrections`);
  if (state.items[state.cursor] !== item) return;
  const rows = result.ok ? result.data : [];
  $("history").replaceChildren(
    ...rows.map((c) =>
      el(
        "li",
        {},
        el("span", {}, `${c.old_sentiment}/${c.old_emotion} → ${c.sentiment}/${c.emotion}`),
        el("span", { class: "when" }, `${c.who} · ${new Date(c.created_at).toLocaleString()}`),
      ),
    ),
  );
  note("history-note", rows.length ? "" : "not corrected before");
}

// Rendering.

function chip(kind, label, confidence) {
  return el("span", { class: `chip ${kind === "s" ? "" : "e-chip "}${kind}-${label}` }, `${label} ${percent(confidence)}`);
}

function row(item, index) {
  const current = index === state.cursor;
  const pending = current && (state.choice.sentiment || state.choice.emotion);
  return el(
    "li",
    {
      class: `item${current ? " current" : ""}${state.selected.has(item.id) ? " selected" : ""}`,
      dataset: { id: item.id },
      "aria-current": current ? "true" : "false",
      "aria-selected": state.selected.has(item.id) ? "true" : "false",
      onclick: () => move(index - state.cursor),
    },
    el(
      "span",
      { class: "meta" },
      chip("s", item.sentiment, item.sentiment_confidence),
      chip("e", item.emotion, item.emotion_confidence),
      item.count > 1 ? el("span", { class: "count", title: "near-duplicates, corrected together" }, `×${item.count}`) : null,
      item.second_opinion ? el("span", {}, `second opinion: ${item.second_opinion.sentiment}`) : null,
      el("span", {}, item.source),
      pending
        ? el("strong", { class: "pending" }, `→ ${state.choice.sentiment ?? item.sentiment} / ${state.choice.emotion ?? item.emotion}`)
        : null,
    ),
    el("span", { class: "text" }, item.text),
  );
}

function render() {
  $("queue").replaceChildren(...state.items.map(row));
  $("queue").querySelector(".current")?.scrollIntoView({ block: "nearest" });
  const choice = $("choice");
  choice.dataset.sentiment = state.choice.sentiment ?? "";
  choice.dataset.emotion = state.choice.emotion ?? "";
  for (const button of choice.querySelectorAll("[data-sentiment]")) {
    button.setAttribute("aria-pressed", String(button.dataset.sentiment === state.choice.sentiment));
  }
  for (const button of choice.querySelectorAll("[data-emotion]")) {
    button.setAttribute("aria-pressed", String(button.dataset.emotion === state.choice.emotion));
  }
  const n = state.selected.size;
  $("selected-note").textContent = n ? `${n} selected: Enter labels them all` : "";
  $("undo").disabled = !state.undo.length;
}

// Actions.

function move(step) {
  if (!state.items.length) return;
  state.cursor = Math.max(0, Math.min(state.items.length - 1, state.cursor + step));
  state.choice = { sentiment: null, emotion: null };
  render();
  loadHistory();
}

function choose(kind, value) {
  state.choice[kind] = state.choice[kind] === value ? null : value;
  render();
}

function toggleSelected() {
  const item = state.items[state.cursor];
  if (!item) return;
  if (state.selected.has(item.id)) state.selected.delete(item.id);
  else state.selected.add(item.id);
  render();
}

/** One post, or its whole near-duplicate group, set to `labels`. */
function correct(item, labels) {
  if (item.count > 1) {
    return send("/api/corrections/bulk", { ...labels, filter: { group: item.group } });
  }
  return send(`/api/posts/${encodeURIComponent(item.id)}/corrections`, labels);
}

async function accept() {
  if (!state.items.length) return;
  const targets = state.selected.size
    ? state.items.filter((item) => state.selected.has(item.id))
    : [state.items[state.cursor]];
  const done = [];
  for (const item of targets) {
    const labels = {
      sentiment: state.choice.sentiment ?? item.sentiment,
      emotion: state.choice.emotion ?? item.emotion,
    };
    const result = await correct(item, labels);
    if (!result.ok) {
      note("action-note", session.refusal("The correction", result), true);
      break;
    }
    done.push({ item, index: state.items.indexOf(item) });
  }
  if (!done.length) return;
  state.undo.push(done);
  const gone = new Set(done.map((d) => d.item.id));
  state.items = state.items.filter((item) => !gone.has(item.id));
  for (const id of gone) state.selected.delete(id);
  state.cursor = Math.min(state.cursor, Math.max(0, state.items.length - 1));
  state.choice = { sentiment: null, emotion: null };
  note("action-note", `${done.length} labelled · U to undo`);
  render();
  loadHistory();
  loadProgress();
  if (!state.items.length) loadQueue();
}

async function undo() {
  const last = state.undo.pop();
  if (!last) return;
  for (const { item } of last) {
    const result = await correct(item, { sentiment: item.sentiment, emotion: item.emotion });
    if (!result.ok) {
      // Kept, so U can try again: putting a post back to its model's label twice is harmless.
      state.undo.push(last);
      note("action-note", session.refusal("Undoing", result), true);
      return;
    }
  }
  for (const { item, index } of [...last].sort((a, b) => a.index - b.index)) {
    state.items.splice(Math.min(index, state.items.length), 0, item);
  }
  state.cursor = Math.min(last[0].index, state.items.length - 1);
  note("action-note", `${last.length} back to the model's label`);
  render();
  loadHistory();
  loadProgress();
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $("theme").setAttribute("aria-pressed", String(theme === "dark"));
}

function toggleTheme() {
  const theme = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem("sentiflow-theme", theme);
  applyTheme(theme);
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest("input, select, textarea, dialog")) return;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const handled = {
    ArrowDown: () => move(1),
    ArrowUp: () => move(-1),
    Enter: inTurn(accept),
    u: inTurn(undo),
    x: toggleSelected,
    t: toggleTheme,
  }[key];
  if (handled) handled();
  else if (SENTIMENT_KEYS[key]) choose("sentiment", SENTIMENT_KEYS[key]);
  else if (EMOTION_KEYS[key]) choose("emotion", EMOTION_KEYS[key]);
  else return;
  e.preventDefault();
}

function wire() {
  $("strategy").value = state.strategy;
  $("strategy").addEventListener("change", (e) => {
    state.strategy = e.target.value;
    history.replaceState(null, "", url(location.pathname, { queue: state.strategy }));
    e.target.blur();
    loadQueue();
  });
  $("queue-form").addEventListener("submit", (e) => e.preventDefault());
  for (const button of document.querySelectorAll("#choice [data-sentiment]")) {
    button.addEventListener("click", () => choose("sentiment", button.dataset.sentiment));
  }
  for (const button of document.querySelectorAll("#choice [data-emotion]")) {
    button.addEventListener("click", () => choose("emotion", button.dataset.emotion));
  }
  $("accept").addEventListener("click", inTurn(accept));
  $("undo").addEventListener("click", inTurn(undo));
  $("theme").addEventListener("click", toggleTheme);
  document.addEventListener("keydown", onKey);
}

function start() {
  loadQueue().then(loadHistory);
  loadProgress();
  loadDatasets();
}

const saved = localStorage.getItem("sentiflow-theme");
applyTheme(saved ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
wire();
session.refresh().then(start);
