//! The repository's training configurations parse and validate.

use std::path::PathBuf;

use f1_train::{Method, TrainConfig};

fn config(name: &str) -> TrainConfig {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../config")
        .join(name);
    TrainConfig::read(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_shipped_configurations_are_valid() {
    let lora = config("lora_config.yaml");
    assert_eq!(lora.method, Method::Lora);
    assert_eq!(lora.lora.r, 16);
    assert_eq!(lora.model, "smollm2");
    let full = config("training_config.yaml");
    assert_eq!(full.method, Method::Full);
    assert!(!full.full.freeze_embeddings);
    assert_ne!(lora.run_name, full.run_name);
}
