//! A deadline for the whole request body (`limits.body_read_timeout`, 10 s by default).
//!
//! The request timeout (30 s) bounds a request from start to answer, but a sender that
//! trickles its body holds an in-flight slot for all of it; a flood of such senders fills a
//! route class's budget. The body gets a shorter deadline of its own, counted from the moment
//! the request's head arrived: past it, reading the body fails with [`BodyDeadline`], which
//! intake answers with 503 + Retry-After (senders retry; Alertmanager drops a group on a 4xx)
//! and the API with 408.

use std::error::Error;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::Frame;
use tokio::time::Sleep;

use crate::AppState;

/// The body did not arrive within the deadline.
#[derive(Debug)]
pub struct BodyDeadline(pub Duration);

impl fmt::Display for BodyDeadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the request body did not arrive within {} s (limits.body_read_timeout)",
            self.0.as_secs()
        )
    }
}

impl Error for BodyDeadline {}

/// Whether `err`, or an error it wraps, is a [`BodyDeadline`].
pub fn is_deadline(err: &(dyn Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<BodyDeadline>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// A body that fails once its deadline has passed.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        // Both fields are Unpin (the body is boxed, the timer pinned on the heap).
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyDeadline(this.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: gives every request body the deadline.
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let limit = state.body_read_timeout;
    let body = Body::new(DeadlineBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(limit)),
        limit,
    });
    next.run(Request::from_parts(parts, body)).await
}
