// Signing in and out: the server keeps the session in an HttpOnly cookie, so the key typed
// here is sent once, in a POST body, and never stored by the page or put in a URL.

const $ = (id) => document.getElementById(id);

export class Session {
  constructor({ onChange }) {
    this.onChange = onChange;
    this.state = { signed_in: false, keys_required: false, reads_need_key: false, scopes: [] };
    $("sign-in-open").addEventListener("click", () => this.ask("Sign in with an API key to make changes."));
    $("sign-out").addEventListener("click", () => this.signOut());
    $("sign-in-cancel").addEventListener("click", () => $("sign-in").close());
    $("sign-in-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.signIn($("sign-in-key").value.trim());
    });
  }

  /** Whether the panels may load: reads are open, or this browser is signed in. */
  get canRead() {
    return !this.state.reads_need_key || this.state.signed_in;
  }

  async refresh() {
    try {
      const response = await fetch("/api/session");
      if (response.ok) this.state = await response.json();
    } catch {
      // The server is unreachable: the live feed's state says so.
    }
    this.show();
    return this.state;
  }

  show() {
    const { signed_in, keys_required, name } = this.state;
    $("who").textContent = signed_in ? `signed in as ${name}` : "";
    $("sign-out").hidden = !signed_in;
    $("sign-in-open").hidden = signed_in || !keys_required;
    document.body.dataset.session = signed_in ? "signed-in" : this.canRead ? "open" : "needs-sign-in";
    if (!this.canRead) this.ask("This server needs an API key with scope read to show its data.");
  }

  ask(why) {
    $("sign-in-why").textContent = why;
    $("sign-in-error").textContent = "";
    const dialog = $("sign-in");
    if (!dialog.open) dialog.showModal();
    $("sign-in-key").focus();
  }

  async signIn(key) {
    const response = await fetch("/api/session", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key }),
    }).catch(() => null);
    const data = await response?.json().catch(() => null);
    if (!response?.ok) {
      $("sign-in-error").textContent = data?.error?.message ?? "the server could not be reached";
      return;
    }
    $("sign-in-key").value = "";
    $("sign-in").close();
    this.state = data;
    this.show();
    this.onChange(this.state);
  }

  async signOut() {
    await fetch("/api/session", { method: "DELETE" }).catch(() => null);
    await this.refresh();
    this.onChange(this.state);
  }

  /** A sentence for a write the server refused (401, 403, 429), saying what to do. */
  refusal(what, result) {
    const message = result.data?.error?.message ?? `the server answered ${result.status}`;
    if (result.status === 401) return `${what} needs a sign-in: ${message}`;
    if (result.status === 403) return `${what} was refused: ${message}`;
    if (result.status === 429) return `${what} was refused for now: ${message}`;
    return `${what} failed: ${message}`;
  }
}
