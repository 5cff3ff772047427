//! `f1ai chat`: the terminal chat.

use anyhow::{Context, Result};
use f1_baseline::FactIndex;
use f1_data::KnowledgeBase;
use f1_model::generate::GenerationConfig;
use f1_serve::catalog::Catalog;
use f1_serve::terminal::{ChatSession, Grounding};

use crate::cli::ChatArgs;
use crate::workspace::Workspace;

pub fn run(args: ChatArgs, workspace: &Workspace) -> Result<()> {
    let device = args.choice.device.open()?;
    let sources = crate::catalog::sources(
        workspace,
        &args.choice.models,
        args.choice.adapter.as_deref(),
    )?;
    // With --adapter the adapter is who the user came to talk to.
    let first = if args.choice.adapter.is_some() {
        sources.last()
    } else {
        sources.first()
    }
    .map(|s| s.id.clone())
    .expect("sources are never empty");
    let index = if args.rag {
        let kb = KnowledgeBase::open(&workspace.database())
            .context("--rag reads the knowledge base: run `f1ai data import` first")?;
        Some(FactIndex::new(f1_dataset::corpus::fact_sentences(&kb)?))
    } else {
        None
    };
    let toolbox = if args.tools {
        Some(
            f1_tools::Toolbox::open(&workspace.database())
                .context("--tools reads the knowledge base: run `f1ai data import` first")?,
        )
    } else {
        None
    };
    let grounding = match (&index, &toolbox) {
        (Some(index), _) => Some(Grounding::Retrieval {
            index,
            facts: args.facts,
        }),
        (None, Some(toolbox)) => Some(Grounding::Tools(toolbox)),
        (None, None) => None,
    };
    let config = GenerationConfig {
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        seed: args.seed,
        ..GenerationConfig::default()
    };
    let catalog = Catalog::new(sources, device)?.with_precision(args.precision.get());
    let mut session = ChatSession::new(catalog, &first, config, grounding)?;
    let stdin = std::io::stdin();
    session.run(stdin.lock(), &mut std::io::stdout())?;
    Ok(())
}
