// @generated from the OpenRPC document of Gadgets 1.0.0 by `marketplace schema typescript`. Do not edit.
/* eslint-disable */

/** Application error kinds and their JSON-RPC error codes. */
export const ERROR_KINDS = {
  invalid_input: 4000,
  unauthenticated: 4010,
  insufficient_funds: 4020,
  forbidden: 4030,
  not_found: 4040,
  conflict: 4090,
  idempotency_mismatch: 4091,
  invalid_state: 4220,
  rate_limited: 4290,
} as const;

/** The kind of an application error (`error.data.kind`). */
export type ErrorKind = keyof typeof ERROR_KINDS;

// ---------------------------------------------------------------------------
// Runtime: JSON-RPC 2.0 over HTTP (calls, notifications, batches) and over a
// WebSocket (calls and event subscriptions), and the typed error class.
// ---------------------------------------------------------------------------

/** The standard JSON-RPC 2.0 errors, by kind. */
export const STANDARD_ERRORS = {
  parse_error: -32700,
  invalid_request: -32600,
  method_not_found: -32601,
  invalid_params: -32602,
  internal_error: -32603,
} as const;

/** The kind of a standard JSON-RPC error. */
export type StandardErrorKind = keyof typeof STANDARD_ERRORS;

/** Every kind an error may have; `unknown` for a code this client does not know. */
export type AnyErrorKind = ErrorKind | StandardErrorKind | "unknown";

function kindOf(code: number, data: unknown): AnyErrorKind {
  const named = isObject(data) && typeof data.kind === "string" ? data.kind : undefined;
  for (const [kind, c] of Object.entries(ERROR_KINDS)) {
    if (kind === named || (named === undefined && c === code)) return kind as ErrorKind;
  }
  for (const [kind, c] of Object.entries(STANDARD_ERRORS)) {
    if (c === code) return kind as StandardErrorKind;
  }
  return "unknown";
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A JSON-RPC error answer: an application error (`code` and `kind` from
 * the API's table) or a standard JSON-RPC error. */
export class RpcError extends Error {
  readonly code: number;
  readonly kind: AnyErrorKind;
  readonly data: unknown;
  /** The method whose call failed, when known. */
  readonly method: string | undefined;

  constructor(code: number, message: string, data?: unknown, method?: string) {
    super(method === undefined ? message : `${method}: ${message}`);
    this.name = "RpcError";
    this.code = code;
    this.kind = kindOf(code, data);
    this.data = data;
    this.method = method;
  }

  /** For `invalid_input`: the reason per offending field (`error.data.fields`). */
  get fields(): Record<string, string> {
    const fields = isObject(this.data) ? this.data.fields : undefined;
    const out: Record<string, string> = {};
    if (isObject(fields)) {
      for (const [name, reason] of Object.entries(fields)) out[name] = String(reason);
    }
    return out;
  }
}

/** The server could not be reached, or answered with something that is not
 * JSON-RPC (for example HTTP 413 for a body over the limit). */
export class TransportError extends Error {
  /** The HTTP status, when there was an answer. */
  readonly status: number | undefined;

  constructor(message: string, status?: number) {
    super(message);
    this.name = "TransportError";
    this.status = status;
  }
}

/** One page of a list: pass `next_cursor` as `cursor` for the next one. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** The name of a method. */
export type MethodName = keyof Methods;
/** The params of a method (by name). */
export type ParamsOf<M extends MethodName> = Methods[M]["params"];
/** The result of a method. */
export type ResultOf<M extends MethodName> = Methods[M]["result"];

/** The outcome of one call of a batch. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: RpcError };

/** One call of a batch, made with {@link request}. */
export interface BatchCall<M extends MethodName = MethodName> {
  readonly method: M;
  readonly params: ParamsOf<M>;
}

/** A call for {@link RpcClient.batch}, typed by its method. */
export function request<M extends MethodName>(method: M, params: ParamsOf<M>): BatchCall<M> {
  return { method, params };
}

/** The outcomes of a batch, in the order of its calls. */
export type BatchResults<C extends readonly BatchCall[]> = {
  -readonly [K in keyof C]: C[K] extends BatchCall<infer M> ? Settled<ResultOf<M>> : never;
};

/** Options of one call. */
export interface CallOptions {
  /** Give up after this many milliseconds. */
  timeoutMs?: number;
}

/** The part of the Fetch API the client uses (the global `fetch` fits). */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; signal?: unknown },
) => Promise<{ status: number; text(): Promise<string> }>;

/** Settings of an {@link RpcClient}. */
export interface ClientOptions {
  /** The JSON-RPC endpoint, e.g. `https://host/rpc`. */
  url: string;
  /** Bearer token (from `auth.login`, `auth.register` or an API key). */
  token?: string;
  /** Extra HTTP headers on every request. */
  headers?: Record<string, string>;
  /** The fetch function; the global `fetch` when absent. */
  fetch?: FetchLike;
}

interface Answer {
  id?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** JSON-RPC 2.0 over HTTP POST. */
export class RpcClient {
  readonly url: string;
  #token: string | undefined;
  #headers: Record<string, string>;
  #fetch: FetchLike;
  #nextId = 1;

  constructor(options: ClientOptions) {
    this.url = options.url;
    this.#token = options.token;
    this.#headers = { ...(options.headers ?? {}) };
    const fallback = (globalThis as { fetch?: FetchLike }).fetch;
    const f = options.fetch ?? fallback;
    if (f === undefined) throw new TransportError("no fetch function: pass options.fetch");
    this.#fetch = f;
  }

  /** The bearer token sent with every call, if any. */
  get token(): string | undefined {
    return this.#token;
  }

  /** Send `token` with every later call (undefined: none). */
  setToken(token: string | undefined): void {
    this.#token = token;
  }

  /** Call `method` with its params by name; its result, or an {@link RpcError}. */
  async call<M extends MethodName>(method: M, params: ParamsOf<M>, options?: CallOptions): Promise<ResultOf<M>> {
    const id = this.#nextId++;
    const answer = await this.#post({ jsonrpc: "2.0", id, method, params }, options);
    return settle(answer, method) as ResultOf<M>;
  }

  /** Send `method` as a notification: no answer, no error. */
  async notify<M extends MethodName>(method: M, params: ParamsOf<M>, options?: CallOptions): Promise<void> {
    await this.#post({ jsonrpc: "2.0", method, params }, options);
  }

  /** Send several calls in one request (the server's batch limit applies);
   * each outcome is settled on its own, in the order of `calls`. */
  async batch<const C extends readonly BatchCall[]>(calls: C, options?: CallOptions): Promise<BatchResults<C>> {
    if (calls.length === 0) return [] as unknown as BatchResults<C>;
    const first = this.#nextId;
    this.#nextId += calls.length;
    const body = calls.map((c, i) => ({ jsonrpc: "2.0", id: first + i, method: c.method, params: c.params }));
    const answer = await this.#post(body, options);
    if (!Array.isArray(answer)) {
      // a batch the server refused as a whole (e.g. over the limit)
      const error = toError(answer as Answer);
      return calls.map(() => ({ ok: false, error })) as unknown as BatchResults<C>;
    }
    const byId = new Map<unknown, Answer>();
    for (const a of answer as Answer[]) byId.set(a.id, a);
    return calls.map((c, i) => {
      const a = byId.get(first + i);
      if (a === undefined) {
        return { ok: false, error: new RpcError(STANDARD_ERRORS.internal_error, "no answer in the batch", undefined, c.method) };
      }
      if (a.error !== undefined) return { ok: false, error: toError(a, c.method) };
      return { ok: true, value: a.result };
    }) as unknown as BatchResults<C>;
  }

  async #post(body: unknown, options?: CallOptions): Promise<unknown> {
    const headers: Record<string, string> = { "content-type": "application/json", ...this.#headers };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    const timeout = options?.timeoutMs;
    const abort = (globalThis as { AbortSignal?: { timeout(ms: number): unknown } }).AbortSignal;
    const signal = timeout === undefined ? undefined : abort?.timeout(timeout);
    let status: number;
    let text: string;
    try {
      // called unbound: a browser's fetch refuses any `this` but the window
      const send = this.#fetch;
      const res = await send(this.url, { method: "POST", headers, body: JSON.stringify(body), signal });
      status = res.status;
      text = await res.text();
    } catch (e) {
      throw new TransportError(`cannot reach ${this.url}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (status === 204 || text === "") return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new TransportError(`HTTP ${status}: not a JSON-RPC answer`, status);
    }
  }
}

function toError(a: Answer | undefined, method?: string): RpcError {
  const e = a?.error;
  if (e === undefined || typeof e.code !== "number") {
    return new RpcError(STANDARD_ERRORS.internal_error, "malformed answer", undefined, method);
  }
  return new RpcError(e.code, String(e.message), e.data, method);
}

function settle(answer: unknown, method: string): unknown {
  if (!isObject(answer)) throw new TransportError("not a JSON-RPC answer");
  const a = answer as Answer;
  if (a.error !== undefined) throw toError(a, method);
  return a.result;
}

// ---------------------------------------------------------------------------
// WebSocket: GET /rpc with an upgrade speaks the same JSON-RPC, plus event
// subscriptions.
// ---------------------------------------------------------------------------

/** One event of the event log, as a subscription delivers it. */
export interface MarketEvent {
  seq: number;
  id: string;
  type: string;
  at: string;
  actor_id: string | null;
  object_type: string;
  object_id: string;
  data: unknown;
}

/** The part of a WebSocket the client uses (the browser's and Node's fit). */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** Settings of a {@link RpcSocket}. */
export interface SocketOptions {
  /** `ws://host/rpc` or `wss://host/rpc`. */
  url: string;
  /** Sent as the first call, `auth.use_token {token}`, when given. */
  token?: string;
  /** Makes the socket; the global `WebSocket` when absent. */
  connect?: (url: string) => WebSocketLike;
  /** Called once when the connection closes (1008: the client was too slow;
   * resume with `after_seq` set to the last seq seen). */
  onClose?: (code: number, reason: string) => void;
}

/** An event subscription: events arrive in `seq` order, backlog first. */
export class Subscription {
  readonly id: string;
  /** The seq of the last event delivered (resume from it with `after_seq`). */
  lastSeq: number | undefined;
  readonly #socket: RpcSocket;

  constructor(socket: RpcSocket, id: string, afterSeq: number | undefined) {
    this.#socket = socket;
    this.id = id;
    this.lastSeq = afterSeq;
  }

  /** Stop the events (`event.unsubscribe`). */
  async unsubscribe(): Promise<void> {
    await this.#socket.unsubscribe(this);
  }
}

type Pending = {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  method: string;
  /** Turns the result into the promised value as the answer is read. */
  accept?: (result: unknown) => unknown;
};

/** JSON-RPC 2.0 over a WebSocket: calls, and `event.subscribe`. */
export class RpcSocket {
  readonly #ws: WebSocketLike;
  readonly #pending = new Map<number, Pending>();
  readonly #subscriptions = new Map<string, { sub: Subscription; onEvent: (e: MarketEvent) => void }>();
  #nextId = 1;
  #closed: { code: number; reason: string } | undefined;

  private constructor(ws: WebSocketLike, onClose?: (code: number, reason: string) => void) {
    this.#ws = ws;
    ws.onmessage = (ev) => this.#receive(ev.data);
    ws.onclose = (ev) => {
      this.#closed = { code: ev.code, reason: ev.reason };
      const error = new TransportError(`connection closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ""})`);
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
      onClose?.(ev.code, ev.reason);
    };
  }

  /** Open the socket (and sign in with `token` when given). */
  static async open(options: SocketOptions): Promise<RpcSocket> {
    const make =
      options.connect ??
      ((url: string) => {
        const WS = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
        if (WS === undefined) throw new TransportError("no WebSocket: pass options.connect");
        return new WS(url);
      });
    const ws = make(options.url);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new TransportError(`cannot connect to ${options.url}`));
    });
    ws.onerror = null;
    const socket = new RpcSocket(ws, options.onClose);
    if (options.token !== undefined) await socket.#request("auth.use_token", { token: options.token });
    return socket;
  }

  /** Call `method` over the socket. */
  call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    return this.#request(method, params) as Promise<ResultOf<M>>;
  }

  /** Subscribe to events (all visible ones, or of `types`), after `after_seq`
   * when given; `onEvent` gets each one once, in seq order. */
  subscribe(
    filter: { types?: string[]; after_seq?: number },
    onEvent: (event: MarketEvent) => void,
  ): Promise<Subscription> {
    // Registered as the answer is read: the first events may arrive in the
    // same read, before a promise continuation could run.
    return this.#request("event.subscribe", filter, (answer) => {
      const id = isObject(answer) && typeof answer.subscription === "string" ? answer.subscription : undefined;
      if (id === undefined) throw new TransportError("event.subscribe: no subscription id in the answer");
      const sub = new Subscription(this, id, filter.after_seq);
      this.#subscriptions.set(id, { sub, onEvent });
      return sub;
    }) as Promise<Subscription>;
  }

  /** Stop a subscription's events. */
  async unsubscribe(sub: Subscription): Promise<void> {
    this.#subscriptions.delete(sub.id);
    await this.#request("event.unsubscribe", { subscription: sub.id });
  }

  /** Close the connection. */
  close(): void {
    this.#ws.close(1000, "done");
  }

  #request(method: string, params: unknown, accept?: (result: unknown) => unknown): Promise<unknown> {
    if (this.#closed !== undefined) {
      return Promise.reject(new TransportError(`connection closed (${this.#closed.code})`));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, method, accept });
      this.#ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  #receive(data: unknown): void {
    let msg: unknown;
    try {
      msg = JSON.parse(String(data));
    } catch {
      return;
    }
    if (!isObject(msg)) return;
    if (msg.method === "event" && isObject(msg.params)) {
      const { subscription, event } = msg.params;
      const entry = typeof subscription === "string" ? this.#subscriptions.get(subscription) : undefined;
      if (entry === undefined || !isObject(event) || typeof event.seq !== "number") return;
      // at most once each, in order: a repeat of a seen seq is dropped
      if (entry.sub.lastSeq !== undefined && event.seq <= entry.sub.lastSeq) return;
      entry.sub.lastSeq = event.seq;
      entry.onEvent(event as unknown as MarketEvent);
      return;
    }
    if (typeof msg.id !== "number") return;
    const p = this.#pending.get(msg.id);
    if (p === undefined) return;
    this.#pending.delete(msg.id);
    const a = msg as Answer;
    if (a.error !== undefined) {
      p.reject(toError(a, p.method));
      return;
    }
    try {
      p.resolve(p.accept === undefined ? a.result : p.accept(a.result));
    } catch (e) {
      p.reject(e instanceof Error ? e : new TransportError(String(e)));
    }
  }
}

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/** Colors a gadget can have */
export const Color = ["red", "green", "blue"] as const;
export type Color = (typeof Color)[number];

/** A gadget in the inventory */
export interface Gadget {
  /** set by inventory checks only */
  readonly checked: boolean;
  /** findable by color */
  color: Color;
  created_at: string;
  /** ULID */
  id: string;
  /** display name */
  name: string;
  /** who registered it */
  owner_id: string;
  /** list price in TFC */
  price: string;
  /** manufacturer serial, unique */
  serial: string;
  /** where it is kept, if shelved */
  shelf?: Shelf;
  /** free-form labels */
  tags: string[];
  updated_at: string;
  version: number;
}

/** Gadget counts */
export interface GadgetCount {
  color: Color;
  count: number;
}

/** A loan of a gadget, added later with a service of its own; rewritten as it moves */
export interface Loan {
  /** who has it */
  borrower_id: string;
  created_at: string;
  /** the gadget lent */
  gadget_id: string;
  /** ULID */
  id: string;
  /** given back */
  readonly returned: boolean;
  updated_at: string;
  version: number;
}

/** Where something is kept */
export interface Shelf {
  /** shelf level, 0 is the floor */
  level: number;
  /** room name */
  room: string;
}

/** Out of gadgets */
export interface SoldOut {
  color: Color;
}

/** A widget, added later: only a struct with @index fields and @crud */
export interface Widget {
  created_at: string;
  /** ULID */
  id: string;
  label?: string;
  size: number;
  sku: string;
  updated_at: string;
  version: number;
}

// ---------------------------------------------------------------------------
// Methods
// ---------------------------------------------------------------------------

/** Params of `inventory.count`. */
export interface InventoryCountParams {
  color: Color;
}

/** Params of `inventory.reserve`. */
export interface InventoryReserveParams {
  color: Color;
  note?: string;
  /** Repeat-safe key: the first successful response is stored for 24 hours and replayed for a repeat with the same params; other params with the same key are `idempotency_mismatch` (4091). */
  idempotency_key?: string;
}

/** Params of `loan.lend`. */
export interface LoanLendParams {
  gadget_id: string;
  /** Repeat-safe key: the first successful response is stored for 24 hours and replayed for a repeat with the same params; other params with the same key are `idempotency_mismatch` (4091). */
  idempotency_key?: string;
}

/** Params of `loan.give_back`. */
export interface LoanGiveBackParams {
  id: string;
  /** Repeat-safe key: the first successful response is stored for 24 hours and replayed for a repeat with the same params; other params with the same key are `idempotency_mismatch` (4091). */
  idempotency_key?: string;
}

/** Params of `loan.history`. */
export interface LoanHistoryParams {
  gadget_id: string;
  limit?: number;
  cursor?: string;
}

/** Params of `loan.get`. */
export interface LoanGetParams {
  id: string;
}

/** Params of `gadget.create`. */
export interface GadgetCreateParams {
  name: string;
  serial: string;
  color: Color;
  price: string;
  shelf?: Shelf;
  tags?: string[];
  pin?: string;
  /** Repeat-safe key: the first successful response is stored for 24 hours and replayed for a repeat with the same params; other params with the same key are `idempotency_mismatch` (4091). */
  idempotency_key?: string;
}

/** Params of `gadget.get`. */
export interface GadgetGetParams {
  id: string;
}

/** Params of `gadget.list`. */
export interface GadgetListParams {
  limit?: number;
  cursor?: string;
}

/** Params of `gadget.find`. */
export interface GadgetFindParams {
  field: "serial" | "color" | "owner_id";
  value: unknown;
  limit?: number;
  cursor?: string;
}

/** Params of `gadget.update`. */
export interface GadgetUpdateParams {
  id: string;
  expected_version?: number;
  name?: string;
  serial?: string;
  color?: Color;
  price?: string;
  shelf?: Shelf;
  tags?: string[];
  pin?: string;
  /** Repeat-safe key: the first successful response is stored for 24 hours and replayed for a repeat with the same params; other params with the same key are `idempotency_mismatch` (4091). */
  idempotency_key?: string;
}

/** Params of `gadget.delete`. */
export interface GadgetDeleteParams {
  id: string;
  /** Repeat-safe key: the first successful response is stored for 24 hours and replayed for a repeat with the same params; other params with the same key are `idempotency_mismatch` (4091). */
  idempotency_key?: string;
}

/** Params of `widget.create`. */
export interface WidgetCreateParams {
  sku: string;
  size: number;
  label?: string;
  /** Repeat-safe key: the first successful response is stored for 24 hours and replayed for a repeat with the same params; other params with the same key are `idempotency_mismatch` (4091). */
  idempotency_key?: string;
}

/** Params of `widget.get`. */
export interface WidgetGetParams {
  id: string;
}

/** Params of `widget.list`. */
export interface WidgetListParams {
  limit?: number;
  cursor?: string;
}

/** Params of `widget.find`. */
export interface WidgetFindParams {
  field: "sku" | "size";
  value: unknown;
  limit?: number;
  cursor?: string;
}

/** Every method: its params (by name) and its result. */
export interface Methods {
  "inventory.count": { params: InventoryCountParams; result: GadgetCount };
  "inventory.reserve": { params: InventoryReserveParams; result: Gadget };
  "loan.lend": { params: LoanLendParams; result: Loan };
  "loan.give_back": { params: LoanGiveBackParams; result: Loan };
  "loan.history": { params: LoanHistoryParams; result: Page<Loan> };
  "loan.get": { params: LoanGetParams; result: Loan };
  "gadget.create": { params: GadgetCreateParams; result: Gadget };
  "gadget.get": { params: GadgetGetParams; result: Gadget };
  "gadget.list": { params: GadgetListParams; result: Page<Gadget> };
  "gadget.find": { params: GadgetFindParams; result: Page<Gadget> };
  "gadget.update": { params: GadgetUpdateParams; result: Gadget };
  "gadget.delete": { params: GadgetDeleteParams; result: {
    ok: boolean;
  } };
  "widget.create": { params: WidgetCreateParams; result: Widget };
  "widget.get": { params: WidgetGetParams; result: Widget };
  "widget.list": { params: WidgetListParams; result: Page<Widget> };
  "widget.find": { params: WidgetFindParams; result: Page<Widget> };
}

/** The API: one typed function per method, grouped by namespace
 * (`client.product.get({ id })`), on top of {@link RpcClient}'s `call`,
 * `notify` and `batch`. */
export class Client extends RpcClient {
  readonly inventory = {
    /**
     * How many gadgets of a color there are
     * Access: public.
     * Errors: invalid_input.
     */
    count: (params: InventoryCountParams, options?: CallOptions): Promise<ResultOf<"inventory.count">> =>
      this.call("inventory.count", params, options),
    /**
     * Reserve a gadget of a color for the caller
     * Access: user.
     * Errors: conflict, forbidden, idempotency_mismatch, invalid_input, unauthenticated.
     */
    reserve: (params: InventoryReserveParams, options?: CallOptions): Promise<ResultOf<"inventory.reserve">> =>
      this.call("inventory.reserve", params, options),
  };
  readonly loan = {
    /**
     * Lend a gadget to the caller, unless someone has it
     * Access: user.
     * Errors: forbidden, idempotency_mismatch, invalid_input, unauthenticated.
     */
    lend: (params: LoanLendParams, options?: CallOptions): Promise<ResultOf<"loan.lend">> =>
      this.call("loan.lend", params, options),
    /**
     * Give a loan back (the borrower or an admin)
     * Access: user.
     * Errors: forbidden, idempotency_mismatch, invalid_input, unauthenticated.
     */
    give_back: (params: LoanGiveBackParams, options?: CallOptions): Promise<ResultOf<"loan.give_back">> =>
      this.call("loan.give_back", params, options),
    /**
     * The loans of a gadget, newest first
     * Access: public.
     * Errors: invalid_input.
     */
    history: (params: LoanHistoryParams, options?: CallOptions): Promise<ResultOf<"loan.history">> =>
      this.call("loan.history", params, options),
    /**
     * One loan by id (the borrower or an admin)
     * Access: user.
     * Errors: forbidden, invalid_input, unauthenticated.
     */
    get: (params: LoanGetParams, options?: CallOptions): Promise<ResultOf<"loan.get">> =>
      this.call("loan.get", params, options),
  };
  readonly gadget = {
    /**
     * Create a Gadget
     * Access: user.
     * Errors: conflict, forbidden, invalid_input, unauthenticated.
     */
    create: (params: GadgetCreateParams, options?: CallOptions): Promise<ResultOf<"gadget.create">> =>
      this.call("gadget.create", params, options),
    /**
     * Get a Gadget by id
     * Access: public.
     * Errors: invalid_input, not_found.
     */
    get: (params: GadgetGetParams, options?: CallOptions): Promise<ResultOf<"gadget.get">> =>
      this.call("gadget.get", params, options),
    /**
     * List Gadget objects, newest first
     * Access: public.
     * Errors: invalid_input.
     */
    list: (params: GadgetListParams = {}, options?: CallOptions): Promise<ResultOf<"gadget.list">> =>
      this.call("gadget.list", params, options),
    /**
     * Find Gadget objects by an indexed field
     * Access: public.
     * Errors: invalid_input.
     */
    find: (params: GadgetFindParams, options?: CallOptions): Promise<ResultOf<"gadget.find">> =>
      this.call("gadget.find", params, options),
    /**
     * Change a Gadget; absent fields stay unchanged
     * Access: owner_or_admin.
     * Errors: conflict, forbidden, invalid_input, not_found, unauthenticated.
     */
    update: (params: GadgetUpdateParams, options?: CallOptions): Promise<ResultOf<"gadget.update">> =>
      this.call("gadget.update", params, options),
    /**
     * Delete a Gadget
     * Access: admin.
     * Errors: forbidden, invalid_input, not_found, unauthenticated.
     */
    delete: (params: GadgetDeleteParams, options?: CallOptions): Promise<ResultOf<"gadget.delete">> =>
      this.call("gadget.delete", params, options),
  };
  readonly widget = {
    /**
     * Create a Widget
     * Access: admin.
     * Errors: conflict, forbidden, invalid_input, unauthenticated.
     */
    create: (params: WidgetCreateParams, options?: CallOptions): Promise<ResultOf<"widget.create">> =>
      this.call("widget.create", params, options),
    /**
     * Get a Widget by id
     * Access: public.
     * Errors: invalid_input, not_found.
     */
    get: (params: WidgetGetParams, options?: CallOptions): Promise<ResultOf<"widget.get">> =>
      this.call("widget.get", params, options),
    /**
     * List Widget objects, newest first
     * Access: public.
     * Errors: invalid_input.
     */
    list: (params: WidgetListParams = {}, options?: CallOptions): Promise<ResultOf<"widget.list">> =>
      this.call("widget.list", params, options),
    /**
     * Find Widget objects by an indexed field
     * Access: public.
     * Errors: invalid_input.
     */
    find: (params: WidgetFindParams, options?: CallOptions): Promise<ResultOf<"widget.find">> =>
      this.call("widget.find", params, options),
  };
}
