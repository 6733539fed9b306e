// @generated from the OpenRPC document of Marketplace 0.1.0 by `marketplace schema typescript`. Do not edit.
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
};
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
};
function kindOf(code, data) {
    const named = isObject(data) && typeof data.kind === "string" ? data.kind : undefined;
    for (const [kind, c] of Object.entries(ERROR_KINDS)) {
        if (kind === named || (named === undefined && c === code))
            return kind;
    }
    for (const [kind, c] of Object.entries(STANDARD_ERRORS)) {
        if (c === code)
            return kind;
    }
    return "unknown";
}
function isObject(v) {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}
/** A JSON-RPC error answer: an application error (`code` and `kind` from
 * the API's table) or a standard JSON-RPC error. */
export class RpcError extends Error {
    code;
    kind;
    data;
    /** The method whose call failed, when known. */
    method;
    constructor(code, message, data, method) {
        super(method === undefined ? message : `${method}: ${message}`);
        this.name = "RpcError";
        this.code = code;
        this.kind = kindOf(code, data);
        this.data = data;
        this.method = method;
    }
    /** For `invalid_input`: the reason per offending field (`error.data.fields`). */
    get fields() {
        const fields = isObject(this.data) ? this.data.fields : undefined;
        const out = {};
        if (isObject(fields)) {
            for (const [name, reason] of Object.entries(fields))
                out[name] = String(reason);
        }
        return out;
    }
}
/** The server could not be reached, or answered with something that is not
 * JSON-RPC (for example HTTP 413 for a body over the limit). */
export class TransportError extends Error {
    /** The HTTP status, when there was an answer. */
    status;
    constructor(message, status) {
        super(message);
        this.name = "TransportError";
        this.status = status;
    }
}
/** A call for {@link RpcClient.batch}, typed by its method. */
export function request(method, params) {
    return { method, params };
}
/** JSON-RPC 2.0 over HTTP POST. */
export class RpcClient {
    url;
    #token;
    #headers;
    #fetch;
    #nextId = 1;
    constructor(options) {
        this.url = options.url;
        this.#token = options.token;
        this.#headers = { ...(options.headers ?? {}) };
        const fallback = globalThis.fetch;
        const f = options.fetch ?? fallback;
        if (f === undefined)
            throw new TransportError("no fetch function: pass options.fetch");
        this.#fetch = f;
    }
    /** The bearer token sent with every call, if any. */
    get token() {
        return this.#token;
    }
    /** Send `token` with every later call (undefined: none). */
    setToken(token) {
        this.#token = token;
    }
    /** Call `method` with its params by name; its result, or an {@link RpcError}. */
    async call(method, params, options) {
        const id = this.#nextId++;
        const answer = await this.#post({ jsonrpc: "2.0", id, method, params }, options);
        return settle(answer, method);
    }
    /** Send `method` as a notification: no answer, no error. */
    async notify(method, params, options) {
        await this.#post({ jsonrpc: "2.0", method, params }, options);
    }
    /** Send several calls in one request (the server's batch limit applies);
     * each outcome is settled on its own, in the order of `calls`. */
    async batch(calls, options) {
        if (calls.length === 0)
            return [];
        const first = this.#nextId;
        this.#nextId += calls.length;
        const body = calls.map((c, i) => ({ jsonrpc: "2.0", id: first + i, method: c.method, params: c.params }));
        const answer = await this.#post(body, options);
        if (!Array.isArray(answer)) {
            // a batch the server refused as a whole (e.g. over the limit)
            const error = toError(answer);
            return calls.map(() => ({ ok: false, error }));
        }
        const byId = new Map();
        for (const a of answer)
            byId.set(a.id, a);
        return calls.map((c, i) => {
            const a = byId.get(first + i);
            if (a === undefined) {
                return { ok: false, error: new RpcError(STANDARD_ERRORS.internal_error, "no answer in the batch", undefined, c.method) };
            }
            if (a.error !== undefined)
                return { ok: false, error: toError(a, c.method) };
            return { ok: true, value: a.result };
        });
    }
    async #post(body, options) {
        const headers = { "content-type": "application/json", ...this.#headers };
        if (this.#token !== undefined)
            headers.authorization = `Bearer ${this.#token}`;
        const timeout = options?.timeoutMs;
        const abort = globalThis.AbortSignal;
        const signal = timeout === undefined ? undefined : abort?.timeout(timeout);
        let status;
        let text;
        try {
            // called unbound: a browser's fetch refuses any `this` but the window
            const send = this.#fetch;
            const res = await send(this.url, { method: "POST", headers, body: JSON.stringify(body), signal });
            status = res.status;
            text = await res.text();
        }
        catch (e) {
            throw new TransportError(`cannot reach ${this.url}: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (status === 204 || text === "")
            return undefined;
        try {
            return JSON.parse(text);
        }
        catch {
            throw new TransportError(`HTTP ${status}: not a JSON-RPC answer`, status);
        }
    }
}
function toError(a, method) {
    const e = a?.error;
    if (e === undefined || typeof e.code !== "number") {
        return new RpcError(STANDARD_ERRORS.internal_error, "malformed answer", undefined, method);
    }
    return new RpcError(e.code, String(e.message), e.data, method);
}
function settle(answer, method) {
    if (!isObject(answer))
        throw new TransportError("not a JSON-RPC answer");
    const a = answer;
    if (a.error !== undefined)
        throw toError(a, method);
    return a.result;
}
/** An event subscription: events arrive in `seq` order, backlog first. */
export class Subscription {
    id;
    /** The seq of the last event delivered (resume from it with `after_seq`). */
    lastSeq;
    #socket;
    constructor(socket, id, afterSeq) {
        this.#socket = socket;
        this.id = id;
        this.lastSeq = afterSeq;
    }
    /** Stop the events (`event.unsubscribe`). */
    async unsubscribe() {
        await this.#socket.unsubscribe(this);
    }
}
/** JSON-RPC 2.0 over a WebSocket: calls, and `event.subscribe`. */
export class RpcSocket {
    #ws;
    #pending = new Map();
    #subscriptions = new Map();
    #nextId = 1;
    #closed;
    constructor(ws, onClose) {
        this.#ws = ws;
        ws.onmessage = (ev) => this.#receive(ev.data);
        ws.onclose = (ev) => {
            this.#closed = { code: ev.code, reason: ev.reason };
            const error = new TransportError(`connection closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ""})`);
            for (const p of this.#pending.values())
                p.reject(error);
            this.#pending.clear();
            onClose?.(ev.code, ev.reason);
        };
    }
    /** Open the socket (and sign in with `token` when given). */
    static async open(options) {
        const make = options.connect ??
            ((url) => {
                const WS = globalThis.WebSocket;
                if (WS === undefined)
                    throw new TransportError("no WebSocket: pass options.connect");
                return new WS(url);
            });
        const ws = make(options.url);
        await new Promise((resolve, reject) => {
            ws.onopen = () => resolve();
            ws.onerror = () => reject(new TransportError(`cannot connect to ${options.url}`));
        });
        ws.onerror = null;
        const socket = new RpcSocket(ws, options.onClose);
        if (options.token !== undefined)
            await socket.#request("auth.use_token", { token: options.token });
        return socket;
    }
    /** Call `method` over the socket. */
    call(method, params) {
        return this.#request(method, params);
    }
    /** Subscribe to events (all visible ones, or of `types`), after `after_seq`
     * when given; `onEvent` gets each one once, in seq order. */
    subscribe(filter, onEvent) {
        // Registered as the answer is read: the first events may arrive in the
        // same read, before a promise continuation could run.
        return this.#request("event.subscribe", filter, (answer) => {
            const id = isObject(answer) && typeof answer.subscription === "string" ? answer.subscription : undefined;
            if (id === undefined)
                throw new TransportError("event.subscribe: no subscription id in the answer");
            const sub = new Subscription(this, id, filter.after_seq);
            this.#subscriptions.set(id, { sub, onEvent });
            return sub;
        });
    }
    /** Stop a subscription's events. */
    async unsubscribe(sub) {
        this.#subscriptions.delete(sub.id);
        await this.#request("event.unsubscribe", { subscription: sub.id });
    }
    /** Close the connection. */
    close() {
        this.#ws.close(1000, "done");
    }
    #request(method, params, accept) {
        if (this.#closed !== undefined) {
            return Promise.reject(new TransportError(`connection closed (${this.#closed.code})`));
        }
        const id = this.#nextId++;
        return new Promise((resolve, reject) => {
            this.#pending.set(id, { resolve, reject, method, accept });
            this.#ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
        });
    }
    #receive(data) {
        let msg;
        try {
            msg = JSON.parse(String(data));
        }
        catch {
            return;
        }
        if (!isObject(msg))
            return;
        if (msg.method === "event" && isObject(msg.params)) {
            const { subscription, event } = msg.params;
            const entry = typeof subscription === "string" ? this.#subscriptions.get(subscription) : undefined;
            if (entry === undefined || !isObject(event) || typeof event.seq !== "number")
                return;
            // at most once each, in order: a repeat of a seen seq is dropped
            if (entry.sub.lastSeq !== undefined && event.seq <= entry.sub.lastSeq)
                return;
            entry.sub.lastSeq = event.seq;
            entry.onEvent(event);
            return;
        }
        if (typeof msg.id !== "number")
            return;
        const p = this.#pending.get(msg.id);
        if (p === undefined)
            return;
        this.#pending.delete(msg.id);
        const a = msg;
        if (a.error !== undefined) {
            p.reject(toError(a, p.method));
            return;
        }
        try {
            p.resolve(p.accept === undefined ? a.result : p.accept(a.result));
        }
        catch (e) {
            p.reject(e instanceof Error ? e : new TransportError(String(e)));
        }
    }
}
/** Kind of ledger account: a user's wallet, or one of the platform's system accounts (`issuance` is the source of granted and topped-up credits and the only account that goes negative; `escrow` holds paid orders and rentals until release; `revenue` collects commission) */
export const AccountKind = ["user", "issuance", "escrow", "revenue"];
/** Progress of a booked human service, moved forward by the service provider */
export const BookingStatus = ["requested", "in_progress", "completed"];
/** What a build makes: the whole server with the web console (`monolith`) or the API alone (`headless`) */
export const BuildProfile = ["monolith", "headless"];
/** Lifecycle of a build: `queued` until the runner takes it, `running` while the build command runs, then `succeeded`, `failed` (non-zero exit, timeout, or the server stopped meanwhile) or `cancelled` */
export const BuildStatus = ["queued", "running", "succeeded", "failed", "cancelled"];
/** Where a webhook delivery stands: `pending` until the endpoint answers 2xx (`delivered`), or until it gives up (`failed`: a 4xx other than 408, 410 and 429, the retry schedule run out, or the endpoint disabled) */
export const DeliveryStatus = ["pending", "delivered", "failed"];
/** State of a purchased app deployment */
export const DeploymentStatus = ["requested", "running", "stopped"];
/** Why a post was expired: `fulfilled`, `withdrawn` and `user_request` are the author's; `stale` (also the sweeper's, for posts past their TTL) and `moderated` belong to moderators and admins */
export const ExpiryReason = ["fulfilled", "withdrawn", "user_request", "stale", "moderated"];
/** Algorithm of an SSH public key */
export const KeyType = ["ed25519", "ecdsa", "rsa"];
/** Why a wallet balance changed, as shown in `wallet.history` */
export const LedgerEntryKind = ["grant", "topup", "transfer_in", "transfer_out", "purchase", "sale", "commission", "refund", "rental"];
/** Where a mirrored or listed model comes from */
export const ModelSource = ["huggingface", "civitai"];
/** Where a module's code comes from: a crates.io release, a git revision or a local path */
export const ModuleSource = ["crates-io", "git", "path"];
/** Operational state of a node; only `online` nodes can be rented */
export const NodeStatus = ["online", "offline", "maintenance"];
/** Lifecycle of an order: `paid` at checkout (money held in escrow), `completed` once every item is fulfilled, `cancelled` by the buyer before any fulfilment (or by an admin), `refunded` by an admin after completion */
export const OrderStatus = ["paid", "completed", "cancelled", "refunded"];
/** Category of a community board post */
export const PostCategory = ["offer", "request", "info", "emergency"];
/** Lifecycle of a community board post: `active` until its TTL runs out or the author or a moderator expires it */
export const PostStatus = ["active", "expired"];
/** What a product's price is charged per: once, per hour, or per month */
export const PricingUnit = ["one_time", "hour", "month"];
/** What a product is. Which provider kind may sell it: `resource` sells compute_slice, node, gateway and name; `app` sells app, worker, model and module; `service` sells service */
export const ProductCategory = ["compute_slice", "node", "gateway", "name", "app", "service", "worker", "model", "module"];
/** Catalog visibility of a product: only `active` products are shown to the public; owners and admins also see `draft` and `archived` ones */
export const ProductStatus = ["draft", "active", "archived"];
/** What a provider offers: human services, apps, or grid resources (nodes and capacity) */
export const ProviderKind = ["service", "app", "resource"];
/** What a rental holds: some slice units of a node, or the whole node */
export const RentalKind = ["slice", "node"];
/** Lifecycle of a rental: `active` until its end time (then `expired`) or until the buyer cancels it (`cancelled`) */
export const RentalStatus = ["active", "expired", "cancelled"];
/** What a user may do. Every registered user has `customer`; `provider.register` grants the matching provider role; `moderator` (community board moderation) and `admin` are granted by an admin */
export const Role = ["customer", "service_provider", "app_provider", "resource_provider", "moderator", "admin"];
/** Why money moved between two ledger accounts. `transfer` is a peer-to-peer payment (shown as transfer_out / transfer_in on the two wallets); `purchase` and `rental` move a buyer's money into escrow; `sale` releases escrow to a seller; `commission` moves the platform's cut to revenue; `refund` returns money to a buyer; `grant` and `topup` issue new credits */
export const TransferKind = ["grant", "topup", "transfer", "purchase", "rental", "sale", "commission", "refund"];
/** Lifecycle of an account: `suspended` users' tokens stop working (`forbidden`); `deleted` users are hidden from lists but their ledger history stays */
export const UserStatus = ["active", "suspended", "deleted"];
/** Whether a webhook endpoint is delivered to: `disabled` after `410 Gone` or 24 hours of failed deliveries */
export const WebhookStatus = ["active", "disabled"];
/** The API: one typed function per method, grouped by namespace
 * (`client.product.get({ id })`), on top of {@link RpcClient}'s `call`,
 * `notify` and `batch`. */
export class Client extends RpcClient {
    system = {
        /**
         * Liveness and database status: `status` is `ok` when the database answers
         * Access: public.
         */
        health: (params = {}, options) => this.call("system.health", params, options),
        /**
         * The server's name and version
         * Access: public.
         */
        version: (params = {}, options) => this.call("system.version", params, options),
        /**
         * The currency (code, name, symbol, USD rate), the platform commission and whether test payments are on
         * Access: public.
         */
        config: (params = {}, options) => this.call("system.config", params, options),
        /**
         * Change the USD rate of TFC and the commission; stored values win over the environment in every process
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, unauthenticated.
         */
        set_config: (params = {}, options) => this.call("system.set_config", params, options),
    };
    product = {
        /**
         * List a product for sale (providers). The category must fit the provider kind: resource providers sell compute_slice, node, gateway and name; app providers app, worker, model and module; service providers service. Active unless `draft` is true
         * Access: role (service_provider, app_provider, resource_provider).
         * Errors: forbidden, idempotency_mismatch, invalid_input, unauthenticated.
         */
        create: (params, options) => this.call("product.create", params, options),
        /**
         * Change a product (owner); absent fields stay unchanged; `status` may be `draft` or `active`
         * Access: owner_or_admin.
         * Errors: conflict, forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        update: (params, options) => this.call("product.update", params, options),
        /**
         * Take a product off sale for good (owner)
         * Access: owner_or_admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        archive: (params, options) => this.call("product.archive", params, options),
        /**
         * One product by id. The public sees active products only; the owner and admins also see drafts and archived ones
         * Access: public.
         * Errors: invalid_input, not_found.
         */
        get: (params, options) => this.call("product.get", params, options),
        /**
         * Products, newest first, by category, provider or tag. The public sees active products only; owners also see their drafts and archived products, admins everything
         * Access: public.
         * Errors: invalid_input.
         */
        list: (params = {}, options) => this.call("product.list", params, options),
        /**
         * Full-text search over active products' names, descriptions and tags, best match first; `next_cursor` pages through further matches
         * Access: public.
         * Errors: invalid_input.
         */
        search: (params, options) => this.call("product.search", params, options),
    };
    provider = {
        /**
         * Become a provider of a kind: creates the profile and grants the matching role (`service_provider`, `app_provider` or `resource_provider`); one profile per kind
         * Access: user.
         * Errors: conflict, forbidden, idempotency_mismatch, invalid_input, unauthenticated.
         */
        register: (params, options) => this.call("provider.register", params, options),
        /**
         * One provider profile
         * Access: public.
         * Errors: invalid_input, not_found.
         */
        get: (params, options) => this.call("provider.get", params, options),
        /**
         * Provider profiles, newest first, optionally of one kind and of one owner (a user has at most one profile per kind)
         * Access: public.
         * Errors: invalid_input.
         */
        list: (params = {}, options) => this.call("provider.list", params, options),
        /**
         * Change your provider profile
         * Access: owner_or_admin.
         * Errors: conflict, forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        update: (params, options) => this.call("provider.update", params, options),
    };
    node = {
        /**
         * Register a node (resource providers); it starts `online`. Its slice units are floor(min(cpu_cores, memory_gb / 4, storage_gb / 200))
         * Access: role (resource_provider).
         * Errors: forbidden, idempotency_mismatch, invalid_input, unauthenticated.
         */
        register: (params, options) => this.call("node.register", params, options),
        /**
         * Take a node offline, into maintenance, or back online (owner); running rentals continue
         * Access: owner_or_admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        set_status: (params, options) => this.call("node.set_status", params, options),
        /**
         * One node
         * Access: public.
         * Errors: invalid_input, not_found.
         */
        get: (params, options) => this.call("node.get", params, options),
        /**
         * Nodes, newest first, by status or country
         * Access: public.
         * Errors: invalid_input.
         */
        list: (params = {}, options) => this.call("node.list", params, options),
    };
    slice = {
        /**
         * Online nodes with free slice units, newest first; `min_cpu` and `min_memory_gb` ask for at least that much free capacity
         * Access: public.
         * Errors: invalid_input.
         */
        list_available: (params = {}, options) => this.call("slice.list_available", params, options),
        /**
         * Run a workload on a rented slice, with some of your SSH keys
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        assign: (params, options) => this.call("slice.assign", params, options),
        /**
         * Remove a workload
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        unassign: (params, options) => this.call("slice.unassign", params, options),
    };
    rental = {
        /**
         * Rent slice units of an online node for some hours: charges the wallet into escrow, reserves the units, creates an order and the rental
         * Access: user.
         * Errors: conflict, forbidden, idempotency_mismatch, insufficient_funds, invalid_input, invalid_state, not_found, unauthenticated.
         */
        slice: (params, options) => this.call("rental.slice", params, options),
        /**
         * Rent a whole node (only when none of it is rented)
         * Access: user.
         * Errors: conflict, forbidden, idempotency_mismatch, insufficient_funds, invalid_input, invalid_state, not_found, unauthenticated.
         */
        node: (params, options) => this.call("rental.node", params, options),
        /**
         * Your rentals, newest first
         * Access: user.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        list: (params = {}, options) => this.call("rental.list", params, options),
        /**
         * One rental (its buyer, the node's owner or an admin)
         * Access: user.
         * Errors: forbidden, invalid_input, not_found, unauthenticated.
         */
        get: (params, options) => this.call("rental.get", params, options),
        /**
         * Buy more hours for an active rental, at its price
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, insufficient_funds, invalid_input, invalid_state, not_found, unauthenticated.
         */
        extend: (params, options) => this.call("rental.extend", params, options),
        /**
         * End an active rental now: the unused whole hours are refunded, the rest is paid to the node's owner, the capacity is freed
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        cancel: (params, options) => this.call("rental.cancel", params, options),
    };
    cart = {
        /**
         * Your cart
         * Access: user.
         * Errors: forbidden, unauthenticated.
         */
        get: (params = {}, options) => this.call("cart.get", params, options),
        /**
         * Add a product (adds to the quantity already in the cart)
         * Access: user.
         * Errors: conflict, forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        add_item: (params, options) => this.call("cart.add_item", params, options),
        /**
         * Set the quantity of a product in the cart
         * Access: user.
         * Errors: conflict, forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        update_item: (params, options) => this.call("cart.update_item", params, options),
        /**
         * Remove a product from the cart
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        remove_item: (params, options) => this.call("cart.remove_item", params, options),
        /**
         * Empty the cart
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, unauthenticated.
         */
        clear: (params = {}, options) => this.call("cart.clear", params, options),
    };
    order = {
        /**
         * Buy the cart: checks products and stock, freezes prices, moves the total from your wallet into escrow, creates the order (`paid`), takes the stock and empties the cart, all at once. Services create bookings, apps deployment records
         * Access: user.
         * Errors: conflict, forbidden, idempotency_mismatch, insufficient_funds, invalid_state, unauthenticated.
         */
        checkout: (params = {}, options) => this.call("order.checkout", params, options),
        /**
         * Buy one product directly; the cart is untouched
         * Access: user.
         * Errors: conflict, forbidden, idempotency_mismatch, insufficient_funds, invalid_input, not_found, unauthenticated.
         */
        buy_now: (params, options) => this.call("order.buy_now", params, options),
        /**
         * One order (its buyer, a seller in it, or an admin)
         * Access: user.
         * Errors: forbidden, invalid_input, not_found, unauthenticated.
         */
        get: (params, options) => this.call("order.get", params, options),
        /**
         * Your orders, newest first
         * Access: user.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        list: (params = {}, options) => this.call("order.list", params, options),
        /**
         * Orders containing your products or capacity, newest first (providers)
         * Access: role (service_provider, app_provider, resource_provider).
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        list_sales: (params = {}, options) => this.call("order.list_sales", params, options),
        /**
         * Mark your items of an order delivered: your share leaves escrow for your wallet, minus the platform commission; the order completes when every seller has fulfilled
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        fulfil: (params, options) => this.call("order.fulfil", params, options),
        /**
         * Cancel a paid order before any item is fulfilled (buyer or admin): escrow goes back to the buyer
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        cancel: (params, options) => this.call("order.cancel", params, options),
        /**
         * Refund a completed order (admin): each seller's net share and the commission go back to the buyer; fails, moving nothing, if a seller's wallet cannot cover it
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, insufficient_funds, invalid_input, invalid_state, not_found, unauthenticated.
         */
        refund: (params, options) => this.call("order.refund", params, options),
        /**
         * The statuses you may move the order to now, e.g. `["cancelled"]`
         * Access: user.
         * Errors: forbidden, invalid_input, not_found, unauthenticated.
         */
        transitions: (params, options) => this.call("order.transitions", params, options),
    };
    message = {
        /**
         * Send a message; the thread of the pair (and order) is created on first use
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        send: (params, options) => this.call("message.send", params, options),
        /**
         * Your threads, the one with the latest message first, with your unread counts
         * Access: user.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        threads: (params = {}, options) => this.call("message.threads", params, options),
        /**
         * Messages of a thread, newest first (its two participants or an admin)
         * Access: user.
         * Errors: forbidden, invalid_input, not_found, unauthenticated.
         */
        list: (params, options) => this.call("message.list", params, options),
        /**
         * Mark the thread's messages to you as read
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        mark_read: (params, options) => this.call("message.mark_read", params, options),
    };
    booking = {
        /**
         * Bookings you bought or that were booked from you, newest first
         * Access: user.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        list: (params = {}, options) => this.call("booking.list", params, options),
        /**
         * Move a booking forward (its service provider): `in_progress` with a progress, then `completed`
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        update_status: (params, options) => this.call("booking.update_status", params, options),
    };
    deployment = {
        /**
         * Deployments you bought or of your apps, newest first
         * Access: user.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        list: (params = {}, options) => this.call("deployment.list", params, options),
    };
    auth = {
        /**
         * Create an account (role `customer`) with its TFC wallet, and sign in. Emails are unique ignoring case
         * Access: public.
         * Errors: conflict, invalid_input.
         */
        register: (params, options) => this.call("auth.register", params, options),
        /**
         * Sign in. A wrong email and a wrong password get the same answer; too many wrong passwords for one email lock its password checks for a while (`rate_limited`)
         * Access: public.
         * Errors: forbidden, invalid_input, rate_limited, unauthenticated.
         */
        login: (params, options) => this.call("auth.login", params, options),
        /**
         * Revoke the token of this request
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, unauthenticated.
         */
        logout: (params = {}, options) => this.call("auth.logout", params, options),
        /**
         * The signed-in user
         * Access: user.
         * Errors: forbidden, unauthenticated.
         */
        me: (params = {}, options) => this.call("auth.me", params, options),
        /**
         * Check a token and answer its user. Over WebSocket, a first call binds the token to the connection (instead of an `Authorization` header)
         * Access: public.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        use_token: (params, options) => this.call("auth.use_token", params, options),
        /**
         * Change the password; every other session of the user is revoked, and every API key unless `keep_api_keys` is true. Needs a sign-in session (not an API key); wrong old passwords count against the account's sign-in budget
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, rate_limited, unauthenticated.
         */
        change_password: (params, options) => this.call("auth.change_password", params, options),
    };
    apikey = {
        /**
         * Create a key for the caller; the key is shown only in this answer (a repeat with the same idempotency key replays it until the key is revoked). Needs a sign-in session: an API key cannot create keys
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, unauthenticated.
         */
        create: (params, options) => this.call("apikey.create", params, options),
        /**
         * The caller's keys, newest first (the keys themselves are never shown again)
         * Access: user.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        list: (params = {}, options) => this.call("apikey.list", params, options),
        /**
         * Revoke one of the caller's keys. Needs a sign-in session: an API key cannot revoke keys (`auth.logout` with a key revokes that key)
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        revoke: (params, options) => this.call("apikey.revoke", params, options),
    };
    user = {
        /**
         * Users, newest first, by role or status; deleted users are listed only when `status` asks for them. A filtered page may hold fewer than `limit` users
         * Access: admin.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        list: (params = {}, options) => this.call("user.list", params, options),
        /**
         * One user
         * Access: admin.
         * Errors: forbidden, invalid_input, not_found, unauthenticated.
         */
        get: (params, options) => this.call("user.get", params, options),
        /**
         * Suspend a user: their tokens stop working at once (`forbidden`)
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        suspend: (params, options) => this.call("user.suspend", params, options),
        /**
         * Lift a suspension
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        unsuspend: (params, options) => this.call("user.unsuspend", params, options),
        /**
         * Replace a user's roles; `customer` is always kept
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        set_roles: (params, options) => this.call("user.set_roles", params, options),
        /**
         * Change the caller's own profile
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, unauthenticated.
         */
        update_profile: (params = {}, options) => this.call("user.update_profile", params, options),
    };
    sshkey = {
        /**
         * Add an OpenSSH public key (ed25519, ecdsa or rsa of at least 2048 bits); the first key becomes the default
         * Access: user.
         * Errors: conflict, forbidden, idempotency_mismatch, invalid_input, unauthenticated.
         */
        add: (params, options) => this.call("sshkey.add", params, options),
        /**
         * The caller's keys, newest first
         * Access: user.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        list: (params = {}, options) => this.call("sshkey.list", params, options),
        /**
         * Remove one of the caller's keys (the newest remaining key becomes the default if it was)
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        remove: (params, options) => this.call("sshkey.remove", params, options),
        /**
         * Make one of the caller's keys the default
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        set_default: (params, options) => this.call("sshkey.set_default", params, options),
    };
    wallet = {
        /**
         * Balance, currency and value in US dollars
         * Access: user.
         * Errors: forbidden, unauthenticated.
         */
        get: (params = {}, options) => this.call("wallet.get", params, options),
        /**
         * The wallet's entries, newest first
         * Access: user.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        history: (params = {}, options) => this.call("wallet.history", params, options),
        /**
         * Send TFC to another user by email. The funds are checked before the recipient is looked up, and emails that match no account count against a budget per user
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, insufficient_funds, invalid_input, not_found, rate_limited, unauthenticated.
         */
        transfer: (params, options) => this.call("wallet.transfer", params, options),
        /**
         * Issue credits to a user
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        grant: (params, options) => this.call("wallet.grant", params, options),
        /**
         * Add credits in demo mode (`test_payments` on); real payment providers plug in here later
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, unauthenticated.
         */
        topup: (params, options) => this.call("wallet.topup", params, options),
    };
    ledger = {
        /**
         * Check every transfer and balance: double entry, balances equal the sum of their entries, no user wallet below zero
         * Access: admin.
         * Errors: forbidden, unauthenticated.
         */
        verify: (params = {}, options) => this.call("ledger.verify", params, options),
    };
    admin = {
        /**
         * Every mutation, newest first, optionally one actor's or one object's
         * Access: admin.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        audit: (params = {}, options) => this.call("admin.audit", params, options),
        /**
         * Platform totals: users, providers, products, orders, nodes, active rentals and gross volume
         * Access: admin.
         * Errors: forbidden, unauthenticated.
         */
        stats: (params = {}, options) => this.call("admin.stats", params, options),
    };
    post = {
        /**
         * Post on the board (any signed-in user). `ttl_seconds` defaults to the `board_default_ttl_seconds` setting (7 days) and may not exceed `board_max_ttl_seconds` (30 days). The same `client_id` from the same author returns the first post and creates nothing
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, unauthenticated.
         */
        create: (params, options) => this.call("post.create", params, options),
        /**
         * Change your post's title, body or tags (author only); absent fields stay unchanged
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        update: (params, options) => this.call("post.update", params, options),
        /**
         * Expire a post now. `fulfilled`, `withdrawn` and `user_request` by its author; `stale` and `moderated` by a moderator or an admin
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        expire: (params, options) => this.call("post.expire", params, options),
        /**
         * One post by id, active or expired
         * Access: public.
         * Errors: invalid_input, not_found.
         */
        get: (params, options) => this.call("post.get", params, options),
        /**
         * Active posts, newest first, by category or tag; `since_lamport` keeps only posts whose Lamport clock is greater
         * Access: public.
         * Errors: invalid_input.
         */
        list: (params = {}, options) => this.call("post.list", params, options),
        /**
         * Active posts matching a query, best first: semantic when an embedding endpoint is configured, else (or when it fails) text matching with `fallback: true`
         * Access: public.
         * Errors: invalid_input.
         */
        search: (params, options) => this.call("post.search", params, options),
    };
    board = {
        /**
         * Events of this node's log after `after` (a `seq`), oldest first. For peer nodes: the request must carry `X-Node-Id`, `X-Node-Timestamp` and `X-Node-Signature` headers (or come from an admin); with a community manifest, only its nodes are answered
         * Access: public.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        events: (params = {}, options) => this.call("board.events", params, options),
    };
    module = {
        /**
         * Read a `marketplace.toml` catalog and upsert its modules; a bad file is `invalid_input` naming the line and column
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, unauthenticated.
         */
        import_catalog: (params, options) => this.call("module.import_catalog", params, options),
        /**
         * Modules by slug, optionally with a tag or matching a query (slug, name, description)
         * Access: public.
         * Errors: invalid_input.
         */
        list: (params = {}, options) => this.call("module.list", params, options),
        /**
         * One module by slug
         * Access: public.
         * Errors: invalid_input, not_found.
         */
        get: (params, options) => this.call("module.get", params, options),
    };
    manifest = {
        /**
         * The current manifest
         * Access: admin.
         * Errors: forbidden, unauthenticated.
         */
        get: (params = {}, options) => this.call("manifest.get", params, options),
        /**
         * Revisions of the manifest, newest first
         * Access: admin.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        history: (params = {}, options) => this.call("manifest.history", params, options),
        /**
         * Install a catalog module (at the catalog's version unless `version` pins another); a module whose `compat.server` excludes this server is `invalid_input`
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        install: (params, options) => this.call("manifest.install", params, options),
        /**
         * Remove an installed module
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        uninstall: (params, options) => this.call("manifest.uninstall", params, options),
    };
    build = {
        /**
         * Build the current manifest; a build of the same manifest hash and profile that is queued, running or succeeded is returned instead
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, unauthenticated.
         */
        request: (params, options) => this.call("build.request", params, options),
        /**
         * One build
         * Access: admin.
         * Errors: forbidden, invalid_input, not_found, unauthenticated.
         */
        get: (params, options) => this.call("build.get", params, options),
        /**
         * Builds, newest first, optionally in one status
         * Access: admin.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        list: (params = {}, options) => this.call("build.list", params, options),
        /**
         * The build's captured output from byte `offset` (at most `limit` bytes, default 65536)
         * Access: admin.
         * Errors: forbidden, invalid_input, not_found, unauthenticated.
         */
        logs: (params, options) => this.call("build.logs", params, options),
        /**
         * Cancel a queued or running build; a running command's process group gets SIGTERM, then SIGKILL
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        cancel: (params, options) => this.call("build.cancel", params, options),
    };
    release = {
        /**
         * Releases, newest first; the deployed one has `current: true`
         * Access: admin.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        list: (params = {}, options) => this.call("release.list", params, options),
        /**
         * Run the smoke check on a release and make it current if the check passes
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        deploy: (params, options) => this.call("release.deploy", params, options),
        /**
         * Make the release before the current one (or the named one) current again
         * Access: admin.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        rollback: (params = {}, options) => this.call("release.rollback", params, options),
    };
    catalog = {
        /**
         * Active worker products, newest first
         * Access: public.
         * Errors: invalid_input.
         */
        workers: (params = {}, options) => this.call("catalog.workers", params, options),
        /**
         * One active worker product
         * Access: public.
         * Errors: invalid_input, not_found.
         */
        worker: (params, options) => this.call("catalog.worker", params, options),
        /**
         * Active model products and mirrored models, newest first; NSFW models only with `nsfw: true`
         * Access: public.
         * Errors: invalid_input.
         */
        models: (params = {}, options) => this.call("catalog.models", params, options),
    };
    event = {
        /**
         * Events after `after_seq` that concern you (every event for an admin), oldest first; `types` keeps only those types
         * Access: user.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        list: (params = {}, options) => this.call("event.list", params, options),
        /**
         * Over WebSocket only: send `event` notifications of the events you may see, first those after `after_seq`, then live ones, in `seq` order
         * Access: user.
         * Errors: forbidden, invalid_input, invalid_state, unauthenticated.
         */
        subscribe: (params = {}, options) => this.call("event.subscribe", params, options),
        /**
         * Over WebSocket only: stop a subscription of this connection
         * Access: user.
         * Errors: forbidden, invalid_input, invalid_state, not_found, unauthenticated.
         */
        unsubscribe: (params, options) => this.call("event.unsubscribe", params, options),
    };
    webhook = {
        /**
         * Add an endpoint for your events (an admin's receives every user's); `types` empty means every type. The signing secret is shown only in this answer
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, unauthenticated.
         */
        create: (params, options) => this.call("webhook.create", params, options),
        /**
         * Your endpoints, newest first
         * Access: user.
         * Errors: forbidden, invalid_input, unauthenticated.
         */
        list: (params = {}, options) => this.call("webhook.list", params, options),
        /**
         * Remove one of your endpoints; its pending deliveries are dropped
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        delete: (params, options) => this.call("webhook.delete", params, options),
        /**
         * Queue a `webhook.test` message to the endpoint
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        test: (params, options) => this.call("webhook.test", params, options),
        /**
         * The endpoint's deliveries, newest first
         * Access: user.
         * Errors: forbidden, invalid_input, not_found, unauthenticated.
         */
        deliveries: (params, options) => this.call("webhook.deliveries", params, options),
        /**
         * Send a past delivery again (a new delivery with the same message)
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, invalid_state, not_found, unauthenticated.
         */
        replay: (params, options) => this.call("webhook.replay", params, options),
        /**
         * A new signing secret; the old one keeps signing beside it for 24 hours
         * Access: user.
         * Errors: forbidden, idempotency_mismatch, invalid_input, not_found, unauthenticated.
         */
        rotate_secret: (params, options) => this.call("webhook.rotate_secret", params, options),
    };
}
