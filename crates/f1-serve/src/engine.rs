//! One generation worker shared by every client, batching continuously: requests
//! wait in a bounded queue; up to `parallel` of them (of one model) decode
//! together, one token each per step, each on its own KV cache with its own
//! sampling settings, joining and leaving between steps. New prompts are read
//! in the same steps, as more rows of the same pass (up to 256 tokens a step,
//! shortest first, so a long one cannot stall the others).
//! A request whose client went away stops within one step. An answer through the
//! built-in tools runs alone, its rounds to the end.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use f1_baseline::tool_loop::{self, ToolStep};
use f1_model::assistant::Assistant;
use f1_model::chat::ChatMessage;
use f1_model::generate::{Decoder, FinishReason, GenerationConfig};
use f1_model::tokenizer::Tokenizer;
use f1_model::transformer::cpu_pool::for_each_chunk;
use f1_model::transformer::SequenceCache;
use f1_tools::Toolbox;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::catalog::Catalog;
use crate::error::Error;

/// Prompt tokens read per step, over the sequences still reading theirs.
const PREFILL_TOKENS: usize = 256;

/// Prompt tokens a step for a prompt longer than [`PREFILL_TOKENS`] while other
/// sequences decode: its late chunks attend to thousands of positions, and a
/// whole budget of them would slow every other sequence's step.
const LONG_PROMPT_TOKENS: usize = 64;

/// The longest prompt whose keys and values are kept for the next prompts that
/// begin as it does (its copy costs memory: about 23 KB a token for SmolLM2).
const CACHED_PROMPT_TOKENS: usize = 1024;
/// The most positions a new sequence's KV cache is made with: a short request
/// gets room for its whole length (its cache never grows, nothing unused is
/// zeroed), a long one grows by this much at a time; zeroing an 8,000-token
/// prompt's whole cache at once (SmolLM2: 185 MB in f16; the 370 MB of an f32
/// cache) held every other stream's first token back by up to a second.
const CACHE_ROOM: usize = 1024;

/// How many of a prompt's `left` tokens to read this step, with `budget` of the
/// step's [`PREFILL_TOKENS`] unspent; `decoding`: other sequences decode this
/// step. `None`: none this step.
///
/// A prompt longer than a step reads [`LONG_PROMPT_TOKENS`] while others decode,
/// and only in a step no shorter prompt has read in, so that their first tokens
/// do not wait on its late, costly chunks. A chunk is never one token of a longer
/// prompt and never leaves one: one token alone is attended to in another order
/// of sums (ggml's vector path, not its tiles), so every token of a prompt is read
/// the same way whatever the schedule, and each answer stays what it is alone.
fn chunk(left: usize, budget: usize, decoding: bool) -> Option<usize> {
    let share = match decoding && left > PREFILL_TOKENS {
        true if budget < PREFILL_TOKENS => return None,
        true => LONG_PROMPT_TOKENS,
        false => budget,
    };
    let mut take = share.min(left);
    if take > 0 && left - take == 1 {
        take -= 1;
    }
    (take >= 2 || take == left && take == 1).then_some(take)
}

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
    /// Prompt tokens not read again: the beginning shared with an earlier prompt.
    pub cached_tokens: usize,
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
    /// `toolbox` is given; at most `capacity` requests wait or run at once, up
    /// to `parallel` of them decoding together, each within `limits`.
    pub fn start(
        catalog: Catalog,
        capacity: usize,
        parallel: usize,
        toolbox: Option<Toolbox>,
        limits: Limits,
    ) -> Self {
        let models = catalog.ids();
        let tools = toolbox.is_some();
        let (jobs, queue) = mpsc::channel::<Job>();
        let generated = Arc::new(AtomicU64::new(0));
        let mut scheduler = Scheduler {
            catalog,
            toolbox,
            limits,
            parallel: parallel.max(1),
            generated: generated.clone(),
            waiting: VecDeque::new(),
            running: Vec::new(),
            last_prompt: None,
        };
        thread::Builder::new()
            .name("generation".into())
            .spawn(move || scheduler.run(queue))
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

/// A request being answered: its prompt, its own KV cache and its decoding.
struct Sequence {
    job: Job,
    prompt: Vec<u32>,
    cache: SequenceCache,
    /// Prompt tokens whose keys and values were copied from an earlier prompt.
    cached: usize,
    decoder: Decoder,
    /// The token to run next, once the prompt is read.
    next: Option<u32>,
    admitted: Instant,
    prompt_seconds: f64,
    decode_started: Option<Instant>,
    /// An error was reported to the client; nothing more is sent.
    failed: bool,
}

impl Sequence {
    fn reading_prompt(&self) -> bool {
        self.cache.len() < self.prompt.len()
    }

    /// Whether the sequence has a token to run in the next decode step.
    fn decoding(&self) -> bool {
        self.next.is_some() && !self.decoder.finished()
    }

    /// Passes `logits` to the decoder, sending new text.
    fn take(&mut self, tokenizer: &Tokenizer, logits: &[f32]) {
        let events = &self.job.events;
        let next = self.decoder.step(tokenizer, logits, &mut |text| {
            events.send(Event::Text(text.to_string())).is_ok()
        });
        self.decode_started.get_or_insert_with(Instant::now);
        match next {
            Ok(next) => self.next = next,
            Err(error) => self.fail(&error.into()),
        }
    }

    /// Ends the sequence, reporting `error` to its client (and the log).
    fn fail(&mut self, error: &Error) {
        if !self.failed {
            fail(&self.job, error);
        }
        self.failed = true;
        self.decoder.stop(FinishReason::Stop);
    }

    /// Ends the sequence when its client has gone or its time is up.
    fn check(&mut self, limits: Limits) {
        if self.job.events.is_closed() {
            self.decoder.stop(FinishReason::Cancelled);
        } else if limits
            .max_seconds
            .is_some_and(|most| self.admitted.elapsed().as_secs_f64() > most)
        {
            self.decoder.stop(FinishReason::Length);
        }
    }

    /// Sends the rest of the text and the usage; the tokens generated are added
    /// to `generated` before the last event goes out.
    fn finish(self, assistant: &Assistant, generated: &AtomicU64) {
        if self.failed {
            return;
        }
        let decode_seconds = self
            .decode_started
            .map_or(0.0, |started| started.elapsed().as_secs_f64());
        let events = &self.job.events;
        let finished = self.decoder.finish(
            &assistant.tokenizer,
            self.prompt_seconds,
            decode_seconds,
            &mut |text| events.send(Event::Text(text.to_string())).is_ok(),
        );
        let event = match finished {
            Ok(generation) => {
                generated.fetch_add(generation.tokens.len() as u64, Ordering::Relaxed);
                Event::Finished(Usage {
                    prompt_tokens: generation.prompt_tokens,
                    cached_tokens: self.cached,
                    completion_tokens: generation.tokens.len(),
                    finish_reason: generation.finish_reason,
                    prompt_seconds: generation.prompt_seconds,
                    decode_seconds: generation.decode_seconds,
                })
            }
            Err(error) => Event::Failed(error.to_string()),
        };
        let _ = events.send(event);
    }
}

/// The worker's state: requests waiting, and the sequences running (all of one
/// model).
struct Scheduler {
    catalog: Catalog,
    toolbox: Option<Toolbox>,
    limits: Limits,
    parallel: usize,
    generated: Arc<AtomicU64>,
    waiting: VecDeque<Job>,
    running: Vec<Sequence>,
    /// The last prompt read (of at most [`CACHED_PROMPT_TOKENS`]), with its keys
    /// and values.
    last_prompt: Option<CachedPrompt>,
}

/// A prompt read, its model, and a copy of its keys and values.
struct CachedPrompt {
    model: String,
    prompt: Vec<u32>,
    cache: SequenceCache,
}

impl CachedPrompt {
    /// A cache for `prompt` holding the beginning it shares with this one, as
    /// llama-server's prompt cache and vLLM's prefix caching reuse it; `None` when
    /// they share nothing useful. At least two tokens are left to read, so that
    /// the prompt's tokens are all read in chunks (see `chunk`) and compute what
    /// they compute read whole.
    fn prefix_for(
        &self,
        model: &str,
        prompt: &[u32],
        room: usize,
    ) -> Option<(SequenceCache, usize)> {
        let shared = self
            .prompt
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt.len().saturating_sub(2));
        if self.model != model || shared < 2 {
            return None;
        }
        self.cache
            .prefix(shared, room)
            .ok()
            .map(|cache| (cache, shared))
    }
}

impl Scheduler {
    /// Serves jobs until every [`Engine`] handle is gone.
    fn run(&mut self, queue: mpsc::Receiver<Job>) {
        loop {
            if self.running.is_empty() && self.waiting.is_empty() {
                match queue.recv() {
                    Ok(job) => self.waiting.push_back(job),
                    Err(_) => return,
                }
            }
            self.waiting.extend(queue.try_iter());
            self.admit();
            self.step();
        }
    }

    /// Moves waiting jobs into the running batch, in order, while places are
    /// free: jobs for the batch's model join it; a job for another model, or an
    /// answer through the tools, waits until the batch has emptied and then runs.
    fn admit(&mut self) {
        self.waiting.retain(|job| !job.events.is_closed());
        while self.running.len() < self.parallel {
            let Some(job) = self.waiting.front() else {
                return;
            };
            let batch_model = self.running.first().map(|s| s.job.request.model.as_str());
            let lookup = job.request.lookup && self.toolbox.is_some();
            if !self.running.is_empty() && (lookup || batch_model != Some(&job.request.model)) {
                return;
            }
            let job = self.waiting.pop_front().expect("a front job");
            if lookup {
                self.answer_with_tools(job);
                continue;
            }
            if let Some(sequence) = self.start(job) {
                self.running.push(sequence);
            }
        }
    }

    /// A sequence for `job`, or `None` when it was refused or failed (its
    /// events sent).
    fn start(&mut self, job: Job) -> Option<Sequence> {
        let limits = self.limits;
        let last_prompt = self.last_prompt.as_ref();
        let started = self.catalog.get(&job.request.model).and_then(|assistant| {
            Ok(
                checked_prompt(assistant, &job.request, limits)?.map(|prompt| {
                    let room = (prompt.len() + job.request.config.max_tokens).min(CACHE_ROOM);
                    let (cache, cached) = last_prompt
                        .and_then(|last| last.prefix_for(&job.request.model, &prompt, room))
                        .unwrap_or_else(|| (assistant.model.new_sequence(room), 0));
                    (
                        Decoder::new(&assistant.tokenizer, &job.request.config, &prompt),
                        cache,
                        cached,
                        prompt,
                    )
                }),
            )
        });
        match started {
            Ok(Ok((decoder, cache, cached, prompt))) => Some(Sequence {
                job,
                prompt,
                cache,
                cached,
                decoder,
                next: None,
                admitted: Instant::now(),
                prompt_seconds: 0.0,
                decode_started: None,
                failed: false,
            }),
            Ok(Err(reason)) => {
                let _ = job.events.send(Event::Refused(reason));
                None
            }
            Err(error) => {
                fail(&job, &error);
                None
            }
        }
    }

    /// One step, one pass through the model: up to [`PREFILL_TOKENS`] prompt
    /// tokens (the prompts with the fewest left first) and one token of every
    /// sequence that has read its prompt, the weights read once for all of them;
    /// ended sequences leave.
    fn step(&mut self) {
        let Some(model) = self.running.first().map(|s| s.job.request.model.clone()) else {
            return;
        };
        let limits = self.limits;
        let assistant = match self.catalog.get(&model) {
            Ok(assistant) => assistant,
            Err(error) => {
                self.running.drain(..).for_each(|s| fail(&s.job, &error));
                return;
            }
        };
        // Prompts are read shortest first, up to PREFILL_TOKENS tokens a step (see
        // `chunk`), in the same pass as every decoding sequence's next token.
        let decoding = self.running.iter().any(Sequence::decoding);
        let mut reading: Vec<(usize, &Sequence)> = self
            .running
            .iter()
            .enumerate()
            .filter(|(_, s)| s.reading_prompt())
            .collect();
        reading.sort_by_key(|(_, s)| s.prompt.len() - s.cache.len());
        let mut budget = PREFILL_TOKENS;
        // Each sequence's tokens this step: a chunk of its prompt, or its next token.
        let mut reads: Vec<Option<Range<usize>>> = vec![None; self.running.len()];
        for (index, sequence) in reading {
            let read = sequence.cache.len();
            if let Some(take) = chunk(sequence.prompt.len() - read, budget, decoding) {
                budget -= take;
                reads[index] = Some(read..read + take);
            }
        }
        let runs: Vec<bool> = (self.running.iter().zip(&reads))
            .map(|(s, read)| read.is_some() || s.decoding())
            .collect();
        if !runs.contains(&true) {
            return end_finished(&mut self.running, limits, assistant, &self.generated);
        }
        let mut inputs: Vec<&[u32]> = Vec::new();
        let mut caches: Vec<&mut SequenceCache> = Vec::new();
        let mut prompt_tokens = 0;
        for ((sequence, read), &run) in self.running.iter_mut().zip(&reads).zip(&runs) {
            let Sequence {
                prompt,
                cache,
                next,
                ..
            } = sequence;
            match read {
                Some(read) => {
                    prompt_tokens += read.len();
                    inputs.push(&prompt[read.clone()]);
                }
                None if run => inputs.push(next.as_slice()),
                None => continue,
            }
            caches.push(cache);
        }
        let started = Instant::now();
        let logits = assistant.model.step(&inputs, &mut caches);
        let model_seconds = started.elapsed().as_secs_f64();
        let rows = inputs.len();
        // The sequences that ran, each with whether it read a chunk of its prompt.
        let mut stepped: Vec<(&mut Sequence, bool)> = (self.running.iter_mut())
            .zip(reads.iter().zip(&runs))
            .filter(|(_, (_, &run))| run)
            .map(|(sequence, (read, _))| (sequence, read.is_some()))
            .collect();
        let logits = match logits {
            Ok(logits) => logits,
            Err(error) => {
                let error = error.into();
                stepped.iter_mut().for_each(|(s, _)| s.fail(&error));
                return end_finished(&mut self.running, limits, assistant, &self.generated);
            }
        };
        for (sequence, read) in &mut stepped {
            if *read {
                sequence.prompt_seconds += model_seconds;
            }
        }
        // The last prompt of at most CACHED_PROMPT_TOKENS this step finished.
        let finished = stepped.iter().rposition(|(s, read)| {
            *read && !s.reading_prompt() && s.prompt.len() <= CACHED_PROMPT_TOKENS
        });
        // Each sequence with a token to pick picks and sends it, on candle's threads.
        let tokenizer = &assistant.tokenizer;
        let vocab = logits.vocab();
        match logits.values() {
            Ok(values) => {
                let values: &[f32] = &values;
                let mut picking: Vec<(usize, &mut Sequence)> = (stepped.iter_mut().enumerate())
                    .filter(|(_, (s, _))| !s.reading_prompt())
                    .map(|(row, (s, _))| (row, &mut **s))
                    .collect();
                let count = picking.len();
                for_each_chunk([(&mut picking[..], 1)], count, |_, [slot]| {
                    let (row, sequence) = &mut slot[0];
                    sequence.take(tokenizer, &values[*row * vocab..][..vocab]);
                    Ok(())
                })
                .expect("one sequence a row");
            }
            Err(error) => {
                let error = error.into();
                stepped.iter_mut().for_each(|(s, _)| s.fail(&error));
            }
        }
        // Its keys and values are copied once, for the prompts that follow.
        if let Some((sequence, _)) = finished.map(|row| &stepped[row]) {
            let positions = sequence.prompt.len();
            if let Ok(cache) = sequence.cache.prefix(positions, positions) {
                self.last_prompt = Some(CachedPrompt {
                    model: model.clone(),
                    prompt: sequence.prompt.clone(),
                    cache,
                });
            }
        }
        let sampling_ms = (started.elapsed().as_secs_f64() - model_seconds) * 1e3;
        tracing::debug!(
            rows,
            prompt_tokens,
            model_ms = model_seconds * 1e3,
            sampling_ms,
            "step"
        );
        end_finished(&mut self.running, limits, assistant, &self.generated);
    }

    /// Answers `job` through the built-in tools, alone: call, read the result,
    /// answer.
    fn answer_with_tools(&mut self, job: Job) {
        let limits = self.limits;
        let toolbox = self.toolbox.as_ref().expect("a lookup needs the tools");
        let outcome = self.catalog.get(&job.request.model).and_then(|assistant| {
            match checked_prompt(assistant, &job.request, limits)? {
                Err(reason) => Ok(Event::Refused(reason)),
                Ok(_) => {
                    let conversations = [job.request.messages.clone()];
                    let answer = tool_loop::answer_batch(
                        assistant,
                        toolbox,
                        &conversations,
                        &job.request.config,
                    )?
                    .pop()
                    .expect("one answer per conversation");
                    for step in answer.steps {
                        let _ = job.events.send(Event::Lookup(step));
                    }
                    let _ = job.events.send(Event::Text(answer.answer));
                    self.generated
                        .fetch_add(answer.generated_tokens as u64, Ordering::Relaxed);
                    Ok(Event::Finished(Usage {
                        prompt_tokens: answer.prompt_tokens,
                        cached_tokens: 0,
                        completion_tokens: answer.generated_tokens,
                        finish_reason: answer.finish_reason,
                        prompt_seconds: answer.prompt_seconds,
                        decode_seconds: answer.decode_seconds,
                    }))
                }
            }
        });
        match outcome {
            Ok(event) => {
                let _ = job.events.send(event);
            }
            Err(error) => fail(&job, &error),
        }
    }
}

/// Reports `error` to `job`'s client (and the log).
/// Ends the sequences of `running` whose client has gone, whose time is up or
/// whose answer is done (even while reading a prompt), sending each its last
/// events; the tokens they generated are added to `generated`.
fn end_finished(
    running: &mut Vec<Sequence>,
    limits: Limits,
    assistant: &Assistant,
    generated: &AtomicU64,
) {
    running.iter_mut().for_each(|s| s.check(limits));
    let (ended, still_running): (Vec<Sequence>, Vec<Sequence>) =
        running.drain(..).partition(|s| s.decoder.finished());
    *running = still_running;
    for sequence in ended {
        sequence.finish(assistant, generated);
    }
}

fn fail(job: &Job, error: &Error) {
    tracing::warn!(model = job.request.model, %error, "generation failed");
    let _ = job.events.send(Event::Failed(error.to_string()));
}

/// The prompt of `request` on `assistant`, or why it cannot run there (see
/// [`refusal`]).
fn checked_prompt(
    assistant: &Assistant,
    request: &Request,
    limits: Limits,
) -> Result<std::result::Result<Vec<u32>, String>, Error> {
    let prompt = assistant.prompt(&request.messages)?;
    Ok(match refusal(assistant, prompt.len(), request, limits) {
        Some(reason) => Err(reason),
        None => Ok(prompt),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_never_one_token_of_a_longer_prompt() {
        for decoding in [false, true] {
            for left in 1..=2 * PREFILL_TOKENS + 3 {
                for budget in 0..=PREFILL_TOKENS {
                    let Some(take) = chunk(left, budget, decoding) else {
                        continue;
                    };
                    assert!(take <= left && take <= budget, "{left} {budget} {decoding}");
                    assert!(take >= 2 || left == 1, "{left} {budget}: {take}");
                    assert_ne!(left - take, 1, "{left} {budget}: {take}");
                }
                // A whole budget always reads something.
                assert!(chunk(left, PREFILL_TOKENS, decoding).is_some(), "{left}");
            }
        }
        // A long prompt reads 64 tokens beside decoding sequences, none after
        // a shorter prompt has read in the same step, a whole budget otherwise.
        assert_eq!(chunk(8000, PREFILL_TOKENS, true), Some(LONG_PROMPT_TOKENS));
        assert_eq!(chunk(8000, PREFILL_TOKENS - 40, true), None);
        assert_eq!(chunk(8000, PREFILL_TOKENS, false), Some(PREFILL_TOKENS));
        assert_eq!(chunk(257, PREFILL_TOKENS, false), Some(255));
        assert_eq!(chunk(3, 2, false), None);
        assert_eq!(chunk(1, 1, false), Some(1));
    }
}
