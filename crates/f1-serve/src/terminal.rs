//! The terminal chat: streamed replies, the conversation kept between turns,
//! `/reset`, `/model` to switch between served models, and optional grounding in
//! the knowledge base: retrieved facts, or the model's own tool calls, shown.

use std::io::{BufRead, Write};

use f1_baseline::prompt::{grounded_system_prompt, SYSTEM_PROMPT};
use f1_baseline::{tool_loop, FactIndex};
use f1_model::chat::ChatMessage;
use f1_model::generate::GenerationConfig;
use f1_tools::Toolbox;

use crate::catalog::Catalog;
use crate::error::{Error, Result};

const HELP: &str = "commands: /reset (forget the conversation), /model (list models), \
/model NAME (switch), /help, /quit";

/// How answers are grounded in the knowledge base.
pub enum Grounding<'a> {
    /// `--rag`: the index and how many facts each question gets.
    Retrieval { index: &'a FactIndex, facts: usize },
    /// `--tools`: the model calls the tools (see `f1_baseline::tool_loop`).
    Tools(&'a Toolbox),
}

/// A conversation with one of the catalog's models at a time.
pub struct ChatSession<'a> {
    catalog: Catalog,
    model: String,
    history: Vec<ChatMessage>,
    config: GenerationConfig,
    grounding: Option<Grounding<'a>>,
}

impl<'a> ChatSession<'a> {
    /// A session that starts with `model` (one of the catalog's ids).
    pub fn new(
        catalog: Catalog,
        model: &str,
        config: GenerationConfig,
        grounding: Option<Grounding<'a>>,
    ) -> Result<Self> {
        let ids = catalog.ids();
        if !ids.iter().any(|id| id == model) {
            return Err(Error::UnknownModel(model.to_string(), ids.join(", ")));
        }
        Ok(Self {
            catalog,
            model: model.to_string(),
            history: Vec::new(),
            config,
            grounding,
        })
    }

    /// Reads lines from `input` until `/quit` or its end, answering each.
    pub fn run(&mut self, input: impl BufRead, out: &mut impl Write) -> Result<()> {
        writeln!(
            out,
            "f1ai chat with {} (models: {}). {HELP}",
            self.model,
            self.catalog.ids().join(", ")
        )?;
        write!(out, "you> ")?;
        out.flush()?;
        for line in input.lines() {
            let line = line?;
            let line = line.trim();
            if line == "/quit" || line == "/exit" {
                break;
            }
            match line {
                "" => {}
                "/help" => writeln!(out, "{HELP}")?,
                "/reset" => {
                    self.history.clear();
                    writeln!(out, "(conversation cleared)")?;
                }
                "/model" | "/models" => {
                    for id in self.catalog.ids() {
                        let mark = if id == self.model { "*" } else { " " };
                        writeln!(out, "{mark} {id}")?;
                    }
                }
                command if command.starts_with("/model ") => {
                    self.switch(command["/model ".len()..].trim(), out)?
                }
                command if command.starts_with('/') => {
                    writeln!(out, "unknown command {command}; {HELP}")?
                }
                question => self.answer(question, out)?,
            }
            write!(out, "you> ")?;
            out.flush()?;
        }
        writeln!(out)?;
        Ok(())
    }

    fn switch(&mut self, id: &str, out: &mut impl Write) -> Result<()> {
        match self.catalog.get(id) {
            Ok(_) => {
                self.model = id.to_string();
                writeln!(out, "(now talking to {id}; the conversation is kept)")?;
            }
            Err(error) => writeln!(out, "{error}")?,
        }
        Ok(())
    }

    /// Answers through the tools: each call and its result shown, then the
    /// answer; the calls stay in the conversation for follow-up questions.
    fn answer_with_tools(
        &mut self,
        toolbox: &Toolbox,
        question: &str,
        out: &mut impl Write,
    ) -> Result<()> {
        self.history.push(ChatMessage::new("user", question));
        let mut messages = vec![ChatMessage::new(
            "system",
            &f1_tools::prompt::system_prompt(),
        )];
        messages.extend(self.history.iter().cloned());
        let assistant = self.catalog.get(&self.model)?;
        let answer = match tool_loop::answer_batch(assistant, toolbox, &[messages], &self.config) {
            Ok(mut answers) => answers.remove(0),
            Err(error) => {
                self.history.pop();
                writeln!(out, "(error: {error})")?;
                return Ok(());
            }
        };
        for step in &answer.steps {
            let by = if step.from_question {
                " (from your words)"
            } else {
                ""
            };
            writeln!(out, "lookup{by}: {} -> {}", step.call, step.status)?;
            writeln!(out, "  {}", step.result)?;
            self.history.push(ChatMessage::new("assistant", &step.call));
            self.history.push(ChatMessage::new("tool", &step.result));
        }
        writeln!(out, "{}> {}", self.model, answer.answer)?;
        writeln!(
            out,
            "[{} · {} calls · {} tokens · {:.2} s]",
            self.model,
            answer.steps.len(),
            answer.generated_tokens,
            answer.seconds()
        )?;
        self.history
            .push(ChatMessage::new("assistant", &answer.answer));
        Ok(())
    }

    fn answer(&mut self, question: &str, out: &mut impl Write) -> Result<()> {
        let facts: Vec<String> = match &self.grounding {
            Some(Grounding::Tools(toolbox)) => {
                let toolbox: &Toolbox = toolbox;
                return self.answer_with_tools(toolbox, question, out);
            }
            Some(Grounding::Retrieval { index, facts }) => index
                .search(question, *facts)
                .into_iter()
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        };
        if !facts.is_empty() {
            writeln!(out, "facts used:")?;
            for (n, fact) in facts.iter().enumerate() {
                writeln!(out, "  {}. {fact}", n + 1)?;
            }
        }
        let system = if self.grounding.is_some() {
            grounded_system_prompt(&facts)
        } else {
            SYSTEM_PROMPT.to_string()
        };
        self.history.push(ChatMessage::new("user", question));
        let mut messages = vec![ChatMessage::new("system", &system)];
        messages.extend(self.history.iter().cloned());

        write!(out, "{}> ", self.model)?;
        out.flush()?;
        let assistant = self.catalog.get(&self.model)?;
        let mut write_error = None;
        let generation = assistant.reply(&messages, &self.config, |piece| {
            match out.write_all(piece.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => true,
                Err(e) => {
                    write_error = Some(e);
                    false
                }
            }
        });
        if let Some(error) = write_error {
            return Err(error.into());
        }
        let generation = match generation {
            Ok(generation) => generation,
            Err(error) => {
                self.history.pop();
                writeln!(out, "\n(error: {error})")?;
                return Ok(());
            }
        };
        let speed = if generation.decode_seconds > 0.0 {
            generation.tokens.len() as f64 / generation.decode_seconds
        } else {
            0.0
        };
        writeln!(
            out,
            "\n[{} · {} tokens · {speed:.1} tokens/s · context {} tokens]",
            self.model,
            generation.tokens.len(),
            generation.prompt_tokens + generation.tokens.len()
        )?;
        self.history
            .push(ChatMessage::new("assistant", generation.text.trim()));
        Ok(())
    }
}
