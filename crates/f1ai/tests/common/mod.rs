//! Running the real `f1ai` binary on real data, as a user does.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn ergast_dir() -> PathBuf {
    let dir = std::env::var_os("F1AI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("ergast");
    assert!(
        dir.join("races.csv").is_file(),
        "no Ergast data at {}",
        dir.display()
    );
    dir
}

/// A tiny random-weight model with `name`'s architecture, tokenizer and template.
pub fn tiny_model(dir: &Path, name: &str) -> PathBuf {
    let cache = f1_model::fetch::default_cache_dir().unwrap();
    let spec = f1_model::registry::find(name).unwrap();
    let real = f1_model::fetch::ensure(spec, &cache, None).unwrap();
    let source = f1_model::gguf::GgufMetadata::read(real.path()).unwrap();
    let path = dir.join(format!("tiny-{name}.gguf"));
    f1_model::gguf_write::write_tiny_random(
        &source,
        f1_model::gguf_write::TinyShape::default(),
        21,
        &path,
    )
    .unwrap();
    path
}

/// `f1ai models export MODEL --out OUT`, which must succeed; its output.
pub fn export_hugging_face(workspace: &Path, model: &Path, out: &Path) -> Output {
    let output = f1ai(
        workspace,
        &[
            "models",
            "export",
            model.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

pub fn f1ai(workspace: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_f1ai"))
        .arg("--workspace")
        .arg(workspace)
        .args(args)
        .env_remove("F1AI_ERGAST_DIR")
        .env_remove("F1AI_F1DB_DIR")
        .output()
        .unwrap()
}

/// A workspace with the real Ergast tables imported.
pub fn imported_workspace() -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    let ergast = ergast_dir();
    let output = f1ai(
        work.path(),
        &["data", "import", "--ergast-dir", ergast.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    work
}

/// Runs `f1ai` expecting exit `code` and `message` on stderr.
pub fn fails_with(workspace: &Path, args: &[&str], code: i32, message: &str) {
    let output = f1ai(workspace, args);
    assert_eq!(output.status.code(), Some(code), "{}", stderr(&output));
    assert!(stderr(&output).contains(message), "{}", stderr(&output));
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A workspace with the real tables imported and the dataset built with the
/// repository's configuration.
pub fn curated_workspace() -> tempfile::TempDir {
    curated_workspace_with("config/data_config.yaml")
}

/// A workspace with the real tables imported and the dataset built with the
/// repository's data configuration at `config` (relative to the repository).
pub fn curated_workspace_with(config: &str) -> tempfile::TempDir {
    let work = imported_workspace();
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(config);
    let output = f1ai(
        work.path(),
        &["data", "build", "--config", config.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    work
}

/// A running `f1ai serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    /// Its root URL, as it printed it.
    pub url: String,
    /// The line it printed on starting.
    pub banner: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `f1ai serve ARGS` on a free loopback port, with `api_key` in its environment.
pub fn serve(workspace: &Path, args: &[&str], api_key: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_f1ai"))
        .arg("--workspace")
        .arg(workspace)
        .args(["serve", "--port", "0"])
        .args(args)
        .env("F1AI_API_KEY", api_key)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Server {
        child,
        url,
        banner: line,
    }
}

/// `f1ai chat ARGS` with `input` typed in; its transcript.
pub fn chat(workspace: &Path, args: &[&str], input: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_f1ai"))
        .arg("--workspace")
        .arg(workspace)
        .arg("chat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}
