//! What every page shares: the layout's data (who is signed in, the form token, the zone),
//! times shown in the viewer's zone with UTC on hover, the error pages and the headers of
//! every answer.

use askama::Template;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use muster_core::DomainError;
use muster_store::StoreError;

/// The layout's data: every page template has one as `layout`.
pub struct Layout {
    pub title: String,
    /// The nav entry of this page (`home`, `incidents`, `declare`).
    pub nav: &'static str,
    /// `None` on the sign-in page.
    pub user: Option<String>,
    pub role: String,
    pub csrf: String,
    pub zone: String,
    pub zones: Vec<String>,
    /// The path the zone switcher comes back to.
    pub here: String,
    pub can_act: bool,
}

impl Layout {
    /// The layout of a page shown to nobody signed in (sign-in, errors before a session).
    pub fn anonymous(title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            nav: "",
            user: None,
            role: String::new(),
            csrf: String::new(),
            zone: "UTC".into(),
            zones: Vec::new(),
            here: "/".into(),
            can_act: false,
        }
    }
}

/// The zone a viewer reads times in, and the zones the switcher offers.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub tz: TimeZone,
    pub choices: Vec<String>,
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            tz: TimeZone::UTC,
            choices: vec!["UTC".into()],
        }
    }
}

/// An instant as a page shows it: in the viewer's zone, with the UTC time for `title`, and
/// RFC 3339 for `<time datetime>` and the countdown script.
#[derive(Debug, Clone)]
pub struct Time {
    pub iso: String,
    pub local: String,
    pub utc: String,
}

impl Time {
    pub fn new(at: Timestamp, zone: &Zone) -> Time {
        let local = at.to_zoned_datetime(zone.tz.clone());
        Time {
            iso: at.to_string(),
            local: local.strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
            utc: at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        }
    }

    /// Day and time, without the year (the timeline).
    pub fn compact(at: Timestamp, zone: &Zone) -> Time {
        let mut t = Time::new(at, zone);
        let local = at.to_zoned_datetime(zone.tz.clone());
        t.local = local.strftime("%b %d %H:%M:%S %Z").to_string();
        t
    }

    /// Only the time of day (the clock).
    pub fn short(at: Timestamp, zone: &Zone) -> Time {
        let mut t = Time::new(at, zone);
        let local = at.to_zoned_datetime(zone.tz.clone());
        t.local = local.strftime("%H:%M:%S %Z").to_string();
        t
    }
}

/// A page that could not be shown: its status and what to tell the reader.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn forbidden(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn invalid(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> PageError {
        match e {
            StoreError::Domain(d) => d.into(),
            StoreError::NotFound(id) => PageError::not_found(format!("There is no incident {id}.")),
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "page: database unavailable");
                PageError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is unavailable; try again in a moment.",
                )
            }
            other => {
                tracing::error!(error = %other, "page failed");
                PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.")
            }
        }
    }
}

impl From<DomainError> for PageError {
    fn from(d: DomainError) -> PageError {
        let status = match &d {
            DomainError::Unknown { .. } | DomainError::Invalid { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            DomainError::Conflict(_) => StatusCode::CONFLICT,
            DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
        };
        PageError::new(status, d.to_string())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    heading: &'a str,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let heading = match self.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::CONFLICT => "Not possible now",
            StatusCode::UNPROCESSABLE_ENTITY => "Check what you entered",
            _ => "Something went wrong",
        };
        let page = ErrorPage {
            layout: Layout::anonymous(heading),
            heading,
            message: &self.message,
        };
        (self.status, render(&page)).into_response()
    }
}

/// A template rendered to an HTML answer (a failing render is a 500 that says so).
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// The page's own stylesheet and script only: no inline script, no other origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers on every page: a strict CSP, no sniffing, no framing, no referrer to elsewhere,
/// and never cached (pages show live data and the form token).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
