//! `provider.*` and `product.*` (except search): roles, categories, drafts,
//! versions, archiving, public listing with filters and cursors.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::helpers::*;
use crate::support::*;

fn roles(c: &market_testkit::Client) -> Value {
    c.ok("auth.me", json!({}))["roles"].clone()
}

#[test]
fn provider_registration_grants_the_matching_role_once_per_kind() {
    let e = start();
    let (c, user) = e.register("p@example.com");
    assert_eq!(roles(&c), json!(["customer"]));
    let service = c.ok(
        "provider.register",
        json!({"kind": "service", "name": "  Fixers  ", "description": "we fix"}),
    );
    assert_eq!(service["kind"], "service");
    assert_eq!(service["name"], "Fixers");
    assert_eq!(service["owner_id"], user["id"]);
    assert_eq!(service["version"], 1);
    assert!(
        roles(&c)
            .as_array()
            .unwrap()
            .contains(&json!("service_provider"))
    );
    fails(
        &c,
        "provider.register",
        json!({"kind": "service", "name": "Again", "description": ""}),
        4090,
        "conflict",
    );
    c.ok(
        "provider.register",
        json!({"kind": "app", "name": "Apps", "description": ""}),
    );
    let r = roles(&c);
    for role in ["customer", "service_provider", "app_provider"] {
        assert!(r.as_array().unwrap().contains(&json!(role)), "{r}");
    }
    assert!(
        !r.as_array().unwrap().contains(&json!("resource_provider")),
        "{r}"
    );
    fails(
        &e.anon(),
        "provider.register",
        json!({"kind": "app", "name": "x", "description": ""}),
        4010,
        "unauthenticated",
    );
}

#[test]
fn providers_are_public_and_changed_only_by_their_owner() {
    let e = start();
    let (a, _, a_service) = provider(&e, "a@example.com", "service");
    let (_, _, b_app) = provider(&e, "b@example.com", "app");
    let (_, _, c_service) = provider(&e, "c@example.com", "service");
    let anon = e.anon();
    assert_eq!(
        ids(&anon.ok("provider.list", json!({"kind": "service"}))),
        vec![id_of(&c_service), id_of(&a_service)],
        "service providers, newest first"
    );
    assert_eq!(
        ids(&anon.ok("provider.list", json!({"kind": "app"}))),
        vec![id_of(&b_app)]
    );
    assert!(items(&anon.ok("provider.list", json!({"kind": "resource"}))).is_empty());
    assert_eq!(items(&anon.ok("provider.list", json!({}))).len(), 3);
    let a_app = a.ok(
        "provider.register",
        json!({"kind": "app", "name": "A's apps", "description": ""}),
    );
    let owner = a_service["owner_id"].clone();
    assert_eq!(
        ids(&anon.ok("provider.list", json!({"owner_id": owner}))),
        vec![id_of(&a_app), id_of(&a_service)],
        "one owner's profiles"
    );
    assert_eq!(
        ids(&anon.ok("provider.list", json!({"owner_id": owner, "kind": "app"}))),
        vec![id_of(&a_app)]
    );
    assert!(
        items(&anon.ok(
            "provider.list",
            json!({"owner_id": owner, "kind": "resource"})
        ))
        .is_empty()
    );
    let got = anon.ok("provider.get", json!({"id": a_service["id"]}));
    assert_eq!(got, a_service);
    fails(
        &anon,
        "provider.get",
        json!({"id": UNKNOWN_ID}),
        4040,
        "not_found",
    );
    // a stranger (even another provider) cannot change it
    let (stranger, _) = e.register("s@example.com");
    for who in [&stranger, &e.login("c@example.com", PASSWORD)] {
        fails(
            who,
            "provider.update",
            json!({"id": a_service["id"], "name": "Hijacked"}),
            4040,
            "not_found",
        );
    }
    let updated = a.ok(
        "provider.update",
        json!({"id": a_service["id"], "name": "Fixers Ltd", "expected_version": 1}),
    );
    assert_eq!(updated["name"], "Fixers Ltd");
    assert_eq!(updated["description"], a_service["description"]);
    assert_eq!(updated["version"], 2);
    fails(
        &a,
        "provider.update",
        json!({"id": a_service["id"], "name": "Stale", "expected_version": 1}),
        4090,
        "conflict",
    );
    assert_eq!(
        anon.ok("provider.get", json!({"id": a_service["id"]}))["name"],
        "Fixers Ltd"
    );
}

#[test]
fn the_category_must_fit_the_provider_kind() {
    let e = start();
    let (app, _, _) = provider(&e, "app@example.com", "app");
    let (svc, _, _) = provider(&e, "svc@example.com", "service");
    let (res, _, res_profile) = provider(&e, "res@example.com", "resource");
    let (customer, _) = e.register("customer@example.com");
    let create = |category: &str| json!({"category": category, "name": "Thing", "description": "", "price": "1", "pricing_unit": "hour"});
    fails(
        &app,
        "product.create",
        create("compute_slice"),
        4030,
        "forbidden",
    );
    fails(&app, "product.create", create("service"), 4030, "forbidden");
    fails(&svc, "product.create", create("app"), 4030, "forbidden");
    fails(&res, "product.create", create("module"), 4030, "forbidden");
    fails(
        &customer,
        "product.create",
        create("service"),
        4030,
        "forbidden",
    );
    fails(
        &e.anon(),
        "product.create",
        create("service"),
        4010,
        "unauthenticated",
    );
    for category in ["app", "worker", "model", "module"] {
        assert_eq!(
            app.ok("product.create", create(category))["category"],
            category
        );
    }
    assert_eq!(
        svc.ok("product.create", create("service"))["category"],
        "service"
    );
    for category in ["compute_slice", "node", "gateway", "name"] {
        let p = res.ok("product.create", create(category));
        assert_eq!(p["category"], category);
        assert_eq!(p["provider_id"], res_profile["id"]);
        assert_eq!(p["status"], "active");
        assert_eq!(p["version"], 1);
    }
    // money rules on the price
    let mut bad = create("service");
    bad["price"] = json!("0");
    fails_on_field(&svc, "product.create", bad.clone(), "price");
    bad["price"] = json!("1.0000001");
    fails_on_field(&svc, "product.create", bad, "price");
}

#[test]
fn drafts_are_hidden_from_the_public_but_not_from_the_owner_or_admins() {
    let e = start();
    let (admin, _) = e.admin();
    let (owner, _, profile) = provider(&e, "o@example.com", "service");
    let (other, _) = e.register("x@example.com");
    let live = product(&owner, "service", "Live", "5", json!({}));
    let draft = product(&owner, "service", "Draft", "5", json!({"draft": true}));
    assert_eq!(draft["status"], "draft");
    let get = json!({"id": draft["id"]});
    fails(&e.anon(), "product.get", get.clone(), 4040, "not_found");
    fails(&other, "product.get", get.clone(), 4040, "not_found");
    assert_eq!(owner.ok("product.get", get.clone())["status"], "draft");
    assert_eq!(admin.ok("product.get", get.clone())["status"], "draft");
    let by_provider = json!({"provider_id": profile["id"]});
    for params in [
        json!({}),
        json!({"category": "service"}),
        by_provider.clone(),
    ] {
        assert_eq!(
            ids(&e.anon().ok("product.list", params.clone())),
            vec![id_of(&live)],
            "{params}"
        );
        assert_eq!(ids(&other.ok("product.list", params)), vec![id_of(&live)]);
    }
    let both = vec![id_of(&draft), id_of(&live)];
    assert_eq!(ids(&owner.ok("product.list", by_provider.clone())), both);
    assert_eq!(ids(&admin.ok("product.list", by_provider)), both);
    assert_eq!(ids(&admin.ok("product.list", json!({}))), both);
    // publishing it shows it to everyone
    let published = owner.ok(
        "product.update",
        json!({"id": draft["id"], "status": "active"}),
    );
    assert_eq!(published["status"], "active");
    assert_eq!(e.anon().ok("product.get", get)["name"], "Draft");
    assert_eq!(ids(&e.anon().ok("product.list", json!({}))), both);
}

/// The schema: "owners also see their drafts and archived products" in
/// `product.list`; without a filter the owner gets the public view only.
#[test]
fn an_owner_sees_their_drafts_in_an_unfiltered_product_list() {
    let e = start();
    let (owner, _, _) = provider(&e, "o@example.com", "service");
    let live = product(&owner, "service", "Live", "5", json!({}));
    let draft = product(&owner, "service", "Draft", "5", json!({"draft": true}));
    assert_eq!(
        ids(&owner.ok("product.list", json!({}))),
        vec![id_of(&draft), id_of(&live)]
    );
}

#[test]
fn updates_check_the_owner_and_the_expected_version() {
    let e = start();
    let (owner, _, _) = provider(&e, "o@example.com", "service");
    let (rival, _, _) = provider(&e, "r@example.com", "service");
    let p = product(
        &owner,
        "service",
        "Plumbing",
        "40",
        json!({"tags": ["Home", " repair "], "attributes": {"area": "Ghent"}}),
    );
    assert_eq!(p["tags"], json!(["home", "repair"]));
    let u = owner.ok(
        "product.update",
        json!({"id": p["id"], "expected_version": 1, "price": "45.5", "stock": 7}),
    );
    assert_eq!(u["version"], 2);
    assert_money(&u["price"], "45.5");
    assert_eq!(u["stock"], 7);
    assert_eq!(u["name"], "Plumbing", "absent fields stay");
    assert_eq!(u["attributes"], json!({"area": "Ghent"}));
    fails(
        &owner,
        "product.update",
        json!({"id": p["id"], "expected_version": 1, "price": "1"}),
        4090,
        "conflict",
    );
    fails(
        &rival,
        "product.update",
        json!({"id": p["id"], "price": "1"}),
        4040,
        "not_found",
    );
    fails(
        &rival,
        "product.archive",
        json!({"id": p["id"]}),
        4040,
        "not_found",
    );
    fails_on_field(
        &owner,
        "product.update",
        json!({"id": p["id"], "status": "archived"}),
        "status",
    );
    let now = e.anon().ok("product.get", json!({"id": p["id"]}));
    assert_money(&now["price"], "45.5");
    assert_eq!(now["version"], 2);
}

#[test]
fn archiving_hides_a_product_for_good() {
    let e = start();
    let (admin, _) = e.admin();
    let (owner, _, _) = provider(&e, "o@example.com", "app");
    let p = product(&owner, "app", "Old app", "3", json!({"tags": ["legacy"]}));
    let a = owner.ok("product.archive", json!({"id": p["id"]}));
    assert_eq!(a["status"], "archived");
    assert_eq!(a["version"], 2);
    fails(
        &e.anon(),
        "product.get",
        json!({"id": p["id"]}),
        4040,
        "not_found",
    );
    for params in [
        json!({}),
        json!({"tag": "legacy"}),
        json!({"category": "app"}),
    ] {
        assert!(items(&e.anon().ok("product.list", params)).is_empty());
    }
    assert_eq!(
        owner.ok("product.get", json!({"id": p["id"]}))["status"],
        "archived"
    );
    assert_eq!(
        admin.ok("product.get", json!({"id": p["id"]}))["status"],
        "archived"
    );
    fails(
        &owner,
        "product.archive",
        json!({"id": p["id"]}),
        4220,
        "invalid_state",
    );
    fails(
        &owner,
        "product.update",
        json!({"id": p["id"], "status": "active"}),
        4220,
        "invalid_state",
    );
}

#[test]
fn product_list_filters_and_pages_newest_first() {
    let e = start();
    let (a, _, a_service) = provider(&e, "a@example.com", "service");
    let a_app = a.ok(
        "provider.register",
        json!({"kind": "app", "name": "A apps", "description": ""}),
    );
    let (b, _, b_service) = provider(&e, "b@example.com", "service");
    let mut made = Vec::new(); // oldest first
    for i in 0..5 {
        let tags = if i % 2 == 0 {
            json!(["gpu", "fast"])
        } else {
            json!(["cpu"])
        };
        made.push(product(
            &a,
            "service",
            &format!("A service {i}"),
            "1",
            json!({"tags": tags}),
        ));
    }
    for i in 0..3 {
        made.push(product(
            &b,
            "service",
            &format!("B service {i}"),
            "1",
            json!({"tags": ["gpu"]}),
        ));
    }
    let a_app_product = product(&a, "app", "A app", "1", json!({"tags": ["gpu"]}));
    made.push(a_app_product.clone());
    let newest_first = |pred: &dyn Fn(&Value) -> bool| -> Vec<String> {
        made.iter().rev().filter(|p| pred(p)).map(id_of).collect()
    };
    let anon = e.anon();
    let list = |params: Value| ids(&anon.ok("product.list", params));
    assert_eq!(list(json!({})), newest_first(&|_| true));
    assert_eq!(
        list(json!({"category": "service"})),
        newest_first(&|p| p["category"] == "service")
    );
    assert_eq!(
        list(json!({"category": "app"})),
        vec![id_of(&a_app_product)]
    );
    assert!(list(json!({"category": "node"})).is_empty());
    assert_eq!(
        list(json!({"provider_id": a_service["id"]})),
        newest_first(&|p| p["provider_id"] == a_service["id"])
    );
    assert_eq!(list(json!({"provider_id": a_service["id"]})).len(), 5);
    assert_eq!(
        list(json!({"provider_id": a_app["id"]})),
        vec![id_of(&a_app_product)]
    );
    assert_eq!(list(json!({"provider_id": b_service["id"]})).len(), 3);
    let gpu = newest_first(&|p| p["tags"].as_array().unwrap().contains(&json!("gpu")));
    assert_eq!(gpu.len(), 7);
    assert_eq!(list(json!({"tag": "gpu"})), gpu);
    assert_eq!(
        list(json!({"tag": "GPU"})),
        gpu,
        "tags compare case-insensitively"
    );
    assert_eq!(
        list(json!({"tag": "gpu", "category": "service", "provider_id": a_service["id"]})),
        newest_first(&|p| p["provider_id"] == a_service["id"]
            && p["tags"].as_array().unwrap().contains(&json!("gpu")))
    );
    // paging: every product once, in order, for several page sizes and filters
    for (params, expected) in [
        (json!({}), newest_first(&|_| true)),
        (json!({"tag": "gpu"}), gpu.clone()),
        (
            json!({"category": "service"}),
            newest_first(&|p| p["category"] == "service"),
        ),
    ] {
        for limit in [1, 2, 3, 4] {
            let mut p = params.clone();
            p["limit"] = json!(limit);
            let first = anon.ok("product.list", p.clone());
            assert!(items(&first).len() <= limit);
            let got: Vec<String> = all_pages(&anon, "product.list", p)
                .iter()
                .map(id_of)
                .collect();
            let unique: HashSet<&String> = got.iter().collect();
            assert_eq!(
                unique.len(),
                got.len(),
                "duplicates at limit {limit}: {got:?}"
            );
            assert_eq!(got, expected, "{params} limit {limit}");
        }
    }
    fails_on_field(&anon, "product.list", json!({"limit": 501}), "limit");
    assert_eq!(
        items(&anon.ok("product.list", json!({"limit": 500}))).len(),
        9
    );
}
