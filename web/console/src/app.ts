// The console: a session (the bearer token kept in this browser), hash
// routes, and the navigation each role sees.

import { Client, type AuthResult, type SystemConfig, type User } from "./client.js";
import { describe, h } from "./dom.js";
import { accountViews } from "./account.js";
import { adminViews } from "./admin.js";
import { providerViews } from "./provider.js";
import { shopViews } from "./shop.js";

const TOKEN_KEY = "marketplace.token";

/** What every view gets: the client, who is signed in, the settings. */
export interface Ctx {
  readonly api: Client;
  readonly me: User | undefined;
  readonly config: SystemConfig | undefined;
  go(path: string): void;
  signedIn(result: AuthResult): void;
  signOut(): Promise<void>;
  /** Read who is signed in again (after a change of roles) and redraw. */
  refresh(): Promise<void>;
}

export type Access = "public" | "user" | "provider" | "admin";

/** A view: the path's parts after the route's name, and the query. */
export type View = (ctx: Ctx, args: string[], query: URLSearchParams) => Promise<HTMLElement> | HTMLElement;

export interface Route {
  access: Access;
  title: string;
  view: View;
}

const PROVIDER_ROLES = new Set(["service_provider", "app_provider", "resource_provider"]);

export function isProvider(user: User | undefined): boolean {
  return user?.roles.some((r) => PROVIDER_ROLES.has(r)) ?? false;
}

export function isAdmin(user: User | undefined): boolean {
  return user?.roles.includes("admin") ?? false;
}

function allowed(access: Access, user: User | undefined): boolean {
  switch (access) {
    case "public":
      return true;
    case "user":
      return user !== undefined;
    case "provider":
      return isProvider(user);
    case "admin":
      return isAdmin(user);
  }
}

const routes: Record<string, Route> = {
  ...shopViews,
  ...accountViews,
  ...providerViews,
  ...adminViews,
};

const NAV: [string, string, Access][] = [
  ["#/products", "Products", "public"],
  ["#/cart", "Cart", "user"],
  ["#/orders", "Orders", "user"],
  ["#/wallet", "Wallet", "user"],
  ["#/rentals", "Rentals", "user"],
  ["#/messages", "Messages", "user"],
  ["#/provider/products", "Selling", "user"],
  ["#/provider/sales", "Sales", "provider"],
  ["#/admin/stats", "Stats", "admin"],
  ["#/admin/users", "Users", "admin"],
  ["#/admin/audit", "Audit", "admin"],
  ["#/admin/ledger", "Ledger", "admin"],
  ["#/admin/settings", "Settings", "admin"],
];

class Console implements Ctx {
  readonly api: Client;
  me: User | undefined;
  config: SystemConfig | undefined;
  readonly #main: HTMLElement;
  readonly #nav: HTMLElement;
  #rendering = 0;

  constructor(root: HTMLElement) {
    const token = localStorage.getItem(TOKEN_KEY) ?? undefined;
    this.api = new Client({ url: new URL("/rpc", location.href).href, token });
    this.#nav = h("nav", { class: "top", "aria-label": "Main" });
    this.#main = h("main", { id: "main" });
    root.replaceChildren(h("header", {}, h("a", { class: "brand", href: "#/products" }, "Marketplace"), this.#nav), this.#main);
    window.addEventListener("hashchange", () => void this.render());
  }

  async start(): Promise<void> {
    try {
      this.config = await this.api.system.config();
    } catch (e) {
      this.#main.replaceChildren(h("p", { class: "status error", role: "alert" }, `The server does not answer: ${describe(e)}`));
      return;
    }
    if (this.api.token !== undefined) {
      try {
        this.me = await this.api.auth.me();
      } catch {
        // an expired or revoked token: signed out
        this.#forget();
      }
    }
    await this.render();
  }

  go(path: string): void {
    if (location.hash === path) void this.render();
    else location.hash = path;
  }

  signedIn(result: AuthResult): void {
    localStorage.setItem(TOKEN_KEY, result.token);
    this.api.setToken(result.token);
    this.me = result.user;
    this.go("#/products");
  }

  async refresh(): Promise<void> {
    this.me = await this.api.auth.me();
    await this.render();
  }

  async signOut(): Promise<void> {
    try {
      await this.api.auth.logout();
    } finally {
      this.#forget();
      this.go("#/login");
    }
  }

  #forget(): void {
    localStorage.removeItem(TOKEN_KEY);
    this.api.setToken(undefined);
    this.me = undefined;
  }

  #renderNav(current: string): void {
    const links = NAV.filter(([, , access]) => allowed(access, this.me)).map(([href, label]) =>
      h("a", { href, class: current.startsWith(href) ? "current" : undefined }, label),
    );
    const who =
      this.me === undefined
        ? [h("a", { href: "#/login" }, "Sign in"), h("a", { href: "#/register" }, "Register")]
        : [
            h("span", { class: "who" }, this.me.display_name),
            h("button", { type: "button", class: "link", onclick: () => void this.signOut() }, "Sign out"),
          ];
    this.#nav.replaceChildren(...links, h("span", { class: "session" }, ...who));
  }

  async render(): Promise<void> {
    const ticket = ++this.#rendering;
    const hash = location.hash === "" ? "#/products" : location.hash;
    const [path = "", search = ""] = hash.slice(2).split("?");
    const parts = path.split("/").filter((p) => p !== "").map(decodeURIComponent);
    // the longest route name that prefixes the path: "admin/users" before "admin"
    let name = "";
    let args: string[] = [];
    for (let i = parts.length; i > 0; i--) {
      const candidate = parts.slice(0, i).join("/");
      if (routes[candidate] !== undefined) {
        name = candidate;
        args = parts.slice(i);
        break;
      }
    }
    this.#renderNav(hash);
    const route = routes[name];
    let body: HTMLElement;
    if (route === undefined) {
      body = h("section", {}, h("h2", {}, "Not found"), h("p", {}, "There is no such page. "), h("a", { href: "#/products" }, "See the products"));
      document.title = "Not found · Marketplace";
    } else if (!allowed(route.access, this.me)) {
      body =
        this.me === undefined
          ? h("section", {}, h("h2", {}, route.title), h("p", { class: "status error", role: "alert" }, "Sign in to see this page. "), h("a", { href: "#/login" }, "Sign in"))
          : h("section", {}, h("h2", {}, route.title), h("p", { class: "status error", role: "alert" }, "Your account may not see this page."));
      document.title = `${route.title} · Marketplace`;
    } else {
      document.title = `${route.title} · Marketplace`;
      try {
        body = await route.view(this, args, new URLSearchParams(search));
      } catch (e) {
        body = h("section", {}, h("h2", {}, route.title), h("p", { class: "status error", role: "alert" }, describe(e)));
      }
    }
    // a later navigation wins over a slow earlier one
    if (ticket === this.#rendering) this.#main.replaceChildren(body);
  }
}

const root = document.getElementById("console");
if (root !== null) void new Console(root).start();
