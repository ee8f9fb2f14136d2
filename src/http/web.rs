//! The pages in web/, compiled into the binary so a fresh `cargo run` serves them from any
//! directory: `/` the chat, `/menu` the menu over plain HTTP, `/operator` the review queue,
//! `/countersign` the page where a shopper answers an agent's proposal, and their scripts,
//! style sheet and icon under `/static/{file}`.
//!
//! Every answer carries an ETag (a hash of the embedded bytes) and `Cache-Control: no-cache`,
//! so browsers revalidate cheaply and never run a stale script against a newer server. Pages
//! carry a Content-Security-Policy that allows only this origin's own scripts, styles and
//! connections (the pages have no inline code).

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::error::AppError;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../../web/", $name)),
        }
    };
}

/// The pages, by the path they are served at.
const PAGES: &[(&str, Asset)] = &[
    ("/", asset!("index.html", HTML)),
    ("/menu", asset!("menu.html", HTML)),
    ("/operator", asset!("operator.html", HTML)),
    ("/countersign", asset!("countersign.html", HTML)),
];

/// Everything under `/static/`.
const STATIC: &[Asset] = &[
    asset!("app.css", CSS),
    asset!("common.js", JS),
    asset!("chat.js", JS),
    asset!("menu.js", JS),
    asset!("operator.js", JS),
    asset!("operator-words.js", JS),
    asset!("countersign.js", JS),
    asset!("favicon.svg", SVG),
];

/// Only this origin; WebSockets to it are covered by `connect-src 'self'`.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for (path, asset) in PAGES {
        router = router.route(path, get(move |headers: HeaderMap| page(asset, headers)));
    }
    router.route("/static/{file}", get(static_file))
}

async fn page(asset: &'static Asset, headers: HeaderMap) -> Response {
    let mut response = respond(asset, &headers);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn static_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match STATIC.iter().find(|a| a.name == file) {
        Some(asset) => respond(asset, &headers),
        None => AppError::not_found("file").into_response(),
    }
}

/// The asset, or 304 when the client already holds this version.
fn respond(asset: &'static Asset, request: &HeaderMap) -> Response {
    let etag = etag(asset);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = asset.body.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(value) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, value);
    }
    response
}

/// A strong validator for an embedded file, computed once.
fn etag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        let all = PAGES.iter().map(|(_, a)| a).chain(STATIC);
        all.map(|a| {
            let digest = Sha256::digest(a.body);
            (a.name, format!("\"{}\"", hex::encode(&digest[..12])))
        })
        .collect()
    });
    tags.get(asset.name).map(String::as_str).unwrap_or("\"\"")
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let mut req = Request::get(path);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        routes::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn header(r: &Response, name: header::HeaderName) -> &str {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn pages_and_files_are_served_with_their_content_types() {
        for (path, content_type) in [
            ("/", HTML),
            ("/menu", HTML),
            ("/operator", HTML),
            ("/static/app.css", CSS),
            ("/static/chat.js", JS),
            ("/static/common.js", JS),
            ("/static/favicon.svg", SVG),
        ] {
            let r = get(path, None).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&r, header::CONTENT_TYPE), content_type, "{path}");
            assert_eq!(header(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        }
        let page = get("/", None).await;
        assert!(header(&page, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"));
    }

    #[tokio::test]
    async fn unknown_files_and_pages_under_static_are_not_found() {
        for path in [
            "/static/nope.js",
            "/static/index.html",
            "/static/..%2FCargo.toml",
        ] {
            assert_eq!(
                get(path, None).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn a_client_holding_the_current_version_gets_not_modified() {
        let first = get("/static/chat.js", None).await;
        let tag = header(&first, header::ETAG).to_owned();
        assert!(tag.starts_with('"') && tag.len() > 10, "{tag}");
        let again = get("/static/chat.js", Some(&tag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let other = get("/static/chat.js", Some("\"something-else\"")).await;
        assert_eq!(other.status(), StatusCode::OK);
    }

    /// The menu page is for clients that cannot hold a socket: neither it nor what it imports
    /// opens one.
    #[test]
    fn the_menu_page_opens_no_socket() {
        for name in ["menu.js", "common.js"] {
            let script = STATIC.iter().find(|a| a.name == name).unwrap();
            let text = std::str::from_utf8(script.body).unwrap();
            assert!(!text.contains("new WebSocket"), "{name} opens a socket");
        }
    }

    /// Every `/static/…` a page names and every module a script imports is embedded.
    #[test]
    fn every_referenced_file_is_embedded() {
        let served = |name: &str| STATIC.iter().any(|a| a.name == name);
        let text = |a: &Asset| std::str::from_utf8(a.body).expect("UTF-8");
        for (_, page) in PAGES {
            let mut refs = 0;
            for piece in text(page).split("\"/static/").skip(1) {
                let name = &piece[..piece.find('"').unwrap()];
                assert!(served(name), "{} names /static/{name}", page.name);
                refs += 1;
            }
            assert!(
                refs >= 2,
                "{} should load a style sheet and a script",
                page.name
            );
        }
        for script in STATIC.iter().filter(|a| a.content_type == JS) {
            for piece in text(script).split("from \"./").skip(1) {
                let name = &piece[..piece.find('"').unwrap()];
                assert!(served(name), "{} imports ./{name}", script.name);
            }
        }
    }
}
