//! The baseline process of `make bench`: the bare axum + serde_json server
//! of `benches/baseline.rs` on the runtime's default worker count (one per
//! core, as `marketplace serve`), answering `product.get` for the products
//! in a JSON file (an array of product objects, as `product.get` returns
//! them).
//!
//! `bench_baseline <listen address> <products.json>`

use std::collections::HashMap;
use std::process::ExitCode;

use serde_json::Value;

#[path = "../benches/baseline.rs"]
mod baseline;

/// The server's allocator, so that the comparison is of the code alone.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, products] = args.as_slice() else {
        eprintln!("usage: bench_baseline <listen address> <products.json>");
        return ExitCode::from(2);
    };
    match run(listen, products) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_baseline: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(listen: &str, products: &str) -> Result<(), String> {
    let text =
        std::fs::read_to_string(products).map_err(|e| format!("cannot read {products}: {e}"))?;
    let list: Vec<Value> =
        serde_json::from_str(&text).map_err(|e| format!("{products}: not a JSON array: {e}"))?;
    let mut catalog = HashMap::new();
    for product in list {
        let id = product["id"]
            .as_str()
            .ok_or_else(|| format!("{products}: a product without a string id"))?
            .to_string();
        catalog.insert(id, product);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        println!("baseline: {} products on {listen}", catalog.len());
        axum::serve(listener, baseline::router(catalog))
            .await
            .map_err(|e| format!("serve: {e}"))
    })
}
