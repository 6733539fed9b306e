// Building blocks of the views: elements made from text (never from HTML, so
// nothing a user wrote can become markup), forms whose errors show in place,
// and lists paged with the server's cursors.

import { RpcError, type Page } from "./client.js";

export type Child = Node | string | number | null | undefined | false;

type Props = {
  class?: string;
  href?: string;
  type?: string;
  name?: string;
  value?: string;
  placeholder?: string;
  role?: string;
  for?: string;
  id?: string;
  min?: string;
  step?: string;
  required?: boolean;
  autocomplete?: string;
  "aria-label"?: string;
  "aria-live"?: string;
  onclick?: (ev: MouseEvent) => void;
};

/** An element with attributes and children (strings become text nodes). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (key === "onclick") el.addEventListener("click", value as (ev: Event) => void);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "number" ? String(c) : c);
  }
}

/** What to tell the user about a failure: the server's message, and the
 * reason per field for invalid input. */
export function describe(error: unknown): string {
  if (error instanceof RpcError) {
    const fields = Object.entries(error.fields).map(([field, reason]) => `${field}: ${reason}`);
    const message = error.message.replace(/^[a-z_]+\.[a-z_]+: /, "");
    return fields.length === 0 ? message : `${message} (${fields.join("; ")})`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A place for the outcome of an action, announced to screen readers. */
export function statusLine(): { el: HTMLElement; error(e: unknown): void; ok(text: string): void; clear(): void } {
  const el = h("p", { class: "status", "aria-live": "polite" });
  return {
    el,
    error(e) {
      el.className = "status error";
      el.setAttribute("role", "alert");
      el.textContent = describe(e);
    },
    ok(text) {
      el.className = "status ok";
      el.removeAttribute("role");
      el.textContent = text;
    },
    clear() {
      el.className = "status";
      el.removeAttribute("role");
      el.textContent = "";
    },
  };
}

/** A labelled input. */
export function field(label: string, name: string, props: Props = {}): HTMLLabelElement {
  return h("label", {}, h("span", {}, label), h("input", { name, ...props }));
}

/** A labelled select of `options`. */
export function select(label: string, name: string, options: readonly string[], empty?: string): HTMLLabelElement {
  const el = h("select", { name });
  if (empty !== undefined) el.append(h("option", { value: "" }, empty));
  for (const o of options) el.append(h("option", { value: o }, o.replace(/_/g, " ")));
  return h("label", {}, h("span", {}, label), el);
}

/** A form whose submit runs `action` with its values; the button is off while
 * it runs and an error shows under the form. */
export function form(
  title: string | null,
  fields: Child[],
  submit: string,
  action: (values: Record<string, string>, status: ReturnType<typeof statusLine>) => Promise<void>,
): HTMLFormElement {
  const status = statusLine();
  const button = h("button", { type: "submit" }, submit);
  const el = h("form", { class: "card form", "aria-label": title ?? undefined }, title === null ? null : h("h3", {}, title), ...fields, button, status.el);
  el.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const values: Record<string, string> = {};
    new FormData(el).forEach((v, k) => {
      values[k] = typeof v === "string" ? v.trim() : "";
    });
    button.disabled = true;
    status.clear();
    action(values, status)
      .catch((e: unknown) => status.error(e))
      .finally(() => {
        button.disabled = false;
      });
  });
  return el;
}

/** A button that runs `action`, off while it runs; an error shows beside it. */
export function actionButton(label: string, action: () => Promise<void>, status?: ReturnType<typeof statusLine>): HTMLElement {
  const line = status ?? statusLine();
  const button = h("button", { type: "button" }, label);
  button.addEventListener("click", () => {
    button.disabled = true;
    line.clear();
    action()
      .catch((e: unknown) => line.error(e))
      .finally(() => {
        button.disabled = false;
      });
  });
  return status === undefined ? h("span", { class: "action" }, button, line.el) : button;
}

/** A paged list on screen; `reload()` reads its current page again. */
export interface Paged {
  el: HTMLElement;
  reload(): Promise<void>;
}

/** A list read page by page with the server's cursors, with previous and
 * next buttons. */
export function pager<T>(
  label: string,
  load: (cursor: string | undefined) => Promise<Page<T>>,
  render: (item: T) => HTMLElement,
  empty: string,
): Paged {
  const list = h("ul", { class: "list", "aria-label": label });
  const status = statusLine();
  const prev = h("button", { type: "button" }, "Previous");
  const next = h("button", { type: "button" }, "Next");
  const where = h("span", { class: "page-number" });
  const cursors: (string | undefined)[] = [undefined];
  let nextCursor: string | null = null;
  const show = async (): Promise<void> => {
    status.clear();
    try {
      const page = await load(cursors[cursors.length - 1]);
      list.replaceChildren(...page.items.map((item) => h("li", {}, render(item))));
      if (page.items.length === 0) list.append(h("li", { class: "empty" }, empty));
      nextCursor = page.next_cursor;
    } catch (e) {
      status.error(e);
      nextCursor = null;
    }
    prev.disabled = cursors.length === 1;
    next.disabled = nextCursor === null;
    where.textContent = `Page ${cursors.length}`;
  };
  prev.addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    void show();
  });
  next.addEventListener("click", () => {
    if (nextCursor !== null) cursors.push(nextCursor);
    void show();
  });
  const el = h("section", { class: "paged" }, list, status.el, h("nav", { class: "pages", "aria-label": `${label} pages` }, prev, where, next));
  void show();
  return { el, reload: show };
}

/** A titled group of label and value lines. */
export function facts(rows: [string, Child][]): HTMLElement {
  return h("dl", { class: "facts" }, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** A time as the reader's locale shows it. */
export function when(rfc3339: string | undefined): string {
  if (rfc3339 === undefined) return "";
  const d = new Date(rfc3339);
  return Number.isNaN(d.getTime()) ? rfc3339 : d.toLocaleString();
}

/** The last characters of an id (its random part), enough to tell ids apart on screen. */
export function short(id: string): string {
  return id.slice(-8);
}

/** A new idempotency key, so that a retried click never pays twice. */
export function idempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
