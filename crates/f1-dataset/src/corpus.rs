//! The knowledge base as fact sentences: every family's full-sentence answers, the
//! passages retrieval-augmented prompts draw on.

use f1_data::KnowledgeBase;

use crate::families::{self, FactContext};
use crate::Result;

/// Every fact of every family (no cap), as one sentence each.
pub fn fact_sentences(kb: &KnowledgeBase) -> Result<Vec<String>> {
    let ctx = FactContext::load(kb)?;
    let mut sentences = Vec::new();
    for family in families::all() {
        sentences.extend((family.facts)(&ctx)?.into_iter().map(|fact| fact.full));
    }
    Ok(sentences)
}
