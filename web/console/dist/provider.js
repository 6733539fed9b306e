// What providers do: their profiles and products, and the orders of their
// products (sales) to fulfil.
import { PricingUnit, ProviderKind } from "./client.js";
import { actionButton, field, form, h, pager, select, short, when } from "./dom.js";
import { tfc } from "./money.js";
const PAGE = 20;
/** The categories each kind of provider may sell. */
const CATEGORIES = {
    resource: ["compute_slice", "node", "gateway", "name"],
    app: ["app", "worker", "model", "module"],
    service: ["service"],
};
function register(ctx, kinds) {
    return form("Become a provider", [select("Kind", "kind", kinds), field("Name", "name", { required: true }), field("Description", "description")], "Register as a provider", async (v) => {
        await ctx.api.provider.register({ kind: (v.kind ?? "service"), name: v.name ?? "", description: v.description ?? "" });
        // the new role shows in the navigation and on this page
        await ctx.refresh();
    });
}
function providerSection(ctx, provider) {
    const list = pager(`Products of ${provider.name}`, (cursor) => ctx.api.product.list({ provider_id: provider.id, limit: PAGE, cursor }), (p) => h("article", { class: "card product" }, h("h3", {}, h("a", { href: `#/product/${p.id}` }, p.name)), h("p", { class: "meta" }, h("span", { class: `badge ${p.status}` }, p.status), ` · ${p.category.replace(/_/g, " ")} · ${tfc(p.price)} / ${p.pricing_unit}`, p.stock === undefined ? "" : ` · stock ${p.stock}`), p.status === "archived"
        ? null
        : actionButton("Archive", async () => {
            await ctx.api.product.archive({ id: p.id });
            await list.reload();
        })), "No products yet.");
    const create = form("New product", [
        select("Category", "category", CATEGORIES[provider.kind]),
        field("Name", "name", { required: true }),
        field("Description", "description"),
        field("Price (TFC)", "price", { required: true }),
        select("Pricing unit", "pricing_unit", PricingUnit),
        field("Tags (comma separated)", "tags"),
        field("Stock (empty: unlimited)", "stock", { type: "number", min: "0", step: "1" }),
    ], "Create", async (v, status) => {
        const p = await ctx.api.product.create({
            category: (v.category ?? ""),
            name: v.name ?? "",
            description: v.description ?? "",
            price: v.price ?? "",
            pricing_unit: (v.pricing_unit ?? "one_time"),
            tags: (v.tags ?? "")
                .split(",")
                .map((t) => t.trim())
                .filter((t) => t !== ""),
            stock: v.stock ? Number(v.stock) : undefined,
        });
        create.reset();
        status.ok(`Created “${p.name}”.`);
        await list.reload();
    });
    return h("section", { class: "provider" }, h("h3", {}, `${provider.name} (${provider.kind})`), create, list.el);
}
async function myProducts(ctx) {
    const mine = await ctx.api.provider.list({ owner_id: ctx.me?.id ?? "" });
    const missing = ProviderKind.filter((k) => !mine.items.some((p) => p.kind === k));
    return h("section", {}, h("h2", {}, "Selling"), ...mine.items.map((p) => providerSection(ctx, p)), missing.length === 0 ? null : register(ctx, missing));
}
function sales(ctx) {
    const list = pager("Sales", (cursor) => ctx.api.order.list_sales({ limit: PAGE, cursor }), (o) => {
        const mine = o.items.filter((i) => i.seller_id === ctx.me?.id);
        const open = o.status === "paid" && mine.some((i) => !i.fulfilled);
        return h("article", { class: "card order" }, h("h3", {}, h("a", { href: `#/order/${o.id}` }, `Order ${short(o.id)}`)), h("p", { class: "meta" }, h("span", { class: `badge ${o.status}` }, o.status), ` · ${when(o.created_at)}`), h("p", {}, mine.map((i) => `${i.quantity} × ${i.name} (${tfc(i.line_total)})${i.fulfilled ? ", fulfilled" : ""}`).join("; ")), open
            ? actionButton("Fulfil", async () => {
                await ctx.api.order.fulfil({ id: o.id });
                await list.reload();
            })
            : null);
    }, "No sales yet.");
    return h("section", {}, h("h2", {}, "Sales"), list.el);
}
export const providerViews = {
    "provider/products": { access: "user", title: "Selling", view: myProducts },
    "provider/sales": { access: "provider", title: "Sales", view: sales },
};
