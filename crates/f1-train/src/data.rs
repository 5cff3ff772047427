//! Conversations turned into token ids with a mask of the assistant's tokens, and
//! the seeded, resumable order in which they are batched.

use std::path::Path;

use f1_model::chat::{ChatMessage, ChatTemplate};
use f1_model::transformer::Packing;
use f1_model::Tokenizer;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Deserialize;

use crate::error::{Error, Result};

/// One tokenized conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub ids: Vec<u32>,
    /// Whether the loss counts token `i` (the assistant's words and end of turn).
    pub trained: Vec<bool>,
}

impl Sequence {
    /// Tokens whose prediction is scored: `trained[i]` for `i >= 1`.
    pub fn scored_tokens(&self) -> usize {
        self.trained.iter().skip(1).filter(|&&t| t).count()
    }
}

/// A conversation of a training file.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub messages: Vec<ChatMessage>,
    /// The assistant messages marked `"weight": 0` (as OpenAI's fine-tuning
    /// format marks them): read as context, not learned.
    pub unweighted: Vec<usize>,
}

#[derive(Deserialize)]
struct Line {
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    content: String,
    /// 0 or 1, on assistant messages only (1 when left out).
    #[serde(default)]
    weight: Option<u8>,
}

/// Reads up to `limit` conversations (0: all) of a JSONL file; a line that is
/// not a conversation is an error naming the file and line.
pub fn read_conversations(path: &Path, limit: usize) -> Result<Vec<Conversation>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut conversations = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if limit > 0 && conversations.len() == limit {
            break;
        }
        let invalid = |message: String| Error::Data {
            path: path.to_path_buf(),
            message: format!("line {}: {message}", index + 1),
        };
        let line: Line = serde_json::from_str(line).map_err(|e| invalid(e.to_string()))?;
        if !line.messages.iter().any(|m| m.role == "assistant") {
            return Err(invalid("the conversation has no assistant message".into()));
        }
        let mut unweighted = Vec::new();
        for (position, message) in line.messages.iter().enumerate() {
            match (message.weight, message.role.as_str()) {
                (None, _) | (Some(1), "assistant") => {}
                (Some(0), "assistant") => unweighted.push(position),
                (Some(0 | 1), role) => {
                    return Err(invalid(format!(
                        "message {}: weight is for assistant messages, not {role}",
                        position + 1
                    )))
                }
                (Some(other), _) => {
                    return Err(invalid(format!(
                        "message {}: weight must be 0 or 1, not {other}",
                        position + 1
                    )))
                }
            }
        }
        conversations.push(Conversation {
            messages: line
                .messages
                .iter()
                .map(|m| ChatMessage::new(&m.role, &m.content))
                .collect(),
            unweighted,
        });
    }
    if conversations.is_empty() {
        return Err(Error::Data {
            path: path.to_path_buf(),
            message: "no conversations to train on".into(),
        });
    }
    Ok(conversations)
}

/// Renders and tokenizes conversations as the model will see them at inference.
pub struct Encoder<'a> {
    pub tokenizer: &'a Tokenizer,
    pub template: &'a ChatTemplate,
    /// Put first when the conversation has no system message (empty: none).
    pub system_prompt: &'a str,
    pub max_tokens: usize,
}

impl Encoder<'_> {
    /// The token ids of the whole conversation, with the assistant turns marked.
    /// Each turn's span is found by rendering the conversation up to its opening
    /// and up to its end, so the mask follows the template whatever it is.
    pub fn encode(&self, conversation: &[ChatMessage]) -> Result<Sequence> {
        Ok(self.encode_turns(conversation, &[], false)?.0)
    }

    /// [`Encoder::encode`] of a file's conversation (its unweighted messages not
    /// marked), and its length before it was cut to `max_tokens`.
    pub fn encode_measured(&self, conversation: &Conversation) -> Result<(Sequence, usize)> {
        self.encode_turns(&conversation.messages, &conversation.unweighted, false)
    }

    /// Like [`Encoder::encode`], but only the final assistant turn is scored: the
    /// reply given everything before it (teacher forcing), as perplexity asks.
    pub fn encode_last_reply(&self, conversation: &[ChatMessage]) -> Result<Sequence> {
        Ok(self.encode_turns(conversation, &[], true)?.0)
    }

    /// `unweighted`: indices into `conversation` of assistant messages left unmarked.
    fn encode_turns(
        &self,
        conversation: &[ChatMessage],
        unweighted: &[usize],
        last_only: bool,
    ) -> Result<(Sequence, usize)> {
        let mut messages = Vec::with_capacity(conversation.len() + 1);
        if !self.system_prompt.is_empty()
            && conversation.first().is_some_and(|m| m.role != "system")
        {
            messages.push(ChatMessage::new("system", self.system_prompt));
        }
        let offset = messages.len();
        messages.extend_from_slice(conversation);
        let ids = self.tokens(&messages, false)?;
        let mut trained = vec![false; ids.len()];
        let last = messages.iter().rposition(|m| m.role == "assistant");
        for (index, message) in messages.iter().enumerate() {
            if message.role != "assistant"
                || (last_only && Some(index) != last)
                || index
                    .checked_sub(offset)
                    .is_some_and(|i| unweighted.contains(&i))
            {
                continue;
            }
            let start = common_prefix(&ids, &self.tokens(&messages[..index], true)?);
            let end = common_prefix(&ids, &self.tokens(&messages[..=index], false)?);
            trained[start..end].iter_mut().for_each(|t| *t = true);
        }
        let keep = ids.len().min(self.max_tokens);
        let sequence = Sequence {
            ids: ids[..keep].to_vec(),
            trained: trained[..keep].to_vec(),
        };
        Ok((sequence, ids.len()))
    }

    fn tokens(&self, messages: &[ChatMessage], open_turn: bool) -> Result<Vec<u32>> {
        let text = self.template.render(messages, open_turn)?;
        Ok(self.tokenizer.encode_prompt(&text)?)
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Rows of token ids for one micro-batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// (rows, tokens), right-padded with 0.
    pub ids: Vec<Vec<u32>>,
    /// Which conversation each position belongs to (0: padding).
    pub segments: Vec<Vec<u32>>,
    /// Per row, the sequence each sequence continues (see
    /// `f1_model::transformer::Packing`); None: each stands alone.
    pub prefixes: Option<Vec<Vec<u32>>>,
    /// Flat positions `row * tokens + i` whose next token is scored.
    pub positions: Vec<u32>,
    /// The token expected after each of `positions`.
    pub targets: Vec<u32>,
}

impl Batch {
    /// Builds a batch from rows, each a list of sequences packed one after another.
    pub fn new(rows: &[Vec<&Sequence>]) -> Self {
        let width = rows
            .iter()
            .map(|row| row.iter().map(|s| s.ids.len()).sum::<usize>())
            .max()
            .unwrap_or(0);
        let mut batch = Batch {
            ids: Vec::new(),
            segments: Vec::new(),
            prefixes: None,
            positions: Vec::new(),
            targets: Vec::new(),
        };
        for (r, row) in rows.iter().enumerate() {
            let mut ids = Vec::with_capacity(width);
            let mut segments = Vec::with_capacity(width);
            for (s, sequence) in row.iter().enumerate() {
                let offset = ids.len();
                for i in 1..sequence.ids.len() {
                    if sequence.trained[i] {
                        batch.positions.push((r * width + offset + i - 1) as u32);
                        batch.targets.push(sequence.ids[i]);
                    }
                }
                ids.extend(&sequence.ids);
                segments.extend(std::iter::repeat_n(s as u32 + 1, sequence.ids.len()));
            }
            ids.resize(width, 0);
            segments.resize(width, 0);
            batch.ids.push(ids);
            batch.segments.push(segments);
        }
        batch
    }

    /// Tokens in the batch that are not padding.
    pub fn tokens(&self) -> usize {
        self.segments.iter().flatten().filter(|&&s| s > 0).count()
    }

    /// How its rows' sequences sit together, for the forward pass.
    pub fn packing(&self) -> Packing<'_> {
        Packing {
            segments: &self.segments,
            prefixes: self.prefixes.as_deref(),
        }
    }
}

/// Groups sequences into rows: one per row, or packed up to `max_tokens` per
/// row, each sequence into the first row with room for it (first fit: rows end
/// up nearly full, and the order still decides which conversations meet).
pub fn rows(sequences: &[&Sequence], packing: bool, max_tokens: usize) -> Vec<Vec<usize>> {
    if !packing {
        return (0..sequences.len()).map(|i| vec![i]).collect();
    }
    let mut rows: Vec<(usize, Vec<usize>)> = Vec::new();
    // Rows before this one have no room left for the shortest sequence.
    let shortest = sequences.iter().map(|s| s.ids.len()).min().unwrap_or(0);
    let mut first_open = 0;
    for (i, sequence) in sequences.iter().enumerate() {
        let length = sequence.ids.len();
        match rows[first_open..]
            .iter_mut()
            .find(|(used, _)| used + length <= max_tokens)
        {
            Some((used, members)) => {
                *used += length;
                members.push(i);
            }
            None => rows.push((length, vec![i])),
        }
        while rows
            .get(first_open)
            .is_some_and(|(used, _)| used + shortest > max_tokens)
        {
            first_open += 1;
        }
    }
    rows.into_iter().map(|(_, members)| members).collect()
}

/// The micro-batches of one epoch: the sequences shuffled by `seed` and `epoch`,
/// grouped into rows and then into batches of `batch_size` rows. The same inputs
/// always give the same batches, so a resumed run can skip to where it stopped.
pub fn epoch_batches(
    sequences: &[Sequence],
    seed: u64,
    epoch: usize,
    batch_size: usize,
    packing: bool,
    max_tokens: usize,
) -> Vec<Batch> {
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    let mut rng = StdRng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    let shuffled: Vec<&Sequence> = order.iter().map(|&i| &sequences[i]).collect();
    let grouped = rows(&shuffled, packing, max_tokens);
    grouped
        .chunks(batch_size)
        .map(|chunk| {
            let rows: Vec<Vec<&Sequence>> = chunk
                .iter()
                .map(|row| row.iter().map(|&i| shuffled[i]).collect())
                .collect();
            Batch::new(&rows)
        })
        .collect()
}

/// Validation batches, in file order.
pub fn fixed_batches(sequences: &[Sequence], batch_size: usize) -> Vec<Batch> {
    sequences
        .chunks(batch_size)
        .map(|chunk| {
            let rows: Vec<Vec<&Sequence>> = chunk.iter().map(|s| vec![s]).collect();
            Batch::new(&rows)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(ids: &[u32], trained: &[bool]) -> Sequence {
        Sequence {
            ids: ids.to_vec(),
            trained: trained.to_vec(),
        }
    }

    #[test]
    fn batches_pad_and_point_at_the_tokens_before_each_trained_token() {
        let a = sequence(&[1, 2, 3, 4], &[false, false, true, true]);
        let b = sequence(&[5, 6], &[false, true]);
        let batch = Batch::new(&[vec![&a], vec![&b]]);
        assert_eq!(batch.ids, vec![vec![1, 2, 3, 4], vec![5, 6, 0, 0]]);
        assert_eq!(batch.segments, vec![vec![1, 1, 1, 1], vec![1, 1, 0, 0]]);
        // Row 0: position 1 predicts 3, position 2 predicts 4; row 1: 4 + 0 predicts 6.
        assert_eq!(batch.positions, vec![1, 2, 4]);
        assert_eq!(batch.targets, vec![3, 4, 6]);
        assert_eq!(batch.tokens(), 6);
    }

    #[test]
    fn packing_keeps_sequences_apart() {
        let a = sequence(&[1, 2, 3], &[false, true, true]);
        let b = sequence(&[4, 5], &[false, true]);
        let c = sequence(&[6, 7, 8], &[false, false, true]);
        let all = [&a, &b, &c];
        assert_eq!(rows(&all, true, 5), vec![vec![0, 1], vec![2]]);
        // First fit: the third sequence fills the first row's gap.
        assert_eq!(rows(&[&c, &b, &a], true, 5), vec![vec![0, 1], vec![2]]);
        let d = sequence(&[9], &[true]);
        assert_eq!(rows(&[&c, &a, &d], true, 5), vec![vec![0, 2], vec![1]]);
        assert_eq!(rows(&all, false, 5), vec![vec![0], vec![1], vec![2]]);
        let batch = Batch::new(&[vec![&a, &b]]);
        assert_eq!(batch.segments, vec![vec![1, 1, 1, 2, 2]]);
        // The first token of the second sequence is never a target.
        assert_eq!(batch.targets, vec![2, 3, 5]);
        assert_eq!(batch.positions, vec![0, 1, 3]);
    }

    #[test]
    fn epochs_are_shuffled_reproducibly() {
        let sequences: Vec<Sequence> = (0..10)
            .map(|i| sequence(&[i, i + 1], &[false, true]))
            .collect();
        let first = epoch_batches(&sequences, 7, 0, 3, false, 64);
        assert_eq!(first, epoch_batches(&sequences, 7, 0, 3, false, 64));
        assert_ne!(first, epoch_batches(&sequences, 7, 1, 3, false, 64));
        assert_eq!(first.len(), 4);
        let seen: usize = first.iter().map(|b| b.targets.len()).sum();
        assert_eq!(seen, 10);
    }
}
