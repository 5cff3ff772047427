//! `f1ai models fetch org/name` against a real HTTP server on 127.0.0.1 that
//! speaks the Hugging Face hub's protocol (repository info, `resolve` with byte
//! ranges, etags, the commit header), then the id used offline.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common::{stderr, stdout, tiny_model};
use sha2::{Digest, Sha256};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Repositories by id: file name to contents.
type Repos = Arc<BTreeMap<String, BTreeMap<String, Vec<u8>>>>;

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn info(
    State(repos): State<Repos>,
    UrlPath((org, name, _revision)): UrlPath<(String, String, String)>,
) -> Response {
    match repos.get(&format!("{org}/{name}")) {
        Some(files) => Json(serde_json::json!({
            "sha": COMMIT,
            "siblings": files.keys().map(|f| serde_json::json!({"rfilename": f})).collect::<Vec<_>>(),
        }))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A file with the hub's headers: LFS files (weights) carry their sha256 as
/// `x-linked-etag`, others a shorter etag; `corrupt/` repositories lie about it.
async fn resolve(
    State(repos): State<Repos>,
    UrlPath((org, name, _revision, file)): UrlPath<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(bytes) = repos
        .get(&format!("{org}/{name}"))
        .and_then(|r| r.get(&file))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let start: usize = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.split('-').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let end = match headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('-').nth(1))
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(end) => end.min(bytes.len() - 1),
        None => bytes.len() - 1,
    };
    let mut etag = sha256(bytes);
    if name.starts_with("corrupt") {
        etag = sha256(b"something else");
    }
    let etag_header = if file.ends_with(".safetensors") {
        "x-linked-etag"
    } else {
        etag.truncate(40);
        "etag"
    };
    (
        StatusCode::PARTIAL_CONTENT,
        [
            (etag_header.to_string(), format!("\"{etag}\"")),
            ("x-repo-commit".to_string(), COMMIT.to_string()),
            (
                "content-range".to_string(),
                format!("bytes {start}-{end}/{}", bytes.len()),
            ),
        ],
        bytes[start..=end].to_vec(),
    )
        .into_response()
}

/// Serves `repos` on 127.0.0.1 from a background thread; returns the endpoint.
fn serve(repos: Repos) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let app = Router::new()
                .route("/api/models/{org}/{name}/revision/{revision}", get(info))
                .route("/{org}/{name}/resolve/{revision}/{*file}", get(resolve))
                .with_state(repos);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{address}")
}

fn f1ai(workspace: &Path, endpoint: &str, hf_home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_f1ai"))
        .arg("--workspace")
        .arg(workspace)
        .args(args)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", hf_home)
        .env_remove("HF_TOKEN")
        .output()
        .unwrap()
}

fn folder_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn a_hub_model_downloads_once_verified_and_then_works_offline() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let hf_home = dir.join("hf-home");
    let model = tiny_model(dir, "smollm2");
    let source = dir.join("source");
    common::export_hugging_face(dir, &model, &source);
    let mut files = folder_files(&source);
    let expected = files.clone();
    files.insert("README.md".into(), b"# tiny\n".to_vec());
    files.insert("onnx/model.onnx".into(), vec![0; 64]);
    let mut repos = BTreeMap::new();
    repos.insert("test-org/tiny".to_string(), files.clone());
    repos.insert("test-org/corrupt-tiny".to_string(), files);
    let endpoint = serve(Arc::new(repos));
    let offline = "http://127.0.0.1:1";

    let output = f1ai(
        dir,
        &endpoint,
        &hf_home,
        &["models", "fetch", "test-org/tiny"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("downloaded from the Hugging Face hub"),
        "{}",
        stdout(&output)
    );
    let folder = PathBuf::from(
        stdout(&output)
            .split_once(": ")
            .unwrap()
            .1
            .split(" (")
            .next()
            .unwrap(),
    );
    assert!(folder.starts_with(hf_home.join("hub/models--test-org--tiny/snapshots")));
    assert_eq!(
        folder_files(&folder),
        expected,
        "the model files, byte for byte, and nothing else"
    );

    // Fetched once, the id needs no network: fetch again, train, merge.
    let output = f1ai(
        dir,
        offline,
        &hf_home,
        &["models", "fetch", "test-org/tiny"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("already in the hub cache"));
    let output = f1ai(dir, offline, &hf_home, &["models", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(&format!("test-org/tiny  hub cache: {}", folder.display())),
        "{}",
        stdout(&output)
    );
    std::fs::create_dir_all(dir.join("data/curated")).unwrap();
    let conversation = serde_json::json!({"messages": [
        {"role": "user", "content": "Who won the 1988 title?"},
        {"role": "assistant", "content": "Ayrton Senna."},
    ]});
    for split in ["train", "val"] {
        std::fs::write(
            dir.join(format!("data/curated/{split}.jsonl")),
            format!("{conversation}\n{conversation}\n"),
        )
        .unwrap();
    }
    let config = dir.join("hub.yaml");
    std::fs::write(
        &config,
        "run_name: hub-lora\nmodel: test-org/tiny\nmethod: lora\nlora: {r: 2, alpha: 4}\n\
         training: {max_steps: 2, batch_size: 2, eval_every: 0}\n",
    )
    .unwrap();
    let output = f1ai(
        dir,
        offline,
        &hf_home,
        &["train", "--config", config.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let adapter = dir.join("models/artifacts/hub-lora");
    let adapter_config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(adapter.join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(adapter_config["base_model_name_or_path"], "test-org/tiny");
    let merged = dir.join("merged");
    let output = f1ai(
        dir,
        offline,
        &hf_home,
        &[
            "merge",
            "--adapter",
            adapter.to_str().unwrap(),
            "--out",
            merged.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(merged.join("model.safetensors").is_file());

    // What goes wrong says what it is.
    let fails = |endpoint: &str, args: &[&str], message: &str| {
        let output = f1ai(dir, endpoint, &hf_home, args);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(stderr(&output).contains(message), "{}", stderr(&output));
    };
    fails(
        &endpoint,
        &["models", "fetch", "test-org/missing"],
        "hub model 'test-org/missing': no such model on the hub, or it is gated",
    );
    fails(
        &endpoint,
        &["models", "fetch", "test-org/corrupt-tiny"],
        "model.safetensors: sha256 is",
    );
    let blob = hf_home
        .join("hub/models--test-org--corrupt-tiny/blobs")
        .join(sha256(b"something else"));
    assert!(
        !blob.exists(),
        "a weight file that fails its sha256 is not kept"
    );
    fails(
        offline,
        &["models", "fetch", "other/model"],
        "cannot reach the Hugging Face hub at http://127.0.0.1:1",
    );
    std::fs::write(
        &config,
        "run_name: nowhere\nmodel: nobody/none\nmethod: lora\ntraining: {max_steps: 1}\n",
    )
    .unwrap();
    fails(
        offline,
        &["train", "--config", config.to_str().unwrap()],
        "run `f1ai models fetch nobody/none` (needs network)",
    );
}
