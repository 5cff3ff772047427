//! `f1ai serve`: the OpenAI-compatible API and the web chat page.

use anyhow::{Context, Result};
use f1_serve::catalog::{Catalog, ModelSource};
use f1_serve::engine::{Engine, Limits};
use f1_serve::server::{self, ServeOptions};

use crate::cli::ServeArgs;
use crate::workspace::Workspace;

pub fn run(args: ServeArgs, workspace: &Workspace) -> Result<()> {
    let sources = crate::catalog::sources(
        workspace,
        &args.choice.models,
        args.choice.adapter.as_deref(),
    )?;
    let mut catalog =
        Catalog::new(sources, args.choice.device.open()?)?.with_precision(args.precision.get());
    catalog.load_all()?;
    let database = workspace.database();
    let toolbox = match (args.no_tools, database.is_file()) {
        (false, true) => Some(
            f1_tools::Toolbox::open(&database)
                .with_context(|| format!("opening {} for the tools", database.display()))?,
        ),
        (false, false) => {
            tracing::warn!(
                database = %database.display(),
                "no knowledge base: answers without the built-in tools (run `f1ai data import`)"
            );
            None
        }
        (true, _) => None,
    };
    let tools = toolbox.is_some();
    let limits = Limits {
        max_prompt_tokens: args.max_prompt_tokens,
        max_seconds: args.max_request_seconds,
    };
    let engine = Engine::start(catalog, args.queue, args.parallel as usize, toolbox, limits);
    let options = ServeOptions {
        api_key: args.api_key.filter(|k| !k.is_empty()),
        max_body_bytes: args.max_body_bytes,
        max_tokens: args.max_tokens,
    };
    let loopback = args.host == "127.0.0.1" || args.host == "localhost" || args.host == "::1";
    if !loopback && options.api_key.is_none() {
        tracing::warn!(
            host = args.host,
            "serving beyond this machine without an API key"
        );
    }
    let models = engine.models().join(", ");
    let app = server::router(engine, options);
    tokio::runtime::Runtime::new()?.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("binding {}:{}", args.host, args.port))?;
        let address = listener.local_addr()?;
        let grounding = match tools {
            true => "; answers look facts up through the built-in F1 tools",
            false => "",
        };
        println!("serving {models} on http://{address} (web chat at /, API at /v1){grounding}");
        server::serve(listener, app).await?;
        Ok(())
    })
}

/// Serves `sources` on a free loopback port from a background thread, on the
/// CPU (for the load test and a local judge), held in `precision`, `parallel`
/// requests decoded together; returns the server's root URL.
pub fn spawn_local(
    sources: Vec<ModelSource>,
    (parallel, precision): (usize, f1_model::model::Precision),
    options: ServeOptions,
) -> Result<String> {
    let mut catalog = Catalog::new(sources, candle_core::Device::Cpu)?.with_precision(precision);
    catalog.load_all()?;
    let app = server::router(
        Engine::start(catalog, parallel + 8, parallel, None, Limits::default()),
        options,
    );
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}", listener.local_addr()?);
    std::thread::Builder::new()
        .name("local-server".into())
        .spawn(move || {
            let served = tokio::runtime::Runtime::new().and_then(|runtime| {
                runtime.block_on(async {
                    server::serve(tokio::net::TcpListener::from_std(listener)?, app).await
                })
            });
            if let Err(error) = served {
                tracing::error!(%error, "the local server stopped");
            }
        })?;
    Ok(url)
}
