//! The knowledge base as fact sentences: every family's full-sentence answers, the
//! passages retrieval-augmented prompts draw on.

use f1_data::KnowledgeBase;

use crate::families::{self, FactContext};
use crate::Result;

/// One retrievable sentence and the fact it states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    pub fact_id: String,
    pub text: String,
}

/// Every fact of every family (no cap), as one sentence each.
pub fn fact_sentences(kb: &KnowledgeBase) -> Result<Vec<Passage>> {
    let ctx = FactContext::load(kb)?;
    let mut passages = Vec::new();
    for family in families::all() {
        for fact in (family.facts)(&ctx)? {
            passages.push(Passage {
                fact_id: fact.id,
                text: fact.full,
            });
        }
    }
    Ok(passages)
}
