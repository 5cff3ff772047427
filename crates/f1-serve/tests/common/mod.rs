//! The tiny served model and the requests the API tests send it.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::time::Duration;

use f1_model::gguf::GgufMetadata;
use f1_model::gguf_write::{write_tiny_random, TinyShape};
use f1_serve::catalog::{Catalog, ModelSource};
use f1_serve::engine::{Engine, Limits};
use f1_serve::server::{self, ServeOptions};
use serde_json::{json, Value};

pub fn tiny_model(dir: &Path) -> PathBuf {
    let cache = f1_model::fetch::default_cache_dir().expect("HOME or F1AI_MODEL_CACHE is set");
    let spec = f1_model::registry::find("smollm2").unwrap();
    let real = f1_model::fetch::ensure(spec, &cache, None).expect("fetching smollm2");
    let path = dir.join("tiny.gguf");
    let source = GgufMetadata::read(real.path()).unwrap();
    write_tiny_random(&source, TinyShape::default(), 7, &path).unwrap();
    path
}

/// Serves the tiny model as "tiny" and returns the base URL.
pub async fn start(dir: &Path, capacity: usize, options: ServeOptions) -> String {
    start_with(dir, capacity, options, None, Limits::default()).await
}

/// [`start`], with the built-in F1 tools when `toolbox` is given.
pub async fn start_with(
    dir: &Path,
    capacity: usize,
    options: ServeOptions,
    toolbox: Option<f1_tools::Toolbox>,
    limits: Limits,
) -> String {
    let source = ModelSource {
        id: "tiny".into(),
        weights: tiny_model(dir),
        adapter: None,
    };
    let engine = Engine::start(
        Catalog::new(vec![source], candle_core::Device::Cpu).unwrap(),
        capacity,
        4,
        toolbox,
        limits,
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::serve(listener, server::router(engine, options)));
    url
}

pub fn ask(max_tokens: usize, stream: bool) -> Value {
    json!({
        "model": "tiny",
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Who won the 1988 title?"}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
        "stream_options": {"include_usage": true},
    })
}

pub async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// POSTs `body` to the server's chat completions.
pub async fn complete(http: &reqwest::Client, url: &str, body: &Value) -> reqwest::Response {
    http.post(format!("{url}/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Whether `/health` reports no request in flight within five seconds.
pub async fn becomes_idle(http: &reqwest::Client, url: &str) -> bool {
    for _ in 0..100 {
        let health: Value = get_json(http, format!("{url}/health")).await;
        if health["in_flight"] == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
