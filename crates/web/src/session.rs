//! Signing in with an API token, the session cookie and the form token (CSRF).
//!
//! `/login` takes the same tokens as the API (`Store::create_web_session` checks them; feed
//! tokens cannot sign in) and sets the session cookie: HttpOnly, SameSite=Strict, Secure
//! when the request came over https (directly or as `X-Forwarded-Proto: https`). The store
//! keeps only the SHA-256 of the cookie's id, linked to the token, so revoking or expiring
//! the token ends the session on its next request on every node.
//!
//! Every POST of a signed-in page carries the session's form token, in the form field
//! [`CSRF_FIELD`] or the header [`CSRF_HEADER`]; [`Posted`] checks it before the handler
//! runs, so a missing or wrong token is a 403 page and nothing is written.

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use muster_core::Access;
use muster_server::AppState;
use muster_server::scope::{self, Owned};
use muster_store::SessionLimits;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::page::{Layout, PageError, Zone, render};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "muster_session";
/// The cookie holding the viewer's chosen time zone.
pub const ZONE_COOKIE: &str = "muster_zone";
/// The form field carrying the form token.
pub const CSRF_FIELD: &str = "csrf";
/// The header carrying the form token (htmx requests).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The largest form accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A signed-in viewer.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token's name: the actor of what they do.
    pub name: String,
    pub access: Access,
    /// The token's teams: what this session may write.
    pub scope: muster_core::Scope,
    pub csrf: String,
    pub zone: Zone,
}

impl Session {
    /// 403 page unless the session's token has `needed`.
    pub fn require(&self, needed: Access) -> Result<(), PageError> {
        if self.access.allows(needed) {
            return Ok(());
        }
        Err(PageError::forbidden(format!(
            "You are signed in as {} with the {} role; this needs {needed}.",
            self.name, self.access
        )))
    }

    /// 403 page unless the session's teams may write `thing` (the API's rule,
    /// `muster_server::scope`): a token limited to teams writes only what they own.
    pub async fn require_owner(&self, state: &AppState, thing: Owned) -> Result<(), PageError> {
        if self.scope.is_all() {
            return Ok(());
        }
        let (owners, what) = scope::owners(state, &thing)
            .await
            .map_err(|e| PageError::new(e.status, e.message))?;
        if self.scope.covers(&owners) {
            return Ok(());
        }
        let owners: Vec<&str> = owners.iter().map(String::as_str).collect();
        Err(PageError::forbidden(format!(
            "You are signed in as {}, limited to {}; {what} belongs to {}.",
            self.name,
            self.scope,
            owners.join(", ")
        )))
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Why a request has no session: where to send the reader.
pub struct SignInFirst {
    next: String,
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &self.next)
            .finish();
        Redirect::to(&format!("/login?{query}")).into_response()
    }
}

/// The viewer's zone: the zone cookie if it names a known zone, else the person's own zone
/// when the token is named after a person, else UTC.
fn zone_of(headers: &HeaderMap, state: &AppState, name: &str) -> Zone {
    let cfg = state.config();
    let mut choices: Vec<String> = cfg
        .config
        .people
        .values()
        .map(|p| p.time_zone.clone())
        .chain(cfg.config.schedules.values().map(|s| s.time_zone.clone()))
        .collect();
    choices.push("UTC".into());
    choices.sort();
    choices.dedup();
    let chosen = cookie(headers, ZONE_COOKIE)
        .and_then(|z| {
            form_urlencoded::parse(format!("z={z}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        })
        .or_else(|| cfg.config.people.get(name).map(|p| p.time_zone.clone()));
    if let Some(name) = chosen
        && let Ok(tz) = TimeZone::get(&name)
    {
        if !choices.contains(&name) {
            choices.push(name.clone());
            choices.sort();
        }
        return Zone { name, tz, choices };
    }
    Zone {
        choices,
        ..Zone::utc()
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let next = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |u| u.0.clone())
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.to_string());
        // A stream or fragment asked for without a session: the page around it signs in.
        let sign_in = || SignInFirst { next: next.clone() }.into_response();
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(sign_in());
        };
        let found = state
            .store
            .web_session(id, state.clock.now(), SessionLimits::default())
            .await
            .map_err(|e| PageError::from(e).into_response())?;
        let Some(s) = found else {
            return Err(sign_in());
        };
        let zone = zone_of(&parts.headers, state, &s.name);
        Ok(Session {
            name: s.name,
            access: s.access,
            scope: s.scope,
            csrf: s.csrf,
            zone,
        })
    }
}

/// A form POSTed from a signed-in page, its form token checked before anything else.
pub struct Posted<T> {
    pub session: Session,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.")
                    .into_response()
            })?;
        let from_header = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let from_form = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned());
        let presented = from_form.or(from_header).unwrap_or_default();
        let ok: bool = presented.as_bytes().ct_eq(session.csrf.as_bytes()).into();
        if !ok || presented.is_empty() {
            return Err(PageError::forbidden(
                "This form is out of date or did not come from Muster (its form token is \
                 missing or wrong). Nothing was changed; reload the page and try again.",
            )
            .into_response());
        }
        let form = serde_urlencoded_from(&bytes).map_err(|e| {
            PageError::invalid(format!("The form is malformed: {e}.")).into_response()
        })?;
        Ok(Posted { session, form })
    }
}

fn serde_urlencoded_from<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_urlencoded::from_bytes(bytes).map_err(|e| e.to_string())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// Only a same-site relative path is followed after sign-in: `/x`, never `//host` or a URL.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

pub async fn login_page(Query(p): Query<NextParam>) -> Response {
    render(&LoginPage {
        layout: Layout::anonymous("Sign in"),
        next: safe_next(p.next.as_deref()),
        error: None,
    })
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

/// True when the browser reached us over https (directly or through a proxy that says so).
fn over_https(headers: &HeaderMap, parts_uri: &axum::http::Uri) -> bool {
    parts_uri.scheme_str() == Some("https")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').next().is_some_and(|p| p.trim() == "https"))
}

/// A form posted from another site's page is refused (login CSRF): its `Origin`, when the
/// browser sends one, must be this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

pub async fn login(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if !same_origin(&parts.headers) {
        return PageError::forbidden("Sign in from Muster's own sign-in page.").into_response();
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.")
            .into_response();
    };
    let form: LoginForm = match serde_urlencoded_from(&bytes) {
        Ok(f) => f,
        Err(e) => {
            return PageError::invalid(format!("The form is malformed: {e}.")).into_response();
        }
    };
    let next = safe_next(form.next.as_deref());
    let session = match state
        .store
        .create_web_session(form.token.trim(), state.clock.now())
        .await
    {
        Ok(s) => s,
        Err(e) => return PageError::from(e).into_response(),
    };
    let Some(session) = session else {
        let page = LoginPage {
            layout: Layout::anonymous("Sign in"),
            next,
            error: Some(
                "That token is unknown, revoked or expired, or is a calendar feed token. \
                 Ask an admin for one (muster token create)."
                    .into(),
            ),
        };
        return (StatusCode::UNAUTHORIZED, render(&page)).into_response();
    };
    tracing::info!(name = %session.name, "signed in to the web UI");
    let secure = if over_https(&parts.headers, &parts.uri) {
        "; Secure"
    } else {
        ""
    };
    let max_age = SessionLimits::default().absolute.as_secs();
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        session.id
    );
    let mut resp = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[derive(Debug, Deserialize)]
pub struct Nothing {}

pub async fn logout(State(state): State<AppState>, req: Request) -> Response {
    let id = cookie(req.headers(), SESSION_COOKIE).map(str::to_string);
    let posted = Posted::<Nothing>::from_request(req, &state).await;
    if let Err(refused) = posted {
        return refused;
    }
    if let Some(id) = id
        && let Err(e) = state.store.end_web_session(&id).await
    {
        return PageError::from(e).into_response();
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("muster_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    resp
}

/// The layout of a signed-in page (here, so the layout needs nothing from sessions).
impl Layout {
    pub fn new(title: impl Into<String>, nav: &'static str, s: &Session, here: &str) -> Layout {
        Layout {
            title: title.into(),
            nav,
            user: Some(s.name.clone()),
            role: s.access.to_string(),
            csrf: s.csrf.clone(),
            zone: s.zone.name.clone(),
            zones: s.zone.choices.clone(),
            here: here.to_string(),
            can_act: s.access.allows(Access::Responder),
        }
    }
}
