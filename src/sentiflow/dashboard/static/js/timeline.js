// Sentiment over time: posts per bucket stacked by sentiment, drawn with the vendored uPlot.
// History comes from the API; live messages add their per-minute counts to the same buckets.

import uPlot from "../vendor/uplot/uPlot.esm.js";

export const SENTIMENTS = ["negative", "neutral", "positive"];
const SIZES = { minute: 60, hour: 3600, day: 86400 };
const MAX_POINTS = 20000;

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export class Timeline {
  constructor(element) {
    this.element = element;
    this.buckets = new Map();
    this.bucket = "minute";
    this.windowSeconds = 86400;
    this.plot = null;
    this.raw = null;
    new ResizeObserver(() => this.resize()).observe(element);
  }

  get size() {
    return SIZES[this.bucket];
  }

  /** Replace everything with `points` ([{t, counts}]) for the given bucket and window. */
  reset(points, bucket, windowSeconds) {
    this.bucket = bucket;
    this.windowSeconds = windowSeconds;
    this.buckets = new Map();
    for (const point of points) this.add(point.t, point.counts);
    this.render();
  }

  /** Add counts at `t` (epoch seconds or ISO string) into the bucket that holds it. */
  add(t, counts) {
    const seconds = typeof t === "number" ? t : Date.parse(t) / 1000;
    const key = Math.floor(seconds / this.size) * this.size;
    const slot = this.buckets.get(key) ?? { negative: 0, neutral: 0, positive: 0 };
    for (const sentiment of SENTIMENTS) slot[sentiment] += counts[sentiment] ?? 0;
    this.buckets.set(key, slot);
  }

  addLive(series) {
    for (const point of series) this.add(point.t, point.counts);
    this.render();
  }

  data() {
    const size = this.size;
    const now = Math.floor(Date.now() / 1000 / size) * size;
    const keys = [...this.buckets.keys()];
    let start = this.windowSeconds
      ? Math.floor((Date.now() / 1000 - this.windowSeconds) / size) * size
      : Math.min(now, ...keys);
    const end = Math.max(now, ...keys);
    start = Math.max(start, end - (MAX_POINTS - 1) * size);
    const xs = [];
    const raw = SENTIMENTS.map(() => []);
    for (let x = start; x <= end; x += size) {
      xs.push(x);
      const slot = this.buckets.get(x);
      SENTIMENTS.forEach((s, i) => raw[i].push(slot ? slot[s] : 0));
    }
    return { xs, raw };
  }

  render() {
    const { xs, raw } = this.data();
    this.raw = raw;
    // Stack by drawing cumulative sums, tallest (all three) first, each over the one before.
    const cumulative = [];
    let running = xs.map(() => 0);
    for (const values of raw) {
      running = running.map((v, i) => v + values[i]);
      cumulative.push(running);
    }
    const total = raw.flat().reduce((a, b) => a + b, 0);
    this.element.dataset.total = String(total);
    this.element.dataset.bucket = this.bucket;
    const data = [xs, ...cumulative.slice().reverse()];
    if (this.plot) this.plot.setData(data);
    else this.create(data);
  }

  create(data) {
    const ink = cssVar("--muted");
    const grid = cssVar("--line");
    const axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    const order = SENTIMENTS.slice().reverse();
    const bars = uPlot.paths.bars({ size: [0.85, 48], gap: 1 });
    const options = {
      width: this.element.clientWidth || 600,
      height: Math.max(220, Math.round(this.element.clientHeight || 260)),
      legend: { live: true },
      cursor: { points: { show: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max) * 1.08] } },
      axes: [axis, { ...axis, size: 50 }],
      series: [
        {},
        ...order.map((sentiment) => {
          const color = cssVar(`--${sentiment}`);
          const index = SENTIMENTS.indexOf(sentiment);
          return {
            label: sentiment,
            stroke: color,
            fill: color,
            width: 0,
            paths: bars,
            points: { show: false },
            value: (u, v, si, di) => (di == null || !this.raw ? "–" : this.raw[index][di]),
          };
        }),
      ],
    };
    this.element.replaceChildren();
    this.plot = new uPlot(options, data, this.element);
  }

  /** Rebuild with the current theme's colours. */
  restyle() {
    if (!this.plot) return;
    this.plot.destroy();
    this.plot = null;
    this.render();
  }

  resize() {
    if (!this.plot) return;
    const width = this.element.clientWidth;
    if (width && Math.abs(width - this.plot.width) > 2) {
      this.plot.setSize({ width, height: this.plot.height });
    }
  }
}
