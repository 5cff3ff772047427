//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use f1_data::jolpica::Resource;

/// Turn Formula 1 data into a conversational model and measure what fine-tuning bought.
#[derive(Debug, Parser)]
#[command(name = "f1ai", version, about)]
pub struct Cli {
    /// Root folder holding data/, models/ and results/.
    #[arg(long, global = true, default_value = ".", env = "F1AI_WORKSPACE")]
    pub workspace: PathBuf,
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Phase 1: the F1 knowledge base.
    #[command(subcommand)]
    Data(DataCommand),
    /// Phase 2: the pretrained models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Phase 2: a pretrained model answers the test questions.
    Baseline(BaselineArgs),
    /// Phase 2: which test facts a pretrained model already knows (few-shot
    /// greedy and sampled answers, as SliCK): results/metrics/knowledge-<model>.json.
    Knowledge(KnowledgeArgs),
    /// Phase 3: fine-tune a model (LoRA or full) as a YAML configuration says.
    Train(TrainArgs),
    /// Phase 3: fold a LoRA adapter into its base model (safetensors and GGUF).
    Merge(MergeArgs),
    /// Phase 4: score every predictions file with confidence intervals.
    Eval(EvalArgs),
    /// Phase 5: charts, findings and the HTML/Markdown report from the results.
    Report(ReportArgs),
    /// Phase 5: talk to a model in the terminal (streamed, /reset, /model).
    Chat(ChatArgs),
    /// Phase 5: OpenAI-compatible API and web chat page.
    Serve(ServeArgs),
    /// The whole study: data, baselines, training, eval and report; unchanged
    /// stages are skipped and an interrupted training run resumes.
    Run(RunArgs),
    /// Benchmarks: print a table and write JSON under results/benchmarks/.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// quick, standard or full (config/profiles/<name>.yaml), or a profile's YAML path.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Run every stage even when its inputs are unchanged.
    #[arg(long)]
    pub force: bool,
    /// Print each stage's command line, checking that it parses, and run
    /// nothing (the profile's models are still fetched).
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Where report.html and report.md go (default: results/reports/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where the SVG and PNG charts go (default: results/visualizations/).
    #[arg(long)]
    pub charts: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ModelChoice {
    /// A model to offer: smollm2, gemma3, a run in models/artifacts/ (LoRA or full),
    /// a GGUF path, an artifact folder, a Hugging Face folder or a fetched hub
    /// model id; repeat for several (default: smollm2 and every run in
    /// models/artifacts/).
    #[arg(long = "model")]
    pub models: Vec<String>,
    /// A LoRA adapter folder (PEFT format) on top of the first model, offered too.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArg,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub choice: ModelChoice,
    /// Ground each answer in the knowledge base and show the facts used.
    #[arg(long, conflicts_with = "tools")]
    pub rag: bool,
    /// Let the model look facts up with the knowledge base's tools (a model
    /// fine-tuned on the tool conversations); each call and result is shown.
    #[arg(long)]
    pub tools: bool,
    /// Facts retrieved per question with --rag.
    #[arg(long, default_value_t = 5)]
    pub facts: usize,
    /// 0 answers greedily.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub precision: ServingPrecisionArg,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub choice: ModelChoice,
    #[command(flatten)]
    pub precision: ServingPrecisionArg,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// 0 picks a free port (printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Require `Authorization: Bearer <key>` on /v1/*.
    #[arg(long, env = "F1AI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The most tokens one completion may ask for (and the default).
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// Larger request bodies get 413.
    #[arg(long, default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,
    /// Requests waiting or running at once; more get 503.
    #[arg(long, default_value_t = 128)]
    pub queue: usize,
    /// Requests decoded together (continuous batching: one token of each per
    /// step, each with its own KV cache); the rest wait in the queue.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub parallel: u64,
    /// Refuse prompts longer than this many tokens (400) [default: as long as
    /// the model's context allows with max_tokens].
    #[arg(long)]
    pub max_prompt_tokens: Option<usize>,
    /// Stop a generation after this many seconds (finish reason `length`).
    #[arg(long)]
    pub max_request_seconds: Option<f64>,
    /// Do not answer through the built-in F1 tools (by default requests that
    /// bring no tools of their own, the web chat's included, look facts up in
    /// the workspace's knowledge base when it exists).
    #[arg(long)]
    pub no_tools: bool,
}

/// Where a model runs.
#[derive(Debug, Args)]
pub struct DeviceArg {
    /// cpu, cuda or cuda:N (cuda needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu", env = "F1AI_DEVICE")]
    pub device: String,
}

impl DeviceArg {
    /// The device, or why it cannot be used.
    pub fn open(&self) -> anyhow::Result<candle_core::Device> {
        Ok(f1_model::device::parse(&self.device)?)
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training configuration (YAML), e.g. config/lora_config.yaml.
    #[arg(long)]
    pub config: PathBuf,
    /// Continue the run from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this step and its checkpoint, as an interruption would
    /// (for time-boxed sessions; continue with --resume).
    #[arg(long, value_name = "STEP")]
    pub stop_after_step: Option<usize>,
    #[command(flatten)]
    pub device: DeviceArg,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The adapter folder (PEFT format), e.g. models/artifacts/smollm2-lora.
    #[arg(long)]
    pub adapter: PathBuf,
    /// The base model: smollm2, gemma3, a GGUF path or a Hugging Face folder
    /// (default: the model the adapter's base_model_name_or_path names).
    #[arg(long)]
    pub model: Option<String>,
    /// Output folder (default: models/artifacts/<adapter folder>-merged).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The GGUF's weight type: f16 (default) or q8_0. A Hugging Face base's
    /// tokenizer.json must be byte-level BPE or SentencePiece written as BPE (the
    /// forms GGUF has types for): with this flag another is an error, without it
    /// the GGUF is skipped.
    #[arg(long)]
    pub gguf: Option<String>,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// smollm2 or gemma3 (fetched into models/base/ if missing), a run in
    /// models/artifacts/ (a LoRA adapter on its base, or a full run's model.gguf),
    /// a GGUF file, an artifact folder, a Hugging Face model folder or a fetched
    /// hub model id.
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// zero-shot, few-shot, rag or tools (reads data/curated/tools-<split>.jsonl);
    /// repeat for several (default: the first three).
    #[arg(long = "mode")]
    pub modes: Vec<f1_baseline::Mode>,
    /// The dataset split to answer (data/curated/<split>.jsonl).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Answer this many cases, spread evenly over the split (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Also answer the 155 hand-written fan questions (test kinds `handwritten`:
    /// 66, `blind`: 46, `sealed`: 43), `--limit` of them when it is set.
    #[arg(long)]
    pub fan_questions: bool,
    /// Few-shot: train examples shown before the question.
    #[arg(long, default_value_t = 3)]
    pub shots: usize,
    /// RAG: fact sentences retrieved into the prompt.
    #[arg(long, default_value_t = 5)]
    pub facts: usize,
    /// Most tokens generated per answer.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// Questions decoded together as one batch (1: one at a time, and each
    /// latency is that answer's own time).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// Seed of the few-shot choice.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// A LoRA adapter folder (PEFT format, e.g. models/artifacts/smollm2-lora) put
    /// on the model; predictions are then labelled `lora` instead of `base`.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    #[command(flatten)]
    pub precision: PrecisionArg,
    #[command(flatten)]
    pub device: DeviceArg,
}

/// How a generating model holds its weights (llama.cpp's kernels unless told).
#[derive(Debug, Args)]
pub struct PrecisionArg {
    /// native: as stored, with llama.cpp's kernels (its answers exactly); int8:
    /// as stored, with 8-bit integer dot products where the CPU has AVX512-VNNI
    /// (faster; within f32 rounding of native), else native; f32: dequantized,
    /// with f32 kernels (training's numbers; 4-8x the memory).
    #[arg(long, default_value = "native", value_parser = PRECISIONS)]
    pub precision: String,
}

impl PrecisionArg {
    pub fn get(&self) -> f1_model::model::Precision {
        precision(&self.precision)
    }
}

/// How a served or chatting model holds its weights (the int8 kernels unless told).
#[derive(Debug, Args)]
pub struct ServingPrecisionArg {
    /// int8: as stored, with 8-bit integer dot products where the CPU has
    /// AVX512-VNNI (faster; within f32 rounding of native), else native; native:
    /// llama.cpp's kernels (its answers exactly); f32: dequantized, f32 kernels.
    #[arg(long, default_value = "int8", value_parser = PRECISIONS)]
    pub precision: String,
}

impl ServingPrecisionArg {
    pub fn get(&self) -> f1_model::model::Precision {
        precision(&self.precision)
    }
}

const PRECISIONS: [&str; 3] = ["native", "int8", "f32"];

fn precision(name: &str) -> f1_model::model::Precision {
    match name {
        "f32" => f1_model::model::Precision::F32,
        "int8" => f1_model::model::Precision::Int8,
        _ => f1_model::model::Precision::Native,
    }
}

#[derive(Debug, Args)]
pub struct KnowledgeArgs {
    /// smollm2 or gemma3, or any model `baseline --model` takes.
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// The dataset split to probe (data/curated/<split>.jsonl).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Probe this many cases, spread evenly over the split as `baseline --limit`
    /// spreads them (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Few-shot prompts with different exemplars, each answered greedily.
    #[arg(long, default_value_t = 3)]
    pub exemplar_sets: usize,
    /// Exemplars per prompt (training examples of the question's family).
    #[arg(long, default_value_t = 4)]
    pub shots: usize,
    /// Answers sampled at --temperature from the first prompt.
    #[arg(long, default_value_t = 3)]
    pub samples: usize,
    #[arg(long, default_value_t = 0.5)]
    pub temperature: f64,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 24)]
    pub max_tokens: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub precision: PrecisionArg,
    #[command(flatten)]
    pub device: DeviceArg,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Evaluation configuration (YAML); built-in defaults when not given.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Judge through this OpenAI-compatible API root (e.g. http://127.0.0.1:8080/v1).
    #[arg(long, env = "F1AI_JUDGE_URL")]
    pub judge_url: Option<String>,
    /// The judge model's name at --judge-url.
    #[arg(long, env = "F1AI_JUDGE_MODEL")]
    pub judge_model: Option<String>,
    /// Judge with a local model (smollm2, gemma3, a run or a GGUF path), served on
    /// loopback for the duration of the evaluation.
    #[arg(long, conflicts_with = "judge_url")]
    pub judge_local: Option<String>,
    /// Also measure each model's perplexity of the test split's reference replies.
    #[arg(long)]
    pub perplexity: bool,
    /// A model for --perplexity (as `chat --model`); repeat for several (default:
    /// smollm2 and every run in models/artifacts/).
    #[arg(long = "perplexity-model", requires = "perplexity")]
    pub perplexity_models: Vec<String>,
    /// Test conversations scored for --perplexity (0: all).
    #[arg(long, default_value_t = 80)]
    pub perplexity_limit: usize,
    /// Also score multiple-choice questions by log-likelihood (acc and acc_norm,
    /// as lm-evaluation-harness scores them).
    #[arg(long)]
    pub multiple_choice: bool,
    /// The questions: JSONL of {question, choices, answer} (default:
    /// data/curated/multiple_choice-test.jsonl from `f1ai data build`).
    #[arg(long, requires = "multiple_choice")]
    pub mc_file: Option<PathBuf>,
    /// A model for --multiple-choice (as `chat --model`); repeat for several
    /// (default: smollm2 and every run in models/artifacts/).
    #[arg(long = "mc-model", requires = "multiple_choice")]
    pub mc_models: Vec<String>,
    /// Questions scored for --multiple-choice (0: all).
    #[arg(long, default_value_t = 200)]
    pub mc_limit: usize,
    /// chat: the question as a user turn in the model's template, the choice as
    /// the reply; plain: the harness's `Question: ...\nAnswer: <choice>`;
    /// continuation: the question as given, then the choice (HellaSwag).
    #[arg(long, default_value = "chat")]
    pub mc_format: f1_train::multiple_choice::ChoiceFormat,
    /// Also score general ability (ARC-Easy, ARC-Challenge, PIQA, HellaSwag in
    /// the harness's plain prompts) and each fine-tuned model's forgetting
    /// against its base model.
    #[arg(long)]
    pub general: bool,
    /// The folder of task folders (../shared/data/general-eval).
    #[arg(long, env = "F1AI_GENERAL_EVAL_DIR", requires = "general")]
    pub general_dir: Option<PathBuf>,
    /// Questions per task, a fixed sample spread over each file (0: all).
    #[arg(long, default_value_t = 200)]
    pub general_limit: usize,
    /// A task for --general; repeat for several (default: all four).
    #[arg(long = "general-task", requires = "general")]
    pub general_tasks: Vec<String>,
    /// A model for --general (as `chat --model`); repeat for several (default:
    /// smollm2 and every run in models/artifacts/).
    #[arg(long = "general-model", requires = "general")]
    pub general_models: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Fetch a registered model (or all) into models/base/, verified by sha256,
    /// or a Hugging Face hub model by id into the hub cache (HF_HOME).
    Fetch {
        /// smollm2, gemma3, all, or a hub model id such as
        /// HuggingFaceTB/SmolLM2-135M-Instruct (only this needs the hub's network).
        #[arg(default_value = "all")]
        model: String,
    },
    /// Show the registered models, the files in models/base/ and the hub models
    /// fetched into the Hugging Face cache.
    List,
    /// Write a model as a Hugging Face folder (f32 model.safetensors,
    /// config.json, tokenizer_config.json) that transformers and peft load.
    Export {
        /// smollm2, gemma3 or a GGUF path.
        model: String,
        /// The folder to write (default: models/hf/<model>/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time `data import` of the Ergast tables into a scratch database.
    Import(BenchImportArgs),
    /// Prompt processing and greedy decoding speed of a model, in tokens/s.
    Infer(BenchInferArgs),
    /// Training speed and peak memory (random rows, loss on every token, AdamW),
    /// as the PyTorch anchor measures it.
    Train(BenchTrainArgs),
    /// Many streaming clients against `f1ai serve` on loopback: errors and latency
    /// percentiles, after a cold round of the most streams that warms the server.
    Serve(BenchServeArgs),
}

#[derive(Debug, Args)]
pub struct BenchServeArgs {
    /// smollm2, gemma3, a run in models/artifacts/ or a GGUF path, served here;
    /// with --url, the model name sent (its tokenizer still sizes the long prompt).
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// Concurrent streaming clients, a round each.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    pub streams: Vec<usize>,
    /// Tokens each client asks for.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// A last round of the most streams while one more client sends a prompt of
    /// about this many tokens (0: none).
    #[arg(long, default_value_t = 8000)]
    pub long_prompt_tokens: usize,
    /// Every client asks for `ignore_eos` (llama.cpp's and vLLM's extension) and
    /// gets exactly --max-tokens tokens: batching's throughput without the
    /// spread of answer lengths (the rounds' tail of few streams).
    #[arg(long)]
    pub ignore_eos: bool,
    /// Requests each client sends, one after another: with more than one, a
    /// round keeps its streams busy as a steady load does (vLLM's
    /// `--max-concurrency`, llama.cpp's k6 virtual users) instead of one burst
    /// whose streams end one by one. The cold round sends one.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub requests: u16,
    /// Measure this OpenAI-compatible server instead of starting ours (e.g.
    /// llama-server's http://127.0.0.1:8081).
    #[arg(long)]
    pub url: Option<String>,
    /// Names the server in the table and the file
    /// (results/benchmarks/serve-<label>.json).
    #[arg(long, default_value = "f1ai")]
    pub label: String,
    /// Our server's (without --url), as `serve --precision`.
    #[command(flatten)]
    pub precision: ServingPrecisionArg,
}

#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// lora (r=16 on q,k,v,o) or full.
    #[arg(long, default_value = "lora")]
    pub method: String,
    /// smollm2 or gemma3 (fetched into models/base/ if missing).
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// Rows per step.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Tokens per row.
    #[arg(long, default_value_t = 128)]
    pub seq: usize,
    /// Timed steps after one warm-up step.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Train on real conversations instead of random tokens, padded (one per
    /// row) and packed (up to --seq tokens of them per row), alternating step
    /// by step; speed counts only the conversations' tokens.
    #[arg(long)]
    pub packing: bool,
    /// The conversations --packing trains on.
    #[arg(long, default_value = "data/curated/train.jsonl")]
    pub data: PathBuf,
    /// The products' operands: f32, or bf16 (mixed precision, as a training
    /// config's `precision: bf16`; AMX tiles or AVX512-BF16 where the CPU has them).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    pub precision: String,
    #[command(flatten)]
    pub device: DeviceArg,
}

impl BenchTrainArgs {
    pub fn precision(&self) -> f1_model::transformer::ProductPrecision {
        match self.precision.as_str() {
            "bf16" => f1_model::transformer::ProductPrecision::Bf16,
            _ => f1_model::transformer::ProductPrecision::F32,
        }
    }
}

#[derive(Debug, Args)]
pub struct BenchInferArgs {
    /// smollm2 or gemma3 (fetched into models/base/ if missing).
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 128)]
    pub prompt_tokens: usize,
    /// Tokens decoded one at a time after the prompt.
    #[arg(long, default_value_t = 128)]
    pub tokens: usize,
    /// Sequences decoded together; the rates count every sequence's tokens.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: u64,
    /// Timed runs after one warm-up run.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    #[command(flatten)]
    pub precision: PrecisionArg,
    #[command(flatten)]
    pub device: DeviceArg,
}

#[derive(Debug, Args)]
pub struct BenchImportArgs {
    #[arg(long, env = "F1AI_ERGAST_DIR")]
    pub ergast_dir: PathBuf,
    /// Timed runs after one warm-up run.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Load the Ergast/Kaggle CSV tables (and F1DB) into data/processed/f1.sqlite.
    Import(ImportArgs),
    /// Fetch the current season's rounds the knowledge base lacks from the
    /// Jolpica F1 API.
    Update(UpdateArgs),
    /// Fetch a season or round from the Jolpica F1 API and upsert it.
    Fetch(FetchArgs),
    /// Print what the knowledge base holds.
    Stats,
    /// Build the grounded instruction dataset into data/curated/.
    Build(BuildArgs),
    /// Politely scrape web pages into the knowledge base's documents table.
    Scrape(ScrapeArgs),
    /// Rephrase questions and write fuller answers through an OpenAI-compatible
    /// endpoint, keeping only rewrites whose facts survive.
    Augment(AugmentArgs),
}

#[derive(Debug, Args)]
pub struct AugmentArgs {
    /// The API root, e.g. http://127.0.0.1:8080/v1.
    #[arg(long)]
    pub endpoint: String,
    /// The model's name at the endpoint.
    #[arg(long)]
    pub model: String,
    /// The environment variable (or config/.env entry) holding the API key.
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    /// The split to augment (data/curated/<split>.jsonl).
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Augment this many single-turn examples, spread over the split (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Most requests per minute.
    #[arg(long, default_value_t = 60)]
    pub rpm: u32,
    #[arg(long, default_value_t = 200)]
    pub max_tokens: usize,
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f64,
    /// Seed sent with each request.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 120)]
    pub timeout_s: u64,
}

#[derive(Debug, Args)]
pub struct ScrapeArgs {
    /// Pages to start from.
    pub urls: Vec<String>,
    /// A file of URLs, one per line ('#' starts a comment).
    #[arg(long = "urls")]
    pub url_file: Option<PathBuf>,
    /// Follow same-host links this many levels deep.
    #[arg(long, default_value_t = 0)]
    pub depth: usize,
    /// Stop after keeping this many pages.
    #[arg(long, default_value_t = 200)]
    pub max_pages: usize,
    /// Least milliseconds between requests to one host (robots.txt may ask for more).
    #[arg(long, default_value_t = 1000)]
    pub delay_ms: u64,
    /// Seconds before a request is abandoned.
    #[arg(long, default_value_t = 20)]
    pub timeout_s: u64,
    /// Largest page kept, in KiB.
    #[arg(long, default_value_t = 2048)]
    pub max_kib: usize,
    /// Fetch again even when a page is cached under data/raw/web/.
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// YAML configuration [default: config/data_config.yaml when present, else built-in defaults].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override the configuration's size profile.
    #[arg(long, value_parser = ["quick", "full"])]
    pub profile: Option<String>,
    /// Override the configuration's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Add length statistics in this model's tokens to the card (smollm2, gemma3;
    /// fetched into models/base/ if missing).
    #[arg(long)]
    pub tokenizer: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Folder with the 13 Ergast CSV tables [default: data/raw/ergast, else the
    /// embedded fallback fact set].
    #[arg(long, env = "F1AI_ERGAST_DIR")]
    pub ergast_dir: Option<PathBuf>,
    /// Use the embedded fallback fact set even if CSV tables are present.
    #[arg(long, conflicts_with = "ergast_dir")]
    pub fallback: bool,
    /// F1DB's YAML tree (`src/data/` of f1db/f1db) to merge in: after the Ergast
    /// tables when --ergast-dir is given, else into the existing knowledge base.
    /// The races both hold are reconciled first (results/metrics/reconciliation.json).
    #[arg(long, conflicts_with = "fallback")]
    pub f1db: Option<PathBuf>,
    /// Which source wins where F1DB and the knowledge base disagree (f1db or
    /// ergast); without it an unexplained disagreement refuses the import.
    #[arg(long, requires = "f1db")]
    pub prefer: Option<f1_data::f1db::Prefer>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[arg(long, default_value = f1_data::jolpica::DEFAULT_BASE_URL)]
    pub base_url: String,
    /// Rounds held up to this date (YYYY-MM-DD) are due [default: today].
    #[arg(long)]
    pub until: Option<String>,
    /// Ignore cached responses under data/raw/jolpica/.
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[arg(long)]
    pub season: i64,
    /// One round; all rounds of the season when omitted.
    #[arg(long)]
    pub round: Option<i64>,
    #[arg(long, default_value = f1_data::jolpica::DEFAULT_BASE_URL)]
    pub base_url: String,
    /// Which resources, comma separated [default: all].
    #[arg(long, value_delimiter = ',')]
    pub resources: Vec<Resource>,
    /// Ignore cached responses under data/raw/jolpica/.
    #[arg(long)]
    pub refresh: bool,
}
