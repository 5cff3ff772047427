//! Multiple choice by log-likelihood, as lm-evaluation-harness scores it: each
//! choice is a continuation of the question's context, and its log-likelihood
//! is the sum over the continuation's tokens.

use std::str::FromStr;

use f1_eval::general::{Task, TaskPrompt};
use f1_eval::multiple_choice::{grade, ChoiceQuestion, Graded};
use f1_model::chat::ChatMessage;
use serde::{Deserialize, Serialize};

use f1_model::transformer::ForwardOptions;

use crate::data::{Batch, Sequence};
use crate::error::Result;
use crate::loss::target_log_probs;
use crate::scorer::ScoringModel;

/// How the question is put to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChoiceFormat {
    /// The model's chat template: system prompt, the question as the user's turn,
    /// the choice as the start of the assistant's reply (the harness with
    /// `--apply_chat_template`).
    Chat,
    /// The harness's plain default: `Question: {q}\nAnswer:` then ` {choice}`.
    Plain,
    /// The harness's plain format for tasks whose question is the start of a
    /// text (HellaSwag): the question as it is, then ` {choice}`.
    Continuation,
}

impl FromStr for ChoiceFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "chat" => Ok(Self::Chat),
            "plain" => Ok(Self::Plain),
            "continuation" => Ok(Self::Continuation),
            other => Err(format!(
                "unknown format {other:?} (chat, plain or continuation)"
            )),
        }
    }
}

/// Tokens per packed row when many questions are scored together.
const ROW_TOKENS: usize = 512;
/// Rows per forward pass.
const ROWS: usize = 4;

/// One question laid out in a packed row: its context once, then each choice's
/// tokens continuing it (or, where a choice's tokens do not start with the
/// context's, each choice whole on its own).
struct Layout {
    /// (tokens, the segment they continue: None for the first or a whole one).
    segments: Vec<(Vec<u32>, bool)>,
    /// Per choice, (index into the layout's tokens whose output predicts the
    /// token, the token), over the choice's tokens.
    targets: Vec<Vec<(usize, u32)>>,
}

impl Layout {
    fn new(sequences: &[Sequence]) -> Self {
        let context = sequences[0].trained.iter().take_while(|t| !**t).count();
        let prefix = &sequences[0].ids[..context];
        let shared = context > 0
            && sequences
                .iter()
                .all(|s| s.ids.len() > context && s.ids.starts_with(prefix));
        let mut layout = Layout {
            segments: Vec::new(),
            targets: Vec::new(),
        };
        let mut offset = 0;
        if shared {
            layout.segments.push((prefix.to_vec(), false));
            offset = context;
            for s in sequences {
                let continuation = &s.ids[context..];
                // The first choice token is predicted by the context's last one.
                let targets = continuation
                    .iter()
                    .enumerate()
                    .map(|(i, &token)| match i {
                        0 => (context - 1, token),
                        _ => (offset + i - 1, token),
                    })
                    .collect();
                layout.targets.push(targets);
                layout.segments.push((continuation.to_vec(), true));
                offset += continuation.len();
            }
        } else {
            for s in sequences {
                let targets = (1..s.ids.len())
                    .filter(|&i| s.trained[i])
                    .map(|i| (offset + i - 1, s.ids[i]))
                    .collect();
                layout.targets.push(targets);
                layout.segments.push((s.ids.clone(), false));
                offset += s.ids.len();
            }
        }
        layout
    }

    fn tokens(&self) -> usize {
        self.segments.iter().map(|(t, _)| t.len()).sum()
    }
}

impl ScoringModel<'_> {
    /// [`ScoringModel::choice_log_likelihoods`] for many questions at once:
    /// they are packed into rows of up to 512 tokens, each question's context
    /// once with its choices after it (each choice sees the context and
    /// itself), so one forward pass scores several questions.
    pub fn choices_log_likelihoods(
        &mut self,
        questions: &[(&str, &[String])],
        format: ChoiceFormat,
        system_prompt: &str,
    ) -> Result<Vec<Vec<f64>>> {
        let layouts = questions
            .iter()
            .map(|(question, choices)| {
                let (context, delimiter) = self.context(question, format, system_prompt)?;
                let sequences = choices
                    .iter()
                    .map(|c| self.encode_pair(&context, &format!("{delimiter}{c}"), format))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Layout::new(&sequences))
            })
            .collect::<Result<Vec<Layout>>>()?;
        // Rows of questions, first fit in order.
        let mut rows: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, layout) in layouts.iter().enumerate() {
            let length = layout.tokens();
            match rows
                .iter_mut()
                .find(|(used, _)| used + length <= ROW_TOKENS)
            {
                Some((used, members)) => {
                    *used += length;
                    members.push(i);
                }
                None => rows.push((length, vec![i])),
            }
        }
        let mut results: Vec<Vec<f64>> =
            layouts.iter().map(|l| vec![0.0; l.targets.len()]).collect();
        for chunk in rows.chunks(ROWS) {
            let members: Vec<&[usize]> = chunk.iter().map(|(_, m)| m.as_slice()).collect();
            let (batch, owners) = Self::batch(&layouts, &members);
            if batch.positions.is_empty() {
                continue;
            }
            let log_probs = target_log_probs(self.transformer, &batch, &ForwardOptions::scoring())?;
            for ((question, choice), p) in owners.into_iter().zip(log_probs) {
                results[question][choice] += f64::from(p);
            }
        }
        Ok(results)
    }

    /// The packed batch of `rows` (question indices per row), and for each
    /// scored position the (question, choice) it belongs to.
    fn batch(layouts: &[Layout], rows: &[&[usize]]) -> (Batch, Vec<(usize, usize)>) {
        let width = rows
            .iter()
            .map(|r| r.iter().map(|&q| layouts[q].tokens()).sum::<usize>())
            .max()
            .unwrap_or(0);
        let mut batch = Batch {
            ids: Vec::new(),
            segments: Vec::new(),
            prefixes: Some(Vec::new()),
            positions: Vec::new(),
            targets: Vec::new(),
        };
        let mut owners = Vec::new();
        for (r, members) in rows.iter().enumerate() {
            let mut ids = Vec::with_capacity(width);
            let mut segments = Vec::with_capacity(width);
            let mut prefixes = vec![0u32];
            for &q in *members {
                let layout = &layouts[q];
                let (start, first_segment) = (ids.len(), prefixes.len() as u32);
                for (tokens, continues) in &layout.segments {
                    let segment = prefixes.len() as u32;
                    prefixes.push(if *continues { first_segment } else { 0 });
                    segments.extend(std::iter::repeat_n(segment, tokens.len()));
                    ids.extend(tokens);
                }
                for (choice, targets) in layout.targets.iter().enumerate() {
                    for &(at, token) in targets {
                        batch.positions.push((r * width + start + at) as u32);
                        batch.targets.push(token);
                        owners.push((q, choice));
                    }
                }
            }
            ids.resize(width, 0);
            segments.resize(width, 0);
            batch.ids.push(ids);
            batch.segments.push(segments);
            batch.prefixes.as_mut().expect("set above").push(prefixes);
        }
        (batch, owners)
    }

    /// The question's context and the text between it and a choice.
    fn context(
        &self,
        question: &str,
        format: ChoiceFormat,
        system_prompt: &str,
    ) -> Result<(String, &'static str)> {
        Ok(match format {
            ChoiceFormat::Plain => (format!("Question: {question}\nAnswer:"), " "),
            ChoiceFormat::Continuation => (question.to_string(), " "),
            ChoiceFormat::Chat => {
                let mut messages = Vec::new();
                if !system_prompt.is_empty() {
                    messages.push(ChatMessage::new("system", system_prompt));
                }
                messages.push(ChatMessage::new("user", question));
                (self.template.render(&messages, true)?, "")
            }
        })
    }

    /// The log-likelihood (nats) of each choice given the question.
    pub fn choice_log_likelihoods(
        &mut self,
        question: &str,
        choices: &[String],
        format: ChoiceFormat,
        system_prompt: &str,
    ) -> Result<Vec<f64>> {
        let mut all =
            self.choices_log_likelihoods(&[(question, choices)], format, system_prompt)?;
        Ok(all.remove(0))
    }

    /// The harness's `_encode_pair`: trailing spaces of the context move to the
    /// continuation; the continuation's tokens are those of `context +
    /// continuation` after as many tokens as the context alone has.
    pub fn encode_pair(
        &self,
        context: &str,
        continuation: &str,
        format: ChoiceFormat,
    ) -> Result<Sequence> {
        let trimmed = context.trim_end_matches(' ');
        let continuation = format!("{}{continuation}", &context[trimmed.len()..]);
        let encode = |text: &str| match format {
            ChoiceFormat::Plain | ChoiceFormat::Continuation => {
                self.tokenizer.encode_with_bos(text)
            }
            ChoiceFormat::Chat => self.tokenizer.encode_prompt(text),
        };
        let context_tokens = encode(trimmed)?.len();
        let ids = encode(&format!("{trimmed}{continuation}"))?;
        let trained = (0..ids.len()).map(|i| i >= context_tokens).collect();
        Ok(Sequence { ids, trained })
    }
}

/// The harness's format for a general-ability task's prompt.
pub fn task_format(prompt: TaskPrompt) -> ChoiceFormat {
    match prompt {
        TaskPrompt::QuestionAnswer => ChoiceFormat::Plain,
        TaskPrompt::Continuation => ChoiceFormat::Continuation,
    }
}

impl ScoringModel<'_> {
    /// Grades `questions` of `task` as the harness does (no system prompt, its
    /// plain prompt); `progress` runs after each question.
    pub fn grade_task(
        &mut self,
        task: &Task,
        questions: &[ChoiceQuestion],
        mut progress: impl FnMut(),
    ) -> Result<Vec<Graded>> {
        let format = task_format(task.prompt);
        let mut graded = Vec::with_capacity(questions.len());
        // A few rows' worth at a time, so progress moves.
        for chunk in questions.chunks(16) {
            let items: Vec<(&str, &[String])> = chunk
                .iter()
                .map(|q| (q.question.as_str(), q.choices.as_slice()))
                .collect();
            let lls = self.choices_log_likelihoods(&items, format, "")?;
            for (question, lls) in chunk.iter().zip(lls) {
                graded.push(grade(question, &lls));
                progress();
            }
        }
        Ok(graded)
    }
}
