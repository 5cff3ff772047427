//! `f1ai bench ...`: measured speed, printed as a table and written as JSON.

use std::time::Instant;

use anyhow::{ensure, Context, Result};
use serde_json::json;

use crate::cli::{BenchCommand, BenchImportArgs, BenchInferArgs, BenchServeArgs, BenchTrainArgs};
use crate::workspace::Workspace;

pub fn run(command: BenchCommand, workspace: &Workspace) -> Result<()> {
    match command {
        BenchCommand::Import(args) => import(args, workspace),
        BenchCommand::Infer(args) => infer(args, workspace),
        BenchCommand::Train(args) => train(args, workspace),
        BenchCommand::Serve(args) => serve(args, workspace),
    }
}

fn import(args: BenchImportArgs, workspace: &Workspace) -> Result<()> {
    ensure!(args.runs > 0, "--runs must be at least 1");
    let scratch = tempfile::tempdir()?;
    let db = scratch.path().join("f1.sqlite");
    let mut rows = 0;
    let mut seconds = Vec::with_capacity(args.runs);
    for run in 0..=args.runs {
        let start = Instant::now();
        let summary = f1_data::import_ergast(&args.ergast_dir, &db)
            .with_context(|| format!("importing {}", args.ergast_dir.display()))?;
        if run > 0 {
            seconds.push(start.elapsed().as_secs_f64());
        }
        rows = summary.rows_read.iter().map(|(_, n)| n).sum::<u64>();
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    println!(
        "{:<12} {:>6} {:>10} {:>10} {:>10} {:>12}",
        "benchmark", "runs", "min s", "median s", "max s", "rows/s"
    );
    println!(
        "{:<12} {:>6} {:>10.3} {:>10.3} {:>10.3} {:>12.0}",
        "import",
        seconds.len(),
        seconds[0],
        median,
        seconds[seconds.len() - 1],
        rows as f64 / median
    );
    let report = json!({
        "benchmark": "import",
        "ergast_dir": args.ergast_dir,
        "rows": rows,
        "runs": seconds.len(),
        "seconds": seconds,
        "median_seconds": median,
        "rows_per_second": rows as f64 / median,
        "target_seconds": 30.0,
    });
    crate::output::write_json(&workspace.benchmark("import"), &report)
}

/// `-cuda0` for a GPU run, so its results sit beside the CPU's rather than over them.
fn device_suffix(device: &candle_core::Device) -> String {
    match device.is_cpu() {
        true => String::new(),
        false => format!("-{}", f1_model::device::name(device).replace(':', "")),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn infer(args: BenchInferArgs, workspace: &Workspace) -> Result<()> {
    ensure!(
        args.runs > 0 && args.prompt_tokens > 0 && args.tokens > 0,
        "runs, prompt and token counts must be positive"
    );
    let spec = f1_model::registry::find(&args.model)?;
    let path = workspace.base_model(spec.name)?;
    let tokenizer = f1_model::Tokenizer::from_gguf(&path)?;
    let device = args.device.open()?;
    let precision = args.precision.get();
    let metadata = f1_model::gguf::GgufMetadata::read(&path)?;
    let mut model = f1_model::model::GgufModel::from_metadata(&metadata, &device, precision)?;
    // What multiplies: int8 falls back to llama.cpp's kernels on a CPU without VNNI.
    let precision_name = match model.precision() {
        f1_model::model::Precision::Native => "native",
        f1_model::model::Precision::Int8 => "int8",
        f1_model::model::Precision::F32 => "f32",
    };
    let sentence =
        "Max Verstappen won the 2021 Abu Dhabi Grand Prix for Red Bull after a late safety car. ";
    let mut prompt = tokenizer.encode_with_bos(&sentence.repeat(args.prompt_tokens / 8 + 1))?;
    prompt.truncate(args.prompt_tokens);
    let batch = args.batch as usize;
    let prompts = prompt.repeat(batch);
    let greedy = |logits: &[f32]| {
        (0..logits.len())
            .max_by(|a, b| logits[*a].total_cmp(&logits[*b]))
            .unwrap_or(0) as u32
    };
    let (mut prompt_rates, mut decode_rates) = (Vec::new(), Vec::new());
    for run in 0..=args.runs {
        let start = Instant::now();
        let mut logits = model.forward_batch(&prompts, batch, 0, &[])?;
        let prompt_seconds = start.elapsed().as_secs_f64();
        let start = Instant::now();
        for i in 0..args.tokens {
            let next: Vec<u32> = logits.iter().map(|row| greedy(row)).collect();
            logits = model.forward_batch(&next, batch, prompt.len() + i, &[])?;
        }
        let decode_seconds = start.elapsed().as_secs_f64();
        if run > 0 {
            prompt_rates.push((batch * prompt.len()) as f64 / prompt_seconds);
            decode_rates.push((batch * args.tokens) as f64 / decode_seconds);
        }
    }
    let (pp, tg) = (median(prompt_rates.clone()), median(decode_rates.clone()));
    println!(
        "{:<10} {:<7} {:<9} {:>6} {:>8} {:>8} {:>6} {:>14} {:>14}",
        "model",
        "device",
        "precision",
        "batch",
        "prompt",
        "decode",
        "runs",
        "prompt tok/s",
        "decode tok/s"
    );
    println!(
        "{:<10} {:<7} {:<9} {:>6} {:>8} {:>8} {:>6} {:>14.1} {:>14.1}",
        spec.name,
        f1_model::device::name(&device),
        precision_name,
        batch,
        prompt.len(),
        args.tokens,
        args.runs,
        pp,
        tg
    );
    let report = json!({
        "benchmark": "infer",
        "model": spec.name,
        "file": spec.file,
        "device": f1_model::device::name(&device),
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "batch": batch,
        "precision": precision_name,
        "prompt_tokens": prompt.len(),
        "decode_tokens": args.tokens,
        "prompt_tokens_per_second": prompt_rates,
        "decode_tokens_per_second": decode_rates,
        "median_prompt_tokens_per_second": pp,
        "median_decode_tokens_per_second": tg,
    });
    crate::output::write_json(
        &workspace.benchmark(&format!(
            "infer-{}{}{}",
            spec.name,
            device_suffix(&device),
            match batch {
                1 => String::new(),
                n => format!("-b{n}"),
            }
        )),
        &report,
    )
}

fn train(args: BenchTrainArgs, workspace: &Workspace) -> Result<()> {
    ensure!(
        args.batch > 0 && args.seq > 1 && args.steps > 0,
        "--batch, --steps must be positive and --seq at least 2"
    );
    let method: f1_train::Method = args
        .method
        .parse()
        .map_err(|e| anyhow::anyhow!("--method: {e}"))?;
    let spec = f1_model::registry::find(&args.model)?;
    let path = workspace.base_model(spec.name)?;
    let device = args.device.open()?;
    if args.packing {
        return train_packing(&args, method, &path, workspace, &device);
    }
    let result = f1_train::bench::bench_train(
        &path,
        method,
        args.batch,
        args.seq,
        args.steps,
        &device,
        args.precision(),
    )?;
    println!(
        "{:<10} {:<6} {:<9} {:<7} {:>6} {:>5} {:>12} {:>10} {:>10} {:>14}",
        "model",
        "method",
        "precision",
        "device",
        "batch",
        "seq",
        "trainable",
        "s/step",
        "tokens/s",
        "peak RSS MiB"
    );
    println!(
        "{:<10} {:<6} {:<9} {:<7} {:>6} {:>5} {:>12} {:>10.2} {:>10.1} {:>14.0}",
        spec.name,
        args.method,
        args.precision,
        result.device,
        args.batch,
        args.seq,
        result.trainable_parameters,
        result.mean_seconds_per_step,
        result.tokens_per_second,
        result.peak_rss_mib
    );
    let mut report = serde_json::to_value(&result)?;
    report["benchmark"] = json!("train");
    report["model"] = json!(spec.name);
    report["threads"] = json!(std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1));
    crate::output::write_json(
        &workspace.benchmark(&format!(
            "train-{}-{}{}{}",
            spec.name,
            args.method,
            match args.precision() {
                f1_model::transformer::ProductPrecision::Bf16 => "-bf16",
                f1_model::transformer::ProductPrecision::F32 => "",
            },
            device_suffix(&device)
        )),
        &report,
    )
}

/// `bench train --packing`: padded against packed rows on real conversations.
fn train_packing(
    args: &BenchTrainArgs,
    method: f1_train::Method,
    model: &std::path::Path,
    workspace: &Workspace,
    device: &candle_core::Device,
) -> Result<()> {
    let data = workspace.root().join(&args.data);
    ensure!(
        data.exists(),
        "{} does not exist: run `f1ai data build` first or pass --data",
        data.display()
    );
    let result = f1_train::bench::bench_packing(
        model, method, &data, args.batch, args.seq, args.steps, device,
    )?;
    println!(
        "{:<10} {:<6} {:>6} {:>6} {:>8} {:>12} {:>12} {:>10} {:>14}",
        "model",
        "method",
        "layout",
        "batch",
        "seq",
        "real tokens",
        "computed",
        "seconds",
        "real tokens/s"
    );
    for layout in [&result.padded, &result.packed] {
        println!(
            "{:<10} {:<6} {:>6} {:>6} {:>8} {:>12} {:>12} {:>10.2} {:>14.1}",
            args.model,
            args.method,
            if layout.packing { "packed" } else { "padded" },
            args.batch,
            args.seq,
            layout.real_tokens,
            layout.computed_tokens,
            layout.seconds,
            layout.real_tokens_per_second
        );
    }
    println!("packed / padded: {:.2}x", result.speedup);
    let mut report = serde_json::to_value(&result)?;
    report["benchmark"] = json!("train-packing");
    report["model"] = json!(args.model);
    report["data"] = json!(data);
    crate::output::write_json(
        &workspace.benchmark(&format!(
            "train-packing-{}-{}{}",
            args.model,
            args.method,
            device_suffix(device)
        )),
        &report,
    )
}

/// Serves the model in this process on a free loopback port (or measures the
/// server at `--url`), warms it with a cold round of the most streams, and runs
/// a round of streaming clients for each `--streams` count, then one beside a
/// long prompt.
fn serve(args: BenchServeArgs, workspace: &Workspace) -> Result<()> {
    use f1_serve::load::{self, LongPrompt};
    use f1_serve::server::ServeOptions;

    ensure!(
        args.streams.iter().all(|&n| n > 0),
        "--streams must be at least 1"
    );
    let most = args.streams.iter().copied().max().unwrap_or(1);
    let sources = crate::catalog::sources(workspace, std::slice::from_ref(&args.model), None)?;
    let source = sources[0].clone();
    let url = match &args.url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let options = ServeOptions {
                max_tokens: args.max_tokens,
                ..ServeOptions::default()
            };
            super::serve::spawn_local(sources, (most + 1, args.precision.get()), options)?
        }
    };
    let long_prompt = match args.long_prompt_tokens {
        0 => None,
        tokens => Some(LongPrompt {
            text: long_text(&source.weights, tokens)?,
            max_tokens: args.max_tokens.min(16),
        }),
    };
    let round = |clients: usize, long_prompt: Option<LongPrompt>| {
        // Each round asks its own questions, none in a server's prompt cache.
        let beside = if long_prompt.is_some() { " + long" } else { "" };
        load::LoadTest {
            url: url.clone(),
            model: source.id.clone(),
            clients,
            requests: usize::from(args.requests),
            max_tokens: args.max_tokens,
            api_key: None,
            question: format!("Who won the 2021 Abu Dhabi Grand Prix? [{clients}{beside}]"),
            ignore_eos: args.ignore_eos,
            timeout: std::time::Duration::from_secs(600),
            long_prompt,
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    // A first round of the most streams loads the model and brings in the
    // memory of that many KV caches (llama-server allocates its slots' at
    // start); it asks something else, so that no server answers the measured
    // rounds from its prompt cache, and is reported as the cold round.
    let warm_up = load::LoadTest {
        question: format!("Name a Formula 1 circuit. [{most}]"),
        requests: 1,
        ..round(most, None)
    };
    let cold = runtime.block_on(load::run(&warm_up))?;
    let mut rounds: Vec<(String, load::LoadReport)> = Vec::new();
    for &clients in &args.streams {
        let report = runtime.block_on(load::run(&round(clients, None)))?;
        rounds.push((clients.to_string(), report));
    }
    if let Some(long) = long_prompt {
        let report = runtime.block_on(load::run(&round(most, Some(long))))?;
        rounds.push((format!("{most} + long"), report));
    }
    if args.requests > 1 {
        println!(
            "each stream sends {} requests, one after another",
            args.requests
        );
    }
    println!(
        "{:<12} {:<10} {:>9} {:>7} {:>10} {:>24} {:>16}",
        "server",
        "streams",
        "completed",
        "errors",
        "tokens/s",
        "first token ms p50/p95",
        "stream tok/s p50"
    );
    let cold_round = (format!("{most} cold"), cold);
    for (streams, report) in std::iter::once(&cold_round).chain(&rounds) {
        println!(
            "{:<12} {:<10} {:>9} {:>7} {:>10.1} {:>24} {:>16.1}",
            args.label,
            streams,
            report.completed,
            report.errors,
            report.tokens_per_second,
            format!(
                "{:.0}/{:.0}",
                report.first_token_ms.p50, report.first_token_ms.p95
            ),
            report.stream_tokens_per_second.p50
        );
        if let Some(long) = &report.long_prompt {
            println!(
                "{:<12} {:<10} long prompt of ~{} tokens: first token after {:.0} ms",
                args.label, streams, args.long_prompt_tokens, long.first_token_ms
            );
        }
        for sample in &report.error_samples {
            eprintln!("error: {sample}");
        }
    }
    let json = json!({
        "benchmark": "serve",
        "server": args.label,
        "url": args.url,
        "precision": args.url.is_none().then_some(&args.precision.precision),
        "model": source.id,
        "max_tokens": args.max_tokens,
        "long_prompt_tokens": args.long_prompt_tokens,
        "ignore_eos": args.ignore_eos,
        "requests_per_stream": args.requests,
        "cold": {"streams": most, "report": &cold_round.1},
        "rounds": rounds
            .iter()
            .map(|(streams, report)| json!({"streams": streams, "report": report}))
            .collect::<Vec<_>>(),
    });
    let name = format!("serve-{}", args.label);
    crate::output::write_json(&workspace.benchmark(&name), &json)?;
    let errors: usize = rounds.iter().map(|(_, r)| r.errors).sum::<usize>() + cold_round.1.errors;
    ensure!(errors == 0, "{errors} requests failed");
    Ok(())
}

/// A user message of about `tokens` tokens of the model's tokenizer: a race
/// report's sentence, repeated.
fn long_text(weights: &std::path::Path, tokens: usize) -> Result<String> {
    let tokenizer = match weights.is_dir() {
        true => f1_model::Tokenizer::from_hugging_face(weights)?,
        false => f1_model::Tokenizer::from_gguf(weights)?,
    };
    let sentence = "Max Verstappen won the 2021 Abu Dhabi Grand Prix for Red Bull after a \
                    late safety car, ahead of Lewis Hamilton and Carlos Sainz. ";
    let per_sentence = tokenizer.encode(sentence)?.len().max(1);
    // The chat template adds a few dozen tokens around the message.
    Ok(sentence.repeat(tokens.saturating_sub(40) / per_sentence))
}
