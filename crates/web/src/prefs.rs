//! The time-zone switcher: the chosen zone in a cookie, then back to the page.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::page::PageError;
use crate::session::{Posted, ZONE_COOKIE, safe_next};

#[derive(Debug, Deserialize)]
pub struct ZoneForm {
    #[serde(default)]
    zone: String,
    back: Option<String>,
}

pub async fn set_zone(p: Posted<ZoneForm>) -> Result<Response, PageError> {
    let zone = p.form.zone.trim();
    if TimeZone::get(zone).is_err() {
        return Err(PageError::invalid(format!(
            "`{zone}` is not a time zone this server knows (an IANA name such as Europe/London)."
        )));
    }
    let value: String = form_urlencoded::byte_serialize(zone.as_bytes()).collect();
    let cookie = format!("{ZONE_COOKIE}={value}; Path=/; SameSite=Strict; Max-Age=31536000");
    let mut resp = Redirect::to(&safe_next(p.form.back.as_deref())).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}
