//! The web console (`/ui/` on the admin listener): server-rendered pages (minijinja) with
//! a little plain JavaScript that calls the admin API with the token pasted at login.
//!
//! The token is kept in `sessionStorage` (gone with the tab) and sent as an
//! `Authorization` header — never in a URL or a cookie, so the pages themselves need no
//! authentication and hold no data: everything shown comes from `/api/v1/`. Templates and
//! assets are compiled into the binary; nothing is loaded from another origin (the
//! Content-Security-Policy says so to the browser too).

use std::sync::OnceLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use http::{header, HeaderValue, StatusCode};
use minijinja::{context, Environment};

use super::AdminState;

/// The pages: path under `/ui/`, template, title, navigation label.
const PAGES: [(&str, &str, &str); 7] = [
    ("", "routes.html", "Routes"),
    ("events", "events.html", "Event log"),
    ("dlq", "dlq.html", "Dead letters"),
    ("secrets", "secrets.html", "Secrets"),
    ("test", "test.html", "Test delivery"),
    ("audit", "audit.html", "Audit log"),
    ("login", "login.html", "Sign in"),
];

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        let sources = [
            ("base.html", include_str!("templates/base.html")),
            ("routes.html", include_str!("templates/routes.html")),
            ("route.html", include_str!("templates/route.html")),
            ("events.html", include_str!("templates/events.html")),
            ("dlq.html", include_str!("templates/dlq.html")),
            ("secrets.html", include_str!("templates/secrets.html")),
            ("audit.html", include_str!("templates/audit.html")),
            ("test.html", include_str!("templates/test.html")),
            ("login.html", include_str!("templates/login.html")),
        ];
        for (name, source) in sources {
            // The templates are part of the binary: a syntax error fails the tests below.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "console template does not compile");
            }
        }
        env
    })
}

pub(super) fn router() -> Router<AdminState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| page("")))
        .route("/ui/routes/{id}", get(route_page))
        .route("/ui/assets/{name}", get(asset))
        .route(
            "/ui/{page}",
            get(|Path(name): Path<String>| page_by_name(name)),
        )
}

async fn page_by_name(name: String) -> Response {
    page(&name).await
}

fn hardened(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn render(template: &str, title: &str, page: &str, extra: minijinja::Value) -> Response {
    let nav: Vec<minijinja::Value> = PAGES
        .iter()
        .filter(|(path, _, _)| *path != "login")
        .map(|(path, _, label)| context! { href => format!("/ui/{path}"), label => label, current => *path == page })
        .collect();
    let rendered = templates()
        .get_template(template)
        .and_then(|t| t.render(context! { title => title, page => page, nav => nav, ..extra }));
    let response = match rendered {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("console template {template}: {e}"),
        )
            .into_response(),
    };
    hardened(response)
}

async fn page(name: &str) -> Response {
    match PAGES.iter().find(|(path, _, _)| *path == name) {
        Some((path, template, title)) => render(template, title, path, context! {}),
        None => hardened(
            (
                StatusCode::NOT_FOUND,
                "no such console page: try /ui/, /ui/events, /ui/dlq, /ui/secrets, /ui/audit",
            )
                .into_response(),
        ),
    }
}

async fn route_page(Path(id): Path<String>) -> Response {
    // The id is only echoed into the page (escaped by minijinja) for the script to use.
    render(
        "route.html",
        "Route keys",
        "route",
        context! { route_id => id },
    )
}

async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "app.js" => (
            include_str!("assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "app.css" => (include_str!("assets/app.css"), "text/css; charset=utf-8"),
        _ => return hardened((StatusCode::NOT_FOUND, "no such asset").into_response()),
    };
    hardened(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_renders_with_the_navigation_and_the_script() {
        for (path, template, title) in PAGES {
            let html = templates()
                .get_template(template)
                .and_then(|t| {
                    t.render(context! { title => title, page => path, nav => Vec::<minijinja::Value>::new() })
                })
                .unwrap_or_else(|e| panic!("{template}: {e}"));
            assert!(html.contains("/ui/assets/app.js"), "{template}");
            assert!(
                html.contains(&format!("<title>{title} · hookguard</title>")),
                "{template}"
            );
        }
        let route = templates()
            .get_template("route.html")
            .and_then(|t| t.render(context! { title => "x", page => "route", nav => Vec::<minijinja::Value>::new(), route_id => "<b>" }))
            .unwrap();
        assert!(
            route.contains("&lt;b&gt;") && !route.contains("<b>"),
            "the id is escaped"
        );
    }
}
