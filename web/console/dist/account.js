// Signing in and registering.
import { field, form, h } from "./dom.js";
export const accountViews = {
    login: {
        access: "public",
        title: "Sign in",
        view: (ctx) => h("section", { class: "narrow" }, h("h2", {}, "Sign in"), form(null, [
            field("Email", "email", { type: "email", required: true, autocomplete: "username" }),
            field("Password", "password", { type: "password", required: true, autocomplete: "current-password" }),
        ], "Sign in", async (v) => {
            ctx.signedIn(await ctx.api.auth.login({ email: v.email ?? "", password: v.password ?? "" }));
        }), h("p", {}, "New here? ", h("a", { href: "#/register" }, "Register"))),
    },
    register: {
        access: "public",
        title: "Register",
        view: (ctx) => h("section", { class: "narrow" }, h("h2", {}, "Register"), form(null, [
            field("Display name", "display_name", { required: true, autocomplete: "nickname" }),
            field("Email", "email", { type: "email", required: true, autocomplete: "username" }),
            field("Password (at least 10 characters)", "password", { type: "password", required: true, autocomplete: "new-password" }),
        ], "Register", async (v) => {
            ctx.signedIn(await ctx.api.auth.register({ display_name: v.display_name ?? "", email: v.email ?? "", password: v.password ?? "" }));
        }), h("p", {}, "Already registered? ", h("a", { href: "#/login" }, "Sign in"))),
    },
};
