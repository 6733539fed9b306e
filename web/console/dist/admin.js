// What admins do: stats, users (suspend, roles), the audit log, the ledger
// check and the settings.
import { Role, UserStatus } from "./client.js";
import { actionButton, facts, field, form, h, pager, select, statusLine, when } from "./dom.js";
import { tfc } from "./money.js";
const PAGE = 20;
async function stats(ctx) {
    const [s, config] = await Promise.all([ctx.api.admin.stats(), ctx.api.system.config()]);
    const tiles = [
        ["Users", String(s.users)],
        ["Providers", String(s.providers)],
        ["Products", String(s.products)],
        ["Nodes", String(s.nodes)],
        ["Orders", String(s.orders)],
        ["Active rentals", String(s.active_rentals)],
        ["Gross volume", tfc(s.gross_volume)],
        ["Commission", `${config.commission_percent} %`],
    ];
    return h("section", {}, h("h2", {}, "Stats"), h("div", { class: "tiles" }, ...tiles.map(([k, v]) => h("div", { class: "card tile", role: "group", "aria-label": k }, h("p", { class: "meta" }, k), h("p", { class: "figure" }, v)))));
}
function userCard(ctx, u, reload) {
    const status = statusLine();
    const roles = h("fieldset", { class: "roles" }, h("legend", {}, "Roles"), ...Role.map((r) => {
        const box = h("input", { type: "checkbox", name: "role", value: r });
        box.checked = u.roles.includes(r);
        return h("label", { class: "check" }, box, r.replace(/_/g, " "));
    }));
    const setRoles = actionButton("Save roles", async () => {
        const chosen = [...roles.querySelectorAll("input:checked")].map((b) => b.value);
        await ctx.api.user.set_roles({ id: u.id, roles: chosen });
        await reload();
    }, status);
    const reason = h("input", { name: "reason", placeholder: "reason", "aria-label": `Reason to suspend ${u.email}` });
    const suspension = u.status === "suspended"
        ? actionButton("Unsuspend", async () => {
            await ctx.api.user.unsuspend({ id: u.id });
            await reload();
        }, status)
        : h("span", { class: "row" }, reason, actionButton("Suspend", async () => {
            await ctx.api.user.suspend({ id: u.id, reason: reason.value.trim() });
            await reload();
        }, status));
    return h("article", { class: "card user", "aria-label": u.email }, h("h3", {}, u.display_name), h("p", { class: "meta" }, u.email, " · ", h("span", { class: `badge ${u.status}` }, u.status), u.suspended_reason === undefined ? "" : ` (${u.suspended_reason})`, ` · since ${when(u.created_at)}`), h("div", { class: "row" }, suspension), roles, setRoles, status.el);
}
function users(ctx, _args, query) {
    const role = query.get("role") ?? "";
    const state = query.get("status") ?? "";
    const filter = form(null, [select("Role", "role", Role, "any"), select("Status", "status", UserStatus, "any")], "Filter", async (v) => {
        const params = new URLSearchParams();
        if (v.role)
            params.set("role", v.role);
        if (v.status)
            params.set("status", v.status);
        ctx.go(`#/admin/users${params.size > 0 ? `?${params}` : ""}`);
    });
    filter.classList.add("search");
    const [roleSelect, statusSelect] = filter.querySelectorAll("select");
    if (roleSelect !== undefined)
        roleSelect.value = role;
    if (statusSelect !== undefined)
        statusSelect.value = state;
    const list = pager("Users", (cursor) => ctx.api.user.list({
        role: role === "" ? undefined : role,
        status: state === "" ? undefined : state,
        limit: PAGE,
        cursor,
    }), (u) => userCard(ctx, u, () => list.reload()), "No users match.");
    return h("section", {}, h("h2", {}, "Users"), filter, list.el);
}
function audit(ctx, _args, query) {
    const actor = query.get("actor_id") ?? "";
    const object = query.get("object_id") ?? "";
    const filter = form(null, [field("Actor id", "actor_id", { value: actor }), field("Object id", "object_id", { value: object })], "Filter", async (v) => {
        const params = new URLSearchParams();
        if (v.actor_id)
            params.set("actor_id", v.actor_id);
        if (v.object_id)
            params.set("object_id", v.object_id);
        ctx.go(`#/admin/audit${params.size > 0 ? `?${params}` : ""}`);
    });
    filter.classList.add("search");
    const list = pager("Audit log", (cursor) => ctx.api.admin.audit({ actor_id: actor === "" ? undefined : actor, object_id: object === "" ? undefined : object, limit: PAGE, cursor }), (e) => h("article", { class: "card audit" }, h("h3", {}, e.method), h("p", { class: "meta" }, `${when(e.at)} · ${e.object_type} `, h("a", { href: `#/admin/audit?object_id=${e.object_id}` }, e.object_id)), h("p", { class: "meta" }, "by ", h("a", { href: `#/admin/audit?actor_id=${e.actor_id}` }, e.actor_id))), "No entries match.");
    return h("section", {}, h("h2", {}, "Audit log"), filter, list.el);
}
function ledger(ctx) {
    const result = h("div", { "aria-live": "polite" });
    const check = actionButton("Verify the ledger", async () => {
        const v = await ctx.api.ledger.verify();
        result.replaceChildren(h("p", { class: v.ok ? "status ok" : "status error", role: v.ok ? undefined : "alert" }, v.ok ? "The ledger balances." : "The ledger does not balance."), facts([
            ["Accounts", String(v.accounts)],
            ["Transfers", String(v.transfers)],
            ["Total issued", tfc(v.total)],
        ]), v.problems.length === 0 ? "" : h("ul", { class: "problems" }, ...v.problems.map((p) => h("li", {}, p))));
    });
    return h("section", {}, h("h2", {}, "Ledger"), h("p", {}, "Checks every transfer, every balance and that no customer wallet is negative."), check, result);
}
async function settings(ctx) {
    const config = await ctx.api.system.config();
    const edit = form("Settings", [
        field(`USD per ${config.currency.code}`, "usd_rate", { value: config.currency.usd_rate, required: true }),
        field("Commission (percent)", "commission_percent", { value: config.commission_percent, required: true }),
    ], "Save", async (v, status) => {
        const saved = await ctx.api.system.set_config({ usd_rate: v.usd_rate, commission_percent: v.commission_percent });
        status.ok(`Saved: 1 ${saved.currency.code} = ${saved.currency.usd_rate} USD, commission ${saved.commission_percent} %.`);
    });
    return h("section", { class: "narrow" }, h("h2", {}, "Settings"), edit, h("p", { class: "meta" }, `Test payments are ${config.test_payments ? "on" : "off"} (MARKETPLACE_TEST_PAYMENTS, set where the server runs).`));
}
export const adminViews = {
    "admin/stats": { access: "admin", title: "Stats", view: stats },
    "admin/users": { access: "admin", title: "Users", view: users },
    "admin/audit": { access: "admin", title: "Audit log", view: audit },
    "admin/ledger": { access: "admin", title: "Ledger", view: ledger },
    "admin/settings": { access: "admin", title: "Settings", view: settings },
};
