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

    /// The `k` sentences that best match `query`, best first.
    pub fn search(&self, query: &str, k: usize) -> Vec<&str> {
        self.engine
            .search(query, k)
            .into_iter()
            .map(|hit| self.sentences[hit.document.id as usize].as_str())
            .collect()
    }
}
