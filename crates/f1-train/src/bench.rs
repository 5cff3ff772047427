//! The training-step benchmark: the same work as the PyTorch anchor
//! (../shared/golden/anchors/torch_train_step.py): random token rows, the loss on
//! every position, AdamW, one warm-up step, then the mean of the timed steps.

use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use f1_model::transformer::ProductPrecision;

use crate::config::{LoraConfig, Method, OptimConfig, TrainConfig};
use crate::data::{Batch, Sequence};
use crate::error::Result;
use crate::metrics::{memory_mib, reset_peak_memory};
use crate::optimizer::AdamW;
use crate::trainable::count;
use crate::training_model::TrainingModel;

/// What one benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    pub method: Method,
    /// The products' operands (`f32` or `bf16`).
    pub precision: ProductPrecision,
    /// Where it ran (`cpu`, `cuda:0`).
    pub device: String,
    pub batch: usize,
    pub seq: usize,
    pub trainable_parameters: usize,
    pub seconds_per_step: Vec<f64>,
    pub mean_seconds_per_step: f64,
    pub tokens_per_second: f64,
    pub peak_rss_mib: f64,
    pub first_loss: f64,
    pub last_loss: f64,
}

/// One optimizer step on `batch`: its loss and seconds, the device's queued
/// work included.
fn timed_step(
    model: &mut TrainingModel,
    optimizer: &mut AdamW,
    config: &TrainConfig,
    device: &Device,
    batch: &Batch,
    seed: Option<u64>,
) -> Result<(f64, f64)> {
    let start = Instant::now();
    let (loss, gradients) = model.gradients(std::slice::from_ref(batch), seed)?;
    optimizer.update(
        &model.parameters,
        &gradients,
        1.0,
        config.training.learning_rate,
    )?;
    device.synchronize()?;
    Ok((loss, start.elapsed().as_secs_f64()))
}

/// Times `steps` optimizer steps (after one warm-up) of `method` on `model`.
pub fn bench_train(
    model: &Path,
    method: Method,
    batch: usize,
    seq: usize,
    steps: usize,
    device: &Device,
    precision: ProductPrecision,
) -> Result<TrainBench> {
    // The anchor's settings: LoRA r=16, alpha 32, no dropout on q,k,v,o at lr 1e-4;
    // full fine-tuning at lr 1e-5; no clipping.
    let config = TrainConfig {
        run_name: "bench".into(),
        model: model.display().to_string(),
        method,
        lora: LoraConfig {
            dropout: 0.0,
            ..LoraConfig::default()
        },
        full: Default::default(),
        data: Default::default(),
        probe: Default::default(),
        general_eval: Default::default(),
        training: OptimConfig {
            learning_rate: if method == Method::Lora { 1e-4 } else { 1e-5 },
            max_grad_norm: 0.0,
            ..OptimConfig::default()
        },
        precision,
    };
    reset_peak_memory();
    let mut model = TrainingModel::load(model, &config, device)?;
    let vocab = model.transformer.config.vocab_size as u32;
    let mut rng = StdRng::seed_from_u64(1);
    let rows: Vec<Sequence> = (0..batch)
        .map(|_| Sequence {
            ids: (0..seq).map(|_| rng.random_range(0..vocab)).collect(),
            trained: vec![true; seq],
        })
        .collect();
    let rows: Vec<Vec<&Sequence>> = rows.iter().map(|s| vec![s]).collect();
    let batch_data = Batch::new(&rows);
    let mut optimizer = AdamW::new(&model.parameters, &config.training)?;
    let mut seconds = Vec::new();
    let mut losses = Vec::new();
    for step in 0..=steps {
        let (loss, elapsed) = timed_step(
            &mut model,
            &mut optimizer,
            &config,
            device,
            &batch_data,
            Some(step as u64),
        )?;
        if step > 0 {
            seconds.push(elapsed);
        }
        losses.push(loss);
        tracing::info!("step {step}: loss {loss:.4}, {elapsed:.2}s");
    }
    let mean = seconds.iter().sum::<f64>() / seconds.len().max(1) as f64;
    Ok(TrainBench {
        method,
        precision,
        device: f1_model::device::name(device),
        batch,
        seq,
        trainable_parameters: count(&model.parameters),
        seconds_per_step: seconds,
        mean_seconds_per_step: mean,
        tokens_per_second: (batch * seq) as f64 / mean,
        peak_rss_mib: memory_mib().1,
        first_loss: losses[0],
        last_loss: *losses.last().unwrap_or(&losses[0]),
    })
}

/// One layout's speed on real conversations.
#[derive(Debug, Clone, Serialize)]
pub struct LayoutBench {
    pub packing: bool,
    pub steps: usize,
    /// Conversation tokens trained on in the timed steps (no padding).
    pub real_tokens: usize,
    /// Positions the timed steps computed, padding included.
    pub computed_tokens: usize,
    pub seconds: f64,
    pub real_tokens_per_second: f64,
}

/// Padded against packed rows on the same conversations.
#[derive(Debug, Clone, Serialize)]
pub struct PackingBench {
    pub method: Method,
    pub device: String,
    pub conversations: usize,
    pub batch: usize,
    pub max_seq_len: usize,
    pub padded: LayoutBench,
    pub packed: LayoutBench,
    /// Packed real tokens per second over padded.
    pub speedup: f64,
}

/// Times `steps` optimizer steps with one conversation per padded row and as
/// many as fit in `max_seq_len` per packed row, alternating step by step (after
/// one warm-up step each), on the conversations of `train`. Only real tokens
/// count towards the speed.
pub fn bench_packing(
    model: &Path,
    method: Method,
    train: &Path,
    batch: usize,
    max_seq_len: usize,
    steps: usize,
    device: &Device,
) -> Result<PackingBench> {
    let mut config: TrainConfig = TrainConfig {
        run_name: "bench-packing".into(),
        model: model.display().to_string(),
        method,
        lora: LoraConfig::default(),
        full: Default::default(),
        data: Default::default(),
        probe: Default::default(),
        general_eval: Default::default(),
        training: OptimConfig::default(),
        precision: ProductPrecision::F32,
    };
    config.data.max_seq_len = max_seq_len;
    let mut model = TrainingModel::load(model, &config, device)?;
    let sequences = model.sequences(train, 0, &config)?;
    let layouts = [false, true]
        .map(|packing| crate::data::epoch_batches(&sequences, 1, 0, batch, packing, max_seq_len));
    let mut optimizer = AdamW::new(&model.parameters, &config.training)?;
    let mut results = [false, true].map(|packing| LayoutBench {
        packing,
        steps: 0,
        real_tokens: 0,
        computed_tokens: 0,
        seconds: 0.0,
        real_tokens_per_second: 0.0,
    });
    for step in 0..=steps {
        for (layout, result) in layouts.iter().zip(&mut results) {
            let batch = &layout[step % layout.len()];
            let (_, elapsed) = timed_step(
                &mut model,
                &mut optimizer,
                &config,
                device,
                batch,
                Some(step as u64),
            )?;
            if step > 0 {
                result.steps += 1;
                result.seconds += elapsed;
                result.real_tokens += batch.tokens();
                result.computed_tokens += batch.ids.len() * batch.ids.first().map_or(0, Vec::len);
            }
        }
    }
    for result in &mut results {
        result.real_tokens_per_second = result.real_tokens as f64 / result.seconds.max(1e-9);
    }
    let [padded, packed] = results;
    Ok(PackingBench {
        method,
        device: f1_model::device::name(device),
        conversations: sequences.len(),
        batch,
        max_seq_len,
        speedup: packed.real_tokens_per_second / padded.real_tokens_per_second.max(1e-9),
        padded,
        packed,
    })
}
