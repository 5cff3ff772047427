//! A BM25 index over fact sentences (the `bm25` crate: English stemming and stop
//! words, k1 = 1.2, b = 0.75).

use bm25::{Language, SearchEngine, SearchEngineBuilder};

/// Fact sentences, searchable by a question.
pub struct FactIndex {
    sentences: Vec<String>,
    engine: SearchEngine<u32>,
}

impl FactIndex {
    pub fn new(sentences: Vec<String>) -> Self {
        let engine =
            SearchEngineBuilder::<u32>::with_corpus(Language::English, sentences.iter().cloned())
                .build();
        Self { sentences, engine }
    }

    /// The `k` sentences that best match `query`, best first; equal scores in
    /// corpus order. (The crate's own cut at `k` breaks ties in hash order, which
    /// changes from one process to the next.)
    pub fn search(&self, query: &str, k: usize) -> Vec<&str> {
        let mut hits: Vec<(f32, u32)> = self
            .engine
            .search(query, None)
            .into_iter()
            .map(|hit| (hit.score, hit.document.id))
            .collect();
        hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        hits.into_iter()
            .take(k)
            .map(|(_, id)| self.sentences[id as usize].as_str())
            .collect()
    }
}
