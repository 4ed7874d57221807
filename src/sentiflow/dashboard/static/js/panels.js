// The panels: each renders its own part of the page from API data. Text always goes in through
// textContent, never as HTML, because posts are written by strangers.

export const EMOTIONS = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"];
const FEED_MAX = 100;

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const percent = (x) => `${Math.round(x * 100)}%`;
const number = new Intl.NumberFormat();

function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString();
}

export function notAvailable(note, what) {
  note.textContent = `${what} not available on this server`;
  note.classList.add("na");
}

export function clearNote(note, text = "") {
  note.textContent = text;
  note.classList.remove("na");
}

/** One post row: sentiment chip with confidence, emotion, source, topic, time, text. */
export function postRow(post, onOpen) {
  const a = post.analysis ?? post;
  const meta = el(
    "span",
    { class: "meta" },
    a.sentiment
      ? el("span", { class: `chip s-${a.sentiment}` }, `${a.sentiment} ${percent(a.sentiment_confidence)}`)
      : el("span", { class: "chip" }, "pending"),
    a.emotion ? el("span", { class: `chip e-chip e-${a.emotion}` }, `${a.emotion} ${percent(a.emotion_confidence)}`) : null,
    el("span", {}, post.source),
    post.topic ? el("span", {}, `#${post.topic}`) : null,
    el("time", { datetime: post.created_at }, when(post.created_at)),
  );
  return el(
    "button",
    { class: "post", type: "button", dataset: { id: post.id }, onclick: () => onOpen(post.id) },
    meta,
    el("span", { class: "text" }, post.text),
  );
}

export class Counters {
  constructor() {
    this.rate = document.getElementById("c-rate");
    this.positive = document.getElementById("c-positive");
    this.negative = document.getElementById("c-negative");
    this.emotion = document.getElementById("c-emotion");
    this.total = document.getElementById("c-total");
  }

  render(summary) {
    const total = summary.total ?? 0;
    const share = (label) => (total ? percent((summary.sentiment?.[label] ?? 0) / total) : "–");
    const top = Object.entries(summary.emotion ?? {})
      .filter(([label]) => label !== "neutral")
      .sort((a, b) => b[1] - a[1])[0];
    this.rate.textContent = (summary.posts_per_minute ?? 0).toFixed(1);
    this.positive.textContent = share("positive");
    this.negative.textContent = share("negative");
    this.emotion.textContent = top && top[1] ? top[0] : "–";
    this.total.textContent = number.format(total);
  }
}

export class Emotions {
  constructor() {
    this.list = document.getElementById("emotions");
    this.note = document.getElementById("emotion-note");
    this.counts = {};
  }

  reset(counts) {
    this.counts = { ...counts };
    this.render();
  }

  add(counts) {
    for (const [label, n] of Object.entries(counts)) this.counts[label] = (this.counts[label] ?? 0) + n;
    this.render();
  }

  render() {
    const total = Object.values(this.counts).reduce((a, b) => a + b, 0);
    const max = Math.max(1, ...Object.values(this.counts));
    this.list.replaceChildren(
      ...EMOTIONS.map((label) => {
        const n = this.counts[label] ?? 0;
        return el(
          "li",
          { class: `e-${label}` },
          el("span", {}, label),
          el("span", { class: "bar", role: "presentation" }, el("span", { style: `width:${(100 * n) / max}%` })),
          el("span", { class: "n", title: total ? percent(n / total) : "" }, number.format(n)),
        );
      }),
    );
  }
}

export class Feed {
  constructor(onOpen) {
    this.list = document.getElementById("feed");
    this.note = document.getElementById("feed-note");
    this.button = document.getElementById("pause");
    this.onOpen = onOpen;
    this.paused = false;
    this.held = [];
    this.button.addEventListener("click", () => this.toggle());
  }

  toggle() {
    this.paused = !this.paused;
    this.button.setAttribute("aria-pressed", String(this.paused));
    this.button.textContent = this.paused ? "Resume" : "Pause";
    if (!this.paused) {
      this.prepend(this.held);
      this.held = [];
    }
    this.status();
  }

  status() {
    this.note.textContent = this.paused ? `paused · ${this.held.length} new held back` : "";
  }

  reset(posts) {
    this.held = [];
    this.list.replaceChildren();
    this.append(posts);
    this.status();
  }

  append(posts) {
    this.list.append(...posts.map((p) => el("li", {}, postRow(p, this.onOpen))));
  }

  /** Newest first; `posts` arrive oldest first. */
  prepend(posts) {
    if (this.paused) {
      this.held.push(...posts);
      this.held = this.held.slice(-FEED_MAX);
      this.status();
      return;
    }
    for (const post of posts) this.list.prepend(el("li", {}, postRow(post, this.onOpen)));
    while (this.list.children.length > FEED_MAX) this.list.lastElementChild.remove();
  }
}

export class Urgent {
  constructor(onOpen, onHandle) {
    this.list = document.getElementById("urgent");
    this.note = document.getElementById("urgent-note");
    this.onOpen = onOpen;
    this.onHandle = onHandle;
    // A list fetched before a "Handled" click can land before or after the click's answer:
    // the ids handled here keep such a stale list from showing the post again.
    this.handled = new Set();
  }

  render(items) {
    const waiting = items.filter((post) => !this.handled.has(post.id));
    clearNote(this.note, waiting.length ? "" : "nothing waiting");
    this.list.replaceChildren(
      ...waiting.map((post) => {
        const button = el("button", { class: "handle", type: "button" }, "Handled ✓");
        button.addEventListener("click", async () => {
          button.disabled = true;
          if (await this.onHandle(post.id)) this.forget(post.id);
          else button.disabled = false;
        });
        return el("li", { class: "urgent-row", dataset: { id: post.id } }, postRow(post, this.onOpen), button);
      }),
    );
  }

  /** Take a handled post off the list, whichever render its row came from. */
  forget(id) {
    this.handled.add(id);
    for (const row of [...this.list.children]) if (row.dataset.id === String(id)) row.remove();
    if (!this.list.children.length) clearNote(this.note, "nothing waiting");
  }
}

export class Trends {
  constructor() {
    this.negative = document.getElementById("trends-negative");
    this.positive = document.getElementById("trends-positive");
    this.note = document.getElementById("trends-note");
  }

  render(result) {
    const rows = (terms) =>
      (terms ?? []).slice(0, 10).map((t) => {
        const change = t.previous ? `${t.change >= 0 ? "▲" : "▼"} ${Math.round(Math.abs(t.change) * 100)}%` : "new";
        return el("li", {}, el("span", {}, t.term), el("span", { class: "chg" }, `${t.count} · ${change}`));
      });
    this.negative.replaceChildren(...rows(result.negative));
    this.positive.replaceChildren(...rows(result.positive));
    clearNote(this.note, `window ${result.window ?? ""}`);
  }
}

export class Alerts {
  constructor() {
    this.list = document.getElementById("alerts");
    this.note = document.getElementById("alerts-note");
  }

  row(alert) {
    const scope = [alert.source, alert.topic && `#${alert.topic}`].filter(Boolean).join(" ") || "all";
    const value = typeof alert.value === "number" ? alert.value.toFixed(2) : alert.value;
    const baseline =
      typeof alert.baseline_mean === "number" ? ` vs ${alert.baseline_mean.toFixed(2)} ± ${(alert.baseline_std ?? 0).toFixed(2)}` : "";
    return el(
      "li",
      {},
      el("strong", {}, `${alert.kind ?? "alert"} · ${scope}`),
      el("div", {}, `${value ?? ""}${baseline}`),
      el("div", { class: "when" }, when(alert.created_at ?? alert.window_end)),
    );
  }

  render(items) {
    clearNote(this.note, items.length ? "" : "no alerts");
    this.list.replaceChildren(...items.map((a) => this.row(a)));
  }

  add(items) {
    if (!items.length) return;
    clearNote(this.note);
    for (const alert of items) this.list.prepend(this.row(alert));
  }
}

/** The post detail dialog: the text, its analysis with every probability, the model version. */
export function renderDetail(post) {
  const a = post.analysis;
  const probs = (values) =>
    el(
      "span",
      {},
      Object.entries(values ?? {})
        .sort((x, y) => y[1] - x[1])
        .map(([label, p]) => `${label} ${percent(p)}`)
        .join(" · "),
    );
  const rows = [
    ["Source", post.source],
    ["Topic", post.topic ?? "–"],
    ["Language", post.lang ?? "unknown"],
    ["Author", post.author ?? "–"],
    ["Written", new Date(post.created_at).toLocaleString()],
    ["Link", post.url ? el("a", { href: post.url, rel: "noopener noreferrer", target: "_blank" }, post.url) : "–"],
  ];
  if (a) {
    rows.push(
      ["Sentiment", el("span", { class: `chip s-${a.sentiment}` }, `${a.sentiment} ${percent(a.sentiment_confidence)}`)],
      ["Sentiment probabilities", probs(a.sentiment_probs)],
      ["Polarity", a.polarity.toFixed(3)],
      ["Emotion", el("span", { class: `chip e-chip e-${a.emotion}` }, `${a.emotion} ${percent(a.emotion_confidence)}`)],
      ["Emotion probabilities", probs(a.emotion_probs)],
      ["Model version", el("code", { id: "d-model" }, a.model_version)],
      ["Analysed", new Date(a.analyzed_at).toLocaleString()],
    );
  } else {
    rows.push(["Analysis", "not analysed yet"]);
  }
  if (post.handled_at) rows.push(["Handled", new Date(post.handled_at).toLocaleString()]);
  return [
    el("blockquote", {}, post.text),
    el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
  ];
}
