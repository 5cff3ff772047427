//! One generation worker shared by every client: requests wait in a bounded queue
//! and run one at a time (on 2 cores, parallel decoding only splits the same
//! cores). A request whose client went away is skipped or cancelled mid-way (an
//! answer through the built-in tools runs its rounds to the end).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use f1_baseline::tool_loop::{self, ToolStep};
use f1_model::assistant::Assistant;
use f1_model::chat::ChatMessage;
use f1_model::generate::{generate, FinishReason, GenerationConfig};
use f1_tools::Toolbox;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::catalog::Catalog;
use crate::error::Result;

/// One chat completion to run.
#[derive(Debug, Clone)]
pub struct Request {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub config: GenerationConfig,
    /// Answer through the built-in F1 tools (the messages carry their system
    /// prompt): call, read the result, answer.
    pub lookup: bool,
}

/// What a finished completion cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub finish_reason: FinishReason,
    pub prompt_seconds: f64,
    pub decode_seconds: f64,
}

/// What the worker reports about a request, in order: `Refused` alone, or any
/// number of `Lookup` and `Text`, then `Finished` or `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A built-in tool call and its result.
    Lookup(ToolStep),
    Text(String),
    Finished(Usage),
    Failed(String),
    /// The messages and max_tokens do not fit the model's context: nothing ran.
    Refused(String),
}

/// What one request may use, besides what the model's context allows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// Longer prompts are refused (None: as long as the context allows).
    pub max_prompt_tokens: Option<usize>,
    /// A generation still running after this many seconds stops, finish
    /// reason `length` (answers through the built-in tools run to the end).
    pub max_seconds: Option<f64>,
}

/// The queue is full: the client should retry later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

struct Job {
    request: Request,
    events: UnboundedSender<Event>,
    /// Held while the job waits and runs; frees a queue place when dropped.
    _place: OwnedSemaphorePermit,
}

/// A handle to the worker; cheap to share between request handlers.
pub struct Engine {
    jobs: mpsc::Sender<Job>,
    places: Arc<Semaphore>,
    capacity: usize,
    models: Vec<String>,
    tools: bool,
    /// Tokens generated since the start, finished or cancelled requests alike.
    generated: Arc<AtomicU64>,
}

impl Engine {
    /// Starts the worker thread over `catalog`, with the built-in F1 tools when
    /// `toolbox` is given; at most `capacity` requests wait or run at once, each
    /// within `limits`.
    pub fn start(
        mut catalog: Catalog,
        capacity: usize,
        toolbox: Option<Toolbox>,
        limits: Limits,
    ) -> Self {
        let models = catalog.ids();
        let tools = toolbox.is_some();
        let (jobs, queue) = mpsc::channel::<Job>();
        let generated = Arc::new(AtomicU64::new(0));
        let counter = generated.clone();
        thread::Builder::new()
            .name("generation".into())
            .spawn(move || {
                for job in queue {
                    run(&mut catalog, toolbox.as_ref(), limits, job, &counter);
                }
            })
            .expect("spawning the generation thread");
        Self {
            jobs,
            places: Arc::new(Semaphore::new(capacity)),
            capacity,
            models,
            tools,
            generated,
        }
    }

    /// Tokens generated since the start (what llama-server's metrics call
    /// tokens predicted), including those of requests cancelled mid-way.
    pub fn tokens_generated(&self) -> u64 {
        self.generated.load(Ordering::Relaxed)
    }

    /// Whether requests may be answered through the built-in F1 tools.
    pub fn has_tools(&self) -> bool {
        self.tools
    }

    /// The served model ids.
    pub fn models(&self) -> &[String] {
        &self.models
    }

    /// Requests waiting or running now.
    pub fn in_flight(&self) -> usize {
        self.capacity - self.places.available_permits()
    }

    /// The most requests that may wait or run at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues `request`; its events arrive on the returned receiver. Dropping the
    /// receiver cancels the request.
    pub fn submit(&self, request: Request) -> std::result::Result<UnboundedReceiver<Event>, Busy> {
        let place = self.places.clone().try_acquire_owned().map_err(|_| Busy)?;
        let (events, receiver) = unbounded_channel();
        let job = Job {
            request,
            events,
            _place: place,
        };
        self.jobs.send(job).map_err(|_| Busy)?;
        Ok(receiver)
    }
}

/// Runs `job`, sending its events; the tokens it generated are added to
/// `generated` before its last event goes out.
fn run(
    catalog: &mut Catalog,
    toolbox: Option<&Toolbox>,
    limits: Limits,
    job: Job,
    generated: &AtomicU64,
) {
    let Job {
        request, events, ..
    } = job;
    if events.is_closed() {
        return;
    }
    let outcome = catalog.get(&request.model).and_then(|assistant| {
        let prompt = assistant.prompt(&request.messages)?;
        match refusal(assistant, prompt.len(), &request, limits) {
            Some(reason) => Ok(Event::Refused(reason)),
            None => {
                answer(assistant, toolbox, &request, &prompt, limits, &events).map(Event::Finished)
            }
        }
    });
    let event = outcome.unwrap_or_else(|error| {
        tracing::warn!(model = request.model, %error, "generation failed");
        Event::Failed(error.to_string())
    });
    if let Event::Finished(usage) = &event {
        generated.fetch_add(usage.completion_tokens as u64, Ordering::Relaxed);
    }
    // The client may have gone; nothing is waiting for the event then.
    let _ = events.send(event);
}

/// Why `request`, whose prompt is `prompt` tokens, cannot run on `assistant`:
/// the prompt and max_tokens together exceed the context window, or the prompt
/// exceeds `limits`. Checked before any generation, so a huge message costs
/// one tokenization, not a prefill.
fn refusal(
    assistant: &Assistant,
    prompt: usize,
    request: &Request,
    limits: Limits,
) -> Option<String> {
    let context = assistant.model.transformer.config.max_positions;
    let wanted = request.config.max_tokens;
    if let Some(most) = limits.max_prompt_tokens.filter(|&most| prompt > most) {
        return Some(format!(
            "the messages take {prompt} tokens; this server accepts at most {most}"
        ));
    }
    (prompt + wanted > context).then(|| {
        format!(
            "this model's context is {context} tokens, but the messages take {prompt} tokens \
             and max_tokens asks for {wanted} more; shorten the messages or lower max_tokens"
        )
    })
}

/// Runs `request` (its messages tokenized as `prompt`) on `assistant`, sending
/// its lookups and text as they come.
fn answer(
    assistant: &mut Assistant,
    toolbox: Option<&Toolbox>,
    request: &Request,
    prompt: &[u32],
    limits: Limits,
    events: &UnboundedSender<Event>,
) -> Result<Usage> {
    match toolbox {
        Some(toolbox) if request.lookup => {
            let conversations = [request.messages.clone()];
            let answer =
                tool_loop::answer_batch(assistant, toolbox, &conversations, &request.config)?
                    .pop()
                    .expect("one answer per conversation");
            let usage = Usage {
                prompt_tokens: answer.prompt_tokens,
                completion_tokens: answer.generated_tokens,
                finish_reason: answer.finish_reason,
                prompt_seconds: answer.prompt_seconds,
                decode_seconds: answer.decode_seconds,
            };
            for step in answer.steps {
                let _ = events.send(Event::Lookup(step));
            }
            let _ = events.send(Event::Text(answer.answer));
            Ok(usage)
        }
        _ => {
            let started = Instant::now();
            let mut out_of_time = false;
            let generation = generate(
                &mut assistant.model,
                &assistant.tokenizer,
                prompt,
                &request.config,
                |text| {
                    out_of_time = limits
                        .max_seconds
                        .is_some_and(|most| started.elapsed().as_secs_f64() > most);
                    events.send(Event::Text(text.to_string())).is_ok() && !out_of_time
                },
            )?;
            Ok(Usage {
                prompt_tokens: generation.prompt_tokens,
                completion_tokens: generation.tokens.len(),
                finish_reason: match out_of_time {
                    true => FinishReason::Length,
                    false => generation.finish_reason,
                },
                prompt_seconds: generation.prompt_seconds,
                decode_seconds: generation.decode_seconds,
            })
        }
    }
}
