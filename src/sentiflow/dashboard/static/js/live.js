// The /ws/live connection: reconnects with backoff and reports its state; a heartbeat that
// stops arriving counts as a lost connection.

import { wsURL } from "./api.js";

const SILENCE_MS = 40000;
// Close codes of a client the server refuses: no read credential, or the wrong one.
const REFUSED = new Set([4401, 4403]);

export class LiveFeed {
  constructor({ onMessage, onState }) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.socket = null;
    this.backoff = 500;
    this.filters = null;
    this.watchdog = null;
  }

  connect(filters) {
    this.filters = { ...filters };
    this.close();
    const socket = new WebSocket(wsURL(this.filters));
    this.socket = socket;
    this.onState("connecting");
    socket.addEventListener("open", () => {
      this.backoff = 500;
      this.onState("live");
      this.kick();
    });
    socket.addEventListener("message", (event) => {
      this.kick();
      const message = JSON.parse(event.data);
      if (message.type !== "ping") this.onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      if (REFUSED.has(event.code)) {
        // Not signed in (or not allowed): retrying would be refused the same way.
        this.socket = null;
        clearTimeout(this.watchdog);
        this.onState("refused");
        return;
      }
      this.onState("down");
      clearTimeout(this.watchdog);
      setTimeout(() => this.socket === socket && this.connect(this.filters), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 15000);
    });
  }

  kick() {
    clearTimeout(this.watchdog);
    const socket = this.socket;
    this.watchdog = setTimeout(() => socket.close(), SILENCE_MS);
  }

  close() {
    const socket = this.socket;
    this.socket = null;
    clearTimeout(this.watchdog);
    if (socket) socket.close();
  }
}
