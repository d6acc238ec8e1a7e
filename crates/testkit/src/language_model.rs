//! A local stand-in for an OpenAI-compatible chat-completions endpoint
//! (`POST /chat/completions`), answering in the real JSON shape, or slowly, or with a 500, or
//! with garbage, as a test asks. Every request is recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::fakes::Recorded;

/// How the fake answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A well-formed completion whose message content is this text.
    Text(String),
    /// The same completion, after this delay.
    Slow(Duration, String),
    /// HTTP 500 with an error body, as the real API sends on server errors.
    ServerError,
    /// HTTP 200 whose body is not JSON.
    InvalidJson,
    /// HTTP 200, well-formed, with an empty `choices` array.
    EmptyChoices,
}

#[derive(Clone)]
pub struct FakeLanguageModel {
    /// Base URL (give it as `MUSTER_LLM_URL`); the fake serves `{url}/chat/completions`.
    pub url: String,
    shared: Arc<Mutex<(Vec<Recorded>, Answer)>>,
}

impl FakeLanguageModel {
    pub async fn start(answer: Answer) -> FakeLanguageModel {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake language model");
        let fake = FakeLanguageModel {
            url: format!("http://{}/v1", listener.local_addr().expect("addr")),
            shared: Arc::new(Mutex::new((Vec::new(), answer))),
        };
        let app = Router::new()
            .route("/v1/chat/completions", axum::routing::post(complete))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    pub fn answer(&self, answer: Answer) {
        self.lock().1 = answer;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().0.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<Recorded>, Answer)> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn completion(model: &Value, text: &str) -> Value {
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1774753920,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    })
}

async fn complete(
    State(fake): State<FakeLanguageModel>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rec = Recorded {
        path: "/v1/chat/completions".into(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let model = rec.json()["model"].clone();
    let answer = {
        let mut s = fake.lock();
        s.0.push(rec);
        s.1.clone()
    };
    match answer {
        Answer::Text(t) => axum::Json(completion(&model, &t)).into_response(),
        Answer::Slow(delay, t) => {
            tokio::time::sleep(delay).await;
            axum::Json(completion(&model, &t)).into_response()
        }
        Answer::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(
                json!({"error": {"message": "The server had an error", "type": "server_error"}}),
            ),
        )
            .into_response(),
        Answer::InvalidJson => (
            [("content-type", "application/json")],
            "{\"choices\": [{\"message\": ",
        )
            .into_response(),
        Answer::EmptyChoices => axum::Json(json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "model": model, "choices": [],
        }))
        .into_response(),
    }
}
