// What every user does: browse, search and view products, the cart and
// checkout, orders, the wallet, slice rentals and messages.
import { ProductCategory, request } from "./client.js";
import { actionButton, facts, field, form, h, idempotencyKey, pager, select, short, statusLine, when } from "./dom.js";
import { sum, tfc, times } from "./money.js";
const PAGE = 20;
function price(p) {
    return p.pricing_unit === "one_time" ? tfc(p.price) : `${tfc(p.price)} / ${p.pricing_unit}`;
}
function productCard(p) {
    return h("article", { class: "card product" }, h("h3", {}, h("a", { href: `#/product/${p.id}` }, p.name)), h("p", { class: "meta" }, p.category.replace(/_/g, " "), " · ", price(p), p.status === "active" ? null : ` · ${p.status}`), h("p", {}, p.description), p.tags.length === 0 ? null : h("p", { class: "tags" }, ...p.tags.map((t) => h("a", { class: "tag", href: `#/products?tag=${encodeURIComponent(t)}` }, t))));
}
function products(ctx, _args, query) {
    const q = query.get("q") ?? "";
    const category = query.get("category") ?? "";
    const tag = query.get("tag") ?? "";
    const search = form(null, [
        field("Search", "q", { type: "search", value: q, placeholder: "name, description or tag" }),
        select("Category", "category", ProductCategory, "any"),
    ], "Search", async (v) => {
        const params = new URLSearchParams();
        if (v.q)
            params.set("q", v.q);
        if (v.category)
            params.set("category", v.category);
        ctx.go(`#/products${params.size > 0 ? `?${params}` : ""}`);
    });
    search.classList.add("search");
    const chosen = search.querySelector("select");
    if (chosen !== null)
        chosen.value = category;
    const list = pager("Products", (cursor) => q !== ""
        ? ctx.api.product.search({ query: q, limit: PAGE, cursor })
        : ctx.api.product.list({
            category: category === "" ? undefined : category,
            tag: tag === "" ? undefined : tag,
            limit: PAGE,
            cursor,
        }), productCard, q !== "" ? `Nothing matches “${q}”.` : "No products yet.");
    const heading = q !== "" ? `Results for “${q}”` : tag !== "" ? `Tagged “${tag}”` : "Products";
    return h("section", {}, h("h2", {}, heading), search, list.el);
}
async function product(ctx, args) {
    const p = await ctx.api.product.get({ id: args[0] ?? "" });
    const buying = ctx.me === undefined
        ? h("p", {}, h("a", { href: "#/login" }, "Sign in"), " to buy.")
        : p.status !== "active"
            ? h("p", {}, `This product is ${p.status}.`)
            : form("Buy", [field("Quantity", "quantity", { type: "number", min: "1", step: "1", value: "1", required: true })], "Add to cart", async (v, status) => {
                await ctx.api.cart.add_item({ product_id: p.id, quantity: Number(v.quantity) });
                status.ok("Added to the cart.");
                status.el.append(" ", h("a", { href: "#/cart" }, "See the cart"));
            });
    return h("section", {}, h("h2", {}, p.name), h("p", {}, p.description), facts([
        ["Price", price(p)],
        ["Category", p.category.replace(/_/g, " ")],
        ["Stock", p.stock === undefined ? "unlimited" : String(p.stock)],
        ["Tags", p.tags.join(", ") || "none"],
        ...Object.entries(p.attributes).map(([k, v]) => [k, v]),
        ["Status", p.status],
        ["Listed", when(p.created_at)],
    ]), buying);
}
async function cart(ctx) {
    const c = await ctx.api.cart.get();
    const looked = await ctx.api.batch(c.items.map((i) => request("product.get", { id: i.product_id })));
    const status = statusLine();
    const lines = [];
    const rows = c.items.map((item, i) => {
        const found = looked[i];
        const p = found?.ok ? found.value : undefined;
        if (p !== undefined)
            lines.push(times(p.price, item.quantity));
        const quantity = h("input", { type: "number", min: "1", step: "1", value: String(item.quantity), "aria-label": `Quantity of ${p?.name ?? item.product_id}` });
        return h("li", {}, h("article", { class: "card line" }, h("h3", {}, p === undefined ? `Unavailable product ${short(item.product_id)}` : h("a", { href: `#/product/${p.id}` }, p.name)), p === undefined ? null : h("p", { class: "meta" }, `${price(p)} × ${item.quantity} = ${tfc(times(p.price, item.quantity))}`), h("div", { class: "row" }, quantity, actionButton("Update", async () => {
            await ctx.api.cart.update_item({ product_id: item.product_id, quantity: Number(quantity.value) });
            ctx.go("#/cart");
        }, status), actionButton("Remove", async () => {
            await ctx.api.cart.remove_item({ product_id: item.product_id });
            ctx.go("#/cart");
        }, status))));
    });
    if (c.items.length === 0) {
        return h("section", {}, h("h2", {}, "Cart"), h("p", {}, "The cart is empty. "), h("a", { href: "#/products" }, "See the products"));
    }
    const key = idempotencyKey();
    return h("section", {}, h("h2", {}, "Cart"), h("ul", { class: "list", "aria-label": "Cart" }, ...rows), h("p", { class: "total" }, `Total: ${tfc(sum(lines))}`), h("div", { class: "row" }, actionButton("Check out", async () => {
        const order = await ctx.api.order.checkout({ idempotency_key: key });
        ctx.go(`#/order/${order.id}`);
    }, status), actionButton("Empty the cart", async () => {
        await ctx.api.cart.clear();
        ctx.go("#/cart");
    }, status)), status.el);
}
function orderCard(o) {
    return h("article", { class: "card order" }, h("h3", {}, h("a", { href: `#/order/${o.id}` }, `Order ${short(o.id)}`)), h("p", { class: "meta" }, h("span", { class: `badge ${o.status}` }, o.status), ` · ${tfc(o.total)} · ${when(o.created_at)}`), h("p", {}, o.items.map((i) => `${i.quantity} × ${i.name}`).join(", ")));
}
function orders(ctx) {
    const list = pager("Orders", (cursor) => ctx.api.order.list({ limit: PAGE, cursor }), orderCard, "No orders yet.");
    return h("section", {}, h("h2", {}, "Orders"), list.el);
}
/** The order actions for the statuses the caller may move an order to. */
function transitionsOf(ctx, o, allowed) {
    const status = statusLine();
    const buttons = [];
    // each move, then the order as it is now
    const move = (label, call) => actionButton(label, async () => {
        await call();
        ctx.go(`#/order/${o.id}`);
    }, status);
    if (allowed.includes("completed"))
        buttons.push(move("Fulfil", () => ctx.api.order.fulfil({ id: o.id })));
    if (allowed.includes("cancelled"))
        buttons.push(move("Cancel the order", () => ctx.api.order.cancel({ id: o.id })));
    if (allowed.includes("refunded"))
        buttons.push(move("Refund", () => ctx.api.order.refund({ id: o.id })));
    return h("div", {}, h("div", { class: "row" }, ...buttons), status.el);
}
async function order(ctx, args) {
    const id = args[0] ?? "";
    const [o, allowed] = await Promise.all([ctx.api.order.get({ id }), ctx.api.order.transitions({ id })]);
    // the buyer writes to the sellers, a seller to the buyer
    const sellers = [...new Set(o.items.map((i) => i.seller_id))];
    const counterparts = o.buyer_id === ctx.me?.id ? sellers.filter((s) => s !== ctx.me?.id) : [o.buyer_id];
    const rows = [
        ["Status", h("span", { class: `badge ${o.status}` }, o.status)],
        ["Total", tfc(o.total)],
        ["Placed", when(o.created_at)],
    ];
    if (o.completed_at !== undefined)
        rows.push(["Completed", when(o.completed_at)]);
    if (o.cancelled_at !== undefined)
        rows.push(["Cancelled", when(o.cancelled_at)]);
    if (o.refunded_at !== undefined)
        rows.push(["Refunded", when(o.refunded_at)]);
    return h("section", {}, h("h2", {}, `Order ${short(o.id)}`), facts(rows), h("ul", { class: "list", "aria-label": "Items" }, ...o.items.map((i) => h("li", {}, h("article", { class: "card line" }, h("h3", {}, i.product_id === undefined ? i.name : h("a", { href: `#/product/${i.product_id}` }, i.name)), h("p", { class: "meta" }, `${i.quantity} × ${tfc(i.unit_price)} = ${tfc(i.line_total)}`, i.fulfilled ? " · fulfilled" : " · not yet fulfilled"))))), transitionsOf(ctx, o, allowed), ...counterparts.map((to) => form(to === o.buyer_id ? "Message the buyer" : "Message the seller", [field("Message", "body", { required: true })], "Send", async (v, status) => {
        await ctx.api.message.send({ to_user_id: to, order_id: o.id, body: v.body ?? "" });
        status.ok("Sent. ");
        status.el.append(h("a", { href: "#/messages" }, "See messages"));
    })));
}
async function wallet(ctx) {
    const w = await ctx.api.wallet.get();
    const history = pager("Wallet history", (cursor) => ctx.api.wallet.history({ limit: PAGE, cursor }), (e) => h("article", { class: "card entry" }, h("p", { class: e.amount.startsWith("-") ? "amount out" : "amount in" }, tfc(e.amount)), h("p", { class: "meta" }, `${e.kind.replace(/_/g, " ")} · balance ${tfc(e.balance_after)} · ${when(e.created_at)}`), e.memo === undefined ? null : h("p", {}, e.memo)), "No movements yet.");
    const topup = ctx.config?.test_payments
        ? form("Top up (test payments)", [field("Amount", "amount", { required: true, placeholder: "100" })], "Top up", async (v) => {
            await ctx.api.wallet.topup({ amount: v.amount ?? "", idempotency_key: idempotencyKey() });
            ctx.go("#/wallet");
        })
        : null;
    const transfer = form("Send credits", [field("To (email)", "to_email", { type: "email", required: true }), field("Amount", "amount", { required: true }), field("Memo", "memo")], "Send", async (v) => {
        await ctx.api.wallet.transfer({ to_email: v.to_email ?? "", amount: v.amount ?? "", memo: v.memo || undefined, idempotency_key: idempotencyKey() });
        ctx.go("#/wallet");
    });
    return h("section", {}, h("h2", {}, "Wallet"), h("p", { class: "balance", "aria-label": "Balance" }, tfc(w.balance)), h("p", { class: "meta" }, `about ${w.usd_value} USD`), h("div", { class: "columns" }, topup, transfer), h("h3", {}, "History"), history.el);
}
function rentals(ctx) {
    const mine = pager("Rentals", (cursor) => ctx.api.rental.list({ limit: PAGE, cursor }), (r) => h("article", { class: "card rental" }, h("h3", {}, `${r.kind === "node" ? "Whole node" : `${r.units} slice units`} on node ${short(r.node_id)}`), h("p", { class: "meta" }, h("span", { class: `badge ${r.status}` }, r.status), ` · ${r.hours} h · ${tfc(r.amount)} · ends ${when(r.ends_at)}`), r.status === "active"
        ? actionButton("Cancel the rental", async () => {
            await ctx.api.rental.cancel({ id: r.id });
            await mine.reload();
        })
        : null), "No rentals yet.");
    const offers = pager("Available slices", (cursor) => ctx.api.slice.list_available({ limit: PAGE, cursor }), (s) => h("article", { class: "card offer" }, h("h3", {}, `${s.node_name} (${s.city}, ${s.country})`), h("p", { class: "meta" }, `${s.free_units} of ${s.total_units} units free · ${tfc(s.price_per_unit_hour)} per unit-hour`), form(null, [
        field("Units", "units", { type: "number", min: "1", step: "1", value: "1", required: true }),
        field("Hours", "hours", { type: "number", min: "1", step: "1", value: "24", required: true }),
    ], "Rent", async (v, status) => {
        const r = await ctx.api.rental.slice({ node_id: s.node_id, units: Number(v.units), hours: Number(v.hours), idempotency_key: idempotencyKey() });
        status.ok(`Rented until ${when(r.ends_at)}.`);
        await mine.reload();
    })), "No free capacity right now.");
    return h("section", {}, h("h2", {}, "Rentals"), mine.el, h("h3", {}, "Rent a slice"), offers.el);
}
function threads(ctx) {
    const list = pager("Conversations", (cursor) => ctx.api.message.threads({ limit: PAGE, cursor }), (t) => h("article", { class: "card thread" }, h("h3", {}, h("a", { href: `#/messages/${t.thread_id}?${new URLSearchParams({ with: t.other_user_id, ...(t.order_id === undefined ? {} : { order: t.order_id }) })}` }, t.other_display_name)), h("p", { class: "meta" }, t.unread > 0 ? `${t.unread} unread · ` : "", when(t.last_message_at), t.order_id === undefined ? "" : ` · order ${short(t.order_id)}`)), "No messages yet.");
    return h("section", {}, h("h2", {}, "Messages"), list.el);
}
async function thread(ctx, args, query) {
    const id = args[0] ?? "";
    const other = query.get("with") ?? "";
    const orderId = query.get("order") ?? undefined;
    await ctx.api.message.mark_read({ thread_id: id });
    const list = pager("Messages", (cursor) => ctx.api.message.list({ thread_id: id, limit: PAGE, cursor }), (m) => h("article", { class: m.sender_id === ctx.me?.id ? "card message mine" : "card message" }, h("p", {}, m.body), h("p", { class: "meta" }, m.sender_id === ctx.me?.id ? "you" : "them", ` · ${when(m.created_at)}`)), "No messages yet.");
    const reply = form(null, [field("Reply", "body", { required: true })], "Send", async (v) => {
        await ctx.api.message.send({ to_user_id: other, order_id: orderId, body: v.body ?? "" });
        reply.reset();
        await list.reload();
    });
    return h("section", {}, h("h2", {}, "Conversation"), h("a", { href: "#/messages" }, "All conversations"), reply, list.el);
}
export const shopViews = {
    products: { access: "public", title: "Products", view: products },
    product: { access: "public", title: "Product", view: product },
    cart: { access: "user", title: "Cart", view: cart },
    orders: { access: "user", title: "Orders", view: orders },
    order: { access: "user", title: "Order", view: order },
    wallet: { access: "user", title: "Wallet", view: wallet },
    rentals: { access: "user", title: "Rentals", view: rentals },
    messages: { access: "user", title: "Messages", view: (ctx, args, query) => (args.length === 0 ? threads(ctx) : thread(ctx, args, query)) },
};
