//! The HTTP server (axum): OpenAI-compatible `/v1/chat/completions` (streamed as
//! server-sent events or whole), `/v1/models`, `/health`, and the web chat at `/`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request as HttpRequest, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::mpsc::{channel, UnboundedReceiver};
use tokio_stream::wrappers::ReceiverStream;

use f1_baseline::tool_loop::ToolStep;

use crate::engine::{Engine, Event, Usage};
use crate::openai::{
    finish_reason, AssistantMessage, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest,
    Choice, ChunkChoice, Delta, ErrorBody, ErrorDetail, ModelCard, ModelList, Timings, WireUsage,
    TOOL_CALLS,
};
use crate::tool_calls;

/// The web chat page: one self-contained file.
const CHAT_PAGE: &str = include_str!("../assets/chat.html");

/// The page with the evaluation's system prompt filled in.
fn chat_page() -> String {
    let system = serde_json::to_string(f1_baseline::prompt::SYSTEM_PROMPT).expect("a string");
    CHAT_PAGE.replace("{{SYSTEM_PROMPT}}", &system)
}

/// Limits and access control.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// When set, `/v1/*` needs `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
    /// The most tokens one completion may ask for (and the default).
    pub max_tokens: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            max_body_bytes: 256 * 1024,
            max_tokens: 512,
        }
    }
}

struct AppState {
    engine: Engine,
    options: ServeOptions,
    next_id: AtomicU64,
}

/// The application: every route, the API-key check on `/v1/*` and the body limit.
pub fn router(engine: Engine, options: ServeOptions) -> Router {
    let body_limit = options.max_body_bytes;
    let page = Html(chat_page());
    let state = Arc::new(AppState {
        engine,
        options,
        next_id: AtomicU64::new(1),
    });
    let api = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat_completions))
        .layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .route("/", get(move || async move { page }))
        .route("/health", get(health))
        .merge(api)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves `app` on `listener` until Ctrl-C.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

fn error(
    status: StatusCode,
    kind: &'static str,
    param: Option<&'static str>,
    message: String,
) -> Response {
    let code = match status {
        StatusCode::UNAUTHORIZED => Some("invalid_api_key"),
        StatusCode::NOT_FOUND => Some("model_not_found"),
        _ => None,
    };
    let body = ErrorBody {
        error: ErrorDetail {
            message,
            kind,
            param,
            code,
        },
    };
    (status, Json(body)).into_response()
}

/// Compares without stopping at the first differing byte, so response time does
/// not reveal how much of a guessed key was right.
fn same_key(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

async fn require_key(
    State(state): State<Arc<AppState>>,
    request: HttpRequest,
    next: Next,
) -> Response {
    if let Some(key) = &state.options.api_key {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map_or("", |(_, key)| key.trim());
        if !same_key(given.as_bytes(), key.as_bytes()) {
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                None,
                "a valid API key is needed: Authorization: Bearer <key>".into(),
            );
        }
    }
    next.run(request).await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn health(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    Json(serde_json::json!({
        "status": "ok",
        "models": state.engine.models(),
        "in_flight": state.engine.in_flight(),
        "capacity": state.engine.capacity(),
        "tokens_generated": state.engine.tokens_generated(),
    }))
}

async fn models(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let created = now();
    Json(ModelList {
        object: "list",
        data: state
            .engine
            .models()
            .iter()
            .map(|id| ModelCard {
                id: id.clone(),
                object: "model",
                created,
                owned_by: "f1ai",
            })
            .collect(),
    })
}

async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // A form or text/plain body is what a cross-site page can send without a
    // preflight: only JSON is read.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            None,
            "the request body must be JSON sent as Content-Type: application/json".into(),
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return error(
                rejection.status(),
                "invalid_request_error",
                None,
                rejection.body_text(),
            )
        }
    };
    let wire: ChatCompletionRequest = match serde_json::from_slice(&body) {
        Ok(wire) => wire,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                format!("the request body is not a chat completion request: {e}"),
            )
        }
    };
    let request = match wire.to_request(state.options.max_tokens, state.engine.has_tools()) {
        Ok(request) => request,
        Err(invalid) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some(invalid.param),
                invalid.message,
            )
        }
    };
    if !state.engine.models().contains(&request.model) {
        return error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model"),
            format!(
                "model '{}' is not served here (served: {})",
                request.model,
                state.engine.models().join(", ")
            ),
        );
    }
    let model = request.model.clone();
    let Ok(mut events) = state.engine.submit(request) else {
        let mut response = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            None,
            format!(
                "the server is busy ({} requests waiting or running); retry shortly",
                state.engine.capacity()
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let id = format!(
        "chatcmpl-{}-{}",
        now(),
        state.next_id.fetch_add(1, Ordering::Relaxed)
    );
    // The first event decides the status: a request that does not fit the
    // context is refused with 400 before any stream starts.
    let first = events.recv().await;
    if let Some(Event::Refused(message)) = first {
        return refused(message);
    }
    if wire.stream {
        stream(id, model, first, events, wire.include_usage()).into_response()
    } else {
        whole(id, model, first, events, wire.offers_tools()).await
    }
}

/// OpenAI's answer to messages beyond the context window.
fn refused(message: String) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            message,
            kind: "invalid_request_error",
            param: Some("messages"),
            code: Some("context_length_exceeded"),
        },
    };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// The completion once generated; with `tools`, a reply that calls one comes
/// back as `tool_calls`.
async fn whole(
    id: String,
    model: String,
    first: Option<Event>,
    mut events: UnboundedReceiver<Event>,
    tools: bool,
) -> Response {
    let mut text = String::new();
    let mut lookups = Vec::new();
    let mut next = first;
    while let Some(event) = next {
        match event {
            Event::Lookup(step) => lookups.push(step),
            Event::Text(piece) => text.push_str(&piece),
            Event::Finished(usage) => {
                let (content, tool_calls) = match tools {
                    true => tool_calls::reply(&text, &id),
                    false => (Some(text), None),
                };
                let finish = match tool_calls {
                    Some(_) => TOOL_CALLS,
                    None => finish_reason(usage.finish_reason),
                };
                return Json(ChatCompletion {
                    choices: vec![Choice {
                        index: 0,
                        message: AssistantMessage {
                            role: "assistant",
                            content,
                            tool_calls,
                            f1_lookups: lookups,
                        },
                        finish_reason: finish,
                    }],
                    id,
                    object: "chat.completion",
                    created: now(),
                    model,
                    usage: WireUsage::from(&usage),
                    timings: Timings::from(&usage),
                })
                .into_response();
            }
            Event::Failed(message) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    None,
                    message,
                )
            }
            Event::Refused(message) => return refused(message),
        }
        next = events.recv().await;
    }
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        None,
        "the generation worker stopped".into(),
    )
}

/// Relays the worker's events as OpenAI chunks; when the client disconnects the
/// relay stops, which drops the worker's channel and cancels the generation.
fn stream(
    id: String,
    model: String,
    first: Option<Event>,
    mut events: UnboundedReceiver<Event>,
    include_usage: bool,
) -> impl IntoResponse {
    let (sender, receiver) = channel::<Result<SseEvent, Infallible>>(64);
    tokio::spawn(async move {
        let created = now();
        let chunk = |delta: Delta, finish: Option<&'static str>, usage: Option<&Usage>| {
            let body = ChatCompletionChunk {
                id: id.clone(),
                object: "chat.completion.chunk",
                created,
                model: model.clone(),
                choices: if usage.is_some() {
                    Vec::new()
                } else {
                    vec![ChunkChoice {
                        index: 0,
                        delta,
                        finish_reason: finish,
                    }]
                },
                usage: usage.map(WireUsage::from),
                timings: usage.map(Timings::from),
                f1_lookup: None,
            };
            Ok(SseEvent::default().data(serde_json::to_string(&body).expect("serializable")))
        };
        let lookup = |step: ToolStep| {
            let body = ChatCompletionChunk {
                id: id.clone(),
                object: "chat.completion.chunk",
                created,
                model: model.clone(),
                choices: Vec::new(),
                usage: None,
                timings: None,
                f1_lookup: Some(step),
            };
            Ok(SseEvent::default().data(serde_json::to_string(&body).expect("serializable")))
        };
        let opening = Delta {
            role: Some("assistant"),
            content: Some(String::new()),
        };
        if sender.send(chunk(opening, None, None)).await.is_err() {
            return;
        }
        let mut next = first;
        while let Some(event) = next {
            let outgoing = match event {
                Event::Lookup(step) => vec![lookup(step)],
                Event::Text(piece) => vec![chunk(
                    Delta {
                        content: Some(piece),
                        ..Delta::default()
                    },
                    None,
                    None,
                )],
                Event::Finished(usage) => {
                    let mut last = vec![chunk(
                        Delta::default(),
                        Some(finish_reason(usage.finish_reason)),
                        None,
                    )];
                    if include_usage {
                        last.push(chunk(Delta::default(), None, Some(&usage)));
                    }
                    last.push(Ok(SseEvent::default().data("[DONE]")));
                    last
                }
                Event::Failed(message) | Event::Refused(message) => {
                    let body = ErrorBody {
                        error: ErrorDetail {
                            message,
                            kind: "server_error",
                            param: None,
                            code: None,
                        },
                    };
                    vec![Ok(SseEvent::default()
                        .data(serde_json::to_string(&body).expect("serializable")))]
                }
            };
            for event in outgoing {
                if sender.send(event).await.is_err() {
                    return;
                }
            }
            next = events.recv().await;
        }
    });
    Sse::new(ReceiverStream::new(receiver)).keep_alive(KeepAlive::default())
}
