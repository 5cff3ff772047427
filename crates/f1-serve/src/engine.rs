//! One generation worker shared by every client: requests wait in a bounded queue
//! and run one at a time (on 2 cores, parallel decoding only splits the same
//! cores). A request whose client went away is skipped or cancelled mid-way.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use f1_model::chat::ChatMessage;
use f1_model::generate::{FinishReason, GenerationConfig};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::catalog::Catalog;

/// One chat completion to run.
#[derive(Debug, Clone)]
pub struct Request {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub config: GenerationConfig,
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

/// What the worker reports about a request, in order: any number of `Text`, then
/// `Finished` or `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Text(String),
    Finished(Usage),
    Failed(String),
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
}

impl Engine {
    /// Starts the worker thread over `catalog`; at most `capacity` requests wait or
    /// run at once.
    pub fn start(mut catalog: Catalog, capacity: usize) -> Self {
        let models = catalog.ids();
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("generation".into())
            .spawn(move || {
                for job in queue {
                    run(&mut catalog, job);
                }
            })
            .expect("spawning the generation thread");
        Self {
            jobs,
            places: Arc::new(Semaphore::new(capacity)),
            capacity,
            models,
        }
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
    pub fn submit(&self, request: Request) -> Result<UnboundedReceiver<Event>, Busy> {
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

fn run(catalog: &mut Catalog, job: Job) {
    let Job {
        request, events, ..
    } = job;
    if events.is_closed() {
        return;
    }
    let outcome = catalog.get(&request.model).and_then(|assistant| {
        assistant
            .reply(&request.messages, &request.config, |text| {
                events.send(Event::Text(text.to_string())).is_ok()
            })
            .map_err(Into::into)
    });
    let event = match outcome {
        Ok(generation) => Event::Finished(Usage {
            prompt_tokens: generation.prompt_tokens,
            completion_tokens: generation.tokens.len(),
            finish_reason: generation.finish_reason,
            prompt_seconds: generation.prompt_seconds,
            decode_seconds: generation.decode_seconds,
        }),
        Err(error) => {
            tracing::warn!(model = request.model, %error, "generation failed");
            Event::Failed(error.to_string())
        }
    };
    // The client may have gone; nothing is waiting for the event then.
    let _ = events.send(event);
}
