//! The web console at `/app`: a page, a stylesheet and the scripts built
//! from `web/console` (TypeScript compiled to `web/console/dist`, committed),
//! embedded in the binary so that serving it needs no Node. Every answer
//! carries an `ETag` (a conditional request gets 304) and the page a content
//! security policy that allows this origin only.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! script {
    ($name:literal) => {
        Asset {
            name: $name,
            content_type: "text/javascript; charset=utf-8",
            body: include_str!(concat!("../../../web/console/dist/", $name)),
        }
    };
}

const PAGE: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_str!("../../../web/console/static/index.html"),
};

/// Everything under `/app/`: the stylesheet and every compiled module.
const ASSETS: &[Asset] = &[
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../../web/console/static/console.css"),
    },
    script!("account.js"),
    script!("admin.js"),
    script!("app.js"),
    script!("client.js"),
    script!("dom.js"),
    script!("money.js"),
    script!("provider.js"),
    script!("shop.js"),
];

/// The page may load and call this origin only, and may not be framed.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    std::iter::once(&PAGE)
        .chain(ASSETS)
        .map(|a| {
            format!(
                "\"{}\"",
                hex::encode(&Sha256::digest(a.body.as_bytes())[..12])
            )
        })
        .collect()
});

fn answer(index: usize, asset: &Asset, request: &HeaderMap) -> Response {
    let etag = ETAGS.get(index).map(String::as_str).unwrap_or_default();
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if asset.name == PAGE.name {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    (StatusCode::OK, headers, asset.body).into_response()
}

/// `GET /app` and `GET /app/`: the console's page (its routes live after `#`).
pub async fn page(request: HeaderMap) -> Response {
    answer(0, &PAGE, &request)
}

/// `GET /app/{name}`: one asset, or 404.
pub async fn asset(Path(name): Path<String>, request: HeaderMap) -> Response {
    match ASSETS.iter().enumerate().find(|(_, a)| a.name == name) {
        Some((i, a)) => answer(i + 1, a, &request),
        None => (StatusCode::NOT_FOUND, "no such file in the console\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module added to the console is served: the table names every file
    /// the build writes.
    #[test]
    fn every_compiled_module_is_embedded() {
        let dist = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/console/dist");
        let mut built: Vec<String> = std::fs::read_dir(dist)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        built.sort();
        let mut served: Vec<&str> = ASSETS
            .iter()
            .filter(|a| a.name.ends_with(".js"))
            .map(|a| a.name)
            .collect();
        served.sort();
        assert_eq!(built, served);
    }
}
