//! SentencePiece ("llama" type) tokenization exactly as llama.cpp runs it: merge the
//! adjacent pair whose concatenation is in the vocabulary with the highest score
//! (leftmost on ties) until none is left, then fall back to byte tokens.
//!
//! Hand-written: the `tokenizers` crate needs merge lists that GGUF files do not
//! carry, and its BPE does not reproduce llama.cpp's re-segmentation of symbols.

use std::collections::{BinaryHeap, HashMap};

use super::vocab::Vocab;

#[derive(Debug, Clone, Copy)]
struct Symbol {
    /// Byte offset and length in the escaped text; length 0 once merged away.
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

#[derive(Debug, PartialEq)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl Eq for Bigram {}

impl Ord for Bigram {
    /// Highest score first; on a tie, the leftmost pair.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

struct Session<'a> {
    vocab: &'a Vocab,
    text: &'a str,
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Bigram>,
    /// The last pair merged into each text, for re-segmentation.
    merged_from: HashMap<String, (usize, usize)>,
}

impl<'a> Session<'a> {
    fn new(vocab: &'a Vocab, text: &'a str) -> Self {
        let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let count = starts.len();
        let symbols = starts
            .iter()
            .enumerate()
            .map(|(i, &start)| Symbol {
                start,
                len: starts.get(i + 1).copied().unwrap_or(text.len()) - start,
                prev: i.checked_sub(1),
                next: (i + 1 < count).then_some(i + 1),
            })
            .collect();
        Self {
            vocab,
            text,
            symbols,
            queue: BinaryHeap::new(),
            merged_from: HashMap::new(),
        }
    }

    fn piece(&self, symbol: &Symbol) -> &'a str {
        &self.text[symbol.start..symbol.start + symbol.len]
    }

    fn try_add_bigram(&mut self, left: Option<usize>, right: Option<usize>) {
        let (Some(left), Some(right)) = (left, right) else {
            return;
        };
        let (l, r) = (self.symbols[left], self.symbols[right]);
        let joined = &self.text[l.start..l.start + l.len + r.len];
        let Some(&id) = self.vocab.ids.get(joined) else {
            return;
        };
        self.queue.push(Bigram {
            score: self.vocab.scores.get(id as usize).copied().unwrap_or(0.0),
            left,
            right,
            size: joined.len(),
        });
        self.merged_from.insert(joined.to_string(), (left, right));
    }

    fn run(mut self, output: &mut Vec<u32>) {
        if self.symbols.is_empty() {
            return;
        }
        for i in 1..self.symbols.len() {
            self.try_add_bigram(Some(i - 1), Some(i));
        }
        while let Some(bigram) = self.queue.pop() {
            let (left, right) = (self.symbols[bigram.left], self.symbols[bigram.right]);
            if left.len == 0 || right.len == 0 || left.len + right.len != bigram.size {
                continue;
            }
            self.symbols[bigram.left].len += right.len;
            self.symbols[bigram.right].len = 0;
            self.symbols[bigram.left].next = right.next;
            if let Some(next) = right.next {
                self.symbols[next].prev = Some(bigram.left);
            }
            let merged = self.symbols[bigram.left];
            self.try_add_bigram(merged.prev, Some(bigram.left));
            self.try_add_bigram(Some(bigram.left), merged.next);
        }
        let mut at = Some(0);
        while let Some(i) = at {
            let symbol = self.symbols[i];
            self.resegment(&symbol, output);
            at = symbol.next;
        }
    }

    fn resegment(&self, symbol: &Symbol, output: &mut Vec<u32>) {
        let piece = self.piece(symbol);
        if let Some(&id) = self.vocab.ids.get(piece) {
            output.push(id);
            return;
        }
        match self.merged_from.get(piece) {
            Some(&(left, right)) => {
                self.resegment(&self.symbols[left], output);
                self.resegment(&self.symbols[right], output);
            }
            None => output.extend(
                piece
                    .bytes()
                    .filter_map(|b| self.vocab.ids.get(&format!("<0x{b:02X}>")).copied()),
            ),
        }
    }
}

/// Tokenizes one raw-text fragment (spaces already escaped to '▁').
pub fn encode_fragment(vocab: &Vocab, text: &str, output: &mut Vec<u32>) {
    Session::new(vocab, text).run(output);
}
