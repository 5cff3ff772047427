//! The causal language-modelling loss over the assistant's tokens.

use candle_core::{Tensor, D};
use f1_model::transformer::{ForwardOptions, Transformer};

use crate::data::Batch;
use crate::error::Result;

/// The summed negative log-likelihood of the batch's scored tokens, ready for a
/// backward pass.
pub fn summed_nll(
    model: &mut Transformer,
    batch: &Batch,
    options: &ForwardOptions,
) -> Result<Tensor> {
    let hidden = scored_hidden(model, batch, options)?;
    Ok(model.summed_nll(&hidden, &batch.targets, options)?)
}

/// The same sum as a number, with no gradient prepared.
pub fn summed_nll_value(
    model: &mut Transformer,
    batch: &Batch,
    options: &ForwardOptions,
) -> Result<f64> {
    let hidden = scored_hidden(model, batch, options)?.detach();
    let nll = model.summed_nll(&hidden, &batch.targets, options)?;
    Ok(f64::from(nll.to_scalar::<f32>()?))
}

/// The log-probability of each scored token, in the batch's position order.
pub fn target_log_probs(
    model: &mut Transformer,
    batch: &Batch,
    options: &ForwardOptions,
) -> Result<Vec<f32>> {
    let hidden = scored_hidden(model, batch, options)?;
    let logits = model.logits(&hidden)?;
    let targets = Tensor::new(batch.targets.as_slice(), model.device())?;
    let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    Ok(log_probs
        .gather(&targets.unsqueeze(1)?, 1)?
        .squeeze(1)?
        .to_vec1()?)
}

/// Hidden states (scored tokens, hidden size) at the positions that predict a
/// scored token. Only these reach the vocabulary projection, which saves most of
/// the largest matmul.
fn scored_hidden(
    model: &mut Transformer,
    batch: &Batch,
    options: &ForwardOptions,
) -> Result<Tensor> {
    let device = model.device().clone();
    let rows = batch.ids.len();
    let width = batch.ids.first().map_or(0, Vec::len);
    let ids: Vec<u32> = batch.ids.concat();
    let ids = Tensor::from_vec(ids, (rows, width), &device)?;
    let hidden = model.hidden_states_packed(&ids, &batch.packing(), options)?;
    let hidden = hidden.reshape((rows * width, model.config.hidden_size))?;
    let positions = Tensor::new(batch.positions.as_slice(), &device)?;
    Ok(hidden.index_select(&positions, 0)?)
}
