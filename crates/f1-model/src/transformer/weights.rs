//! The model's weights under their Hugging Face names, and the conversions between
//! GGUF's layout (what we hold) and Hugging Face's (what PEFT and safetensors
//! folders use).

use candle_core::quantized::QMatMul;
use candle_core::{Result, Tensor};

use super::config::{Architecture, RopeStyle, TransformerConfig};
use super::linear::Linear;
use super::{Attention, Block, Mlp, RmsNorm, Transformer};

/// The projections LoRA can adapt, by their Hugging Face module names.
pub const PROJECTIONS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

impl Transformer {
    /// Every projection of every block with its module path, such as
    /// `model.layers.3.self_attn.q_proj`.
    pub fn projections_mut(&mut self) -> Vec<(String, &mut Linear)> {
        projections(&mut self.blocks)
    }

    /// Whether each row of every projection comes out the same however the rows
    /// group into sequences (see [`Linear::rows_independent`]).
    pub(crate) fn rows_independent(&mut self) -> bool {
        self.blocks.iter_mut().all(|block| {
            let (linears, _) = split_block(&mut block.attention, &mut block.mlp);
            linears.iter().all(|linear| linear.rows_independent())
        })
    }

    /// How many weights the model has, quantized projections included (LoRA
    /// adapters not; a tied head counted once).
    pub fn parameter_count(&mut self) -> Result<usize> {
        let dense: usize = self.weights_mut().iter().map(|(_, w)| w.elem_count()).sum();
        let mut quantized = 0;
        let untied_head = (!self.tied_embeddings).then_some(&mut self.lm_head);
        for linear in projections(&mut self.blocks)
            .into_iter()
            .map(|(_, linear)| linear)
            .chain(untied_head)
        {
            if linear.dense_weight_mut().is_none() {
                let (out, input) = linear.dims()?;
                quantized += out * input;
            }
        }
        Ok(dense + quantized)
    }

    /// Every dense weight with its Hugging Face tensor name. Projections must be
    /// f32 (`WeightFormat::F32`); quantized ones are left out. A tied head is not
    /// listed: call [`Transformer::retie_head`] after replacing the embedding.
    pub fn weights_mut(&mut self) -> Vec<(String, &mut Tensor)> {
        let gemma = self.config.architecture == Architecture::Gemma3;
        let mut all: Vec<(String, &mut Tensor)> =
            vec![("model.embed_tokens.weight".into(), &mut self.embedding)];
        for (index, block) in self.blocks.iter_mut().enumerate() {
            let layer = format!("model.layers.{index}");
            let mlp_norm = match gemma {
                true => "pre_feedforward_layernorm",
                false => "post_attention_layernorm",
            };
            let (linears, a) = split_block(&mut block.attention, &mut block.mlp);
            for (path, linear) in name_projections(index, linears) {
                if let Some(weight) = linear.dense_weight_mut() {
                    all.push((format!("{path}.weight"), weight));
                }
            }
            let norms = [
                ("input_layernorm", Some(&mut block.attention_norm)),
                (mlp_norm, Some(&mut block.mlp_norm)),
                (
                    "post_attention_layernorm",
                    block.post_attention_norm.as_mut(),
                ),
                ("post_feedforward_layernorm", block.post_mlp_norm.as_mut()),
                ("self_attn.q_norm", a.0),
                ("self_attn.k_norm", a.1),
            ];
            for (name, norm) in norms {
                if let Some(norm) = norm {
                    all.push((format!("{layer}.{name}.weight"), &mut norm.weight));
                }
            }
        }
        all.push(("model.norm.weight".into(), &mut self.norm.weight));
        if !self.tied_embeddings {
            if let Some(weight) = self.lm_head.dense_weight_mut() {
                all.push(("lm_head.weight".into(), weight));
            }
        }
        all
    }

    /// Points a tied head at the (possibly replaced) embedding matrix again.
    pub fn retie_head(&mut self) {
        if self.tied_embeddings {
            self.lm_head = Linear::new(QMatMul::Tensor(self.embedding.clone()));
        }
    }

    /// A weight as Hugging Face stores it: llama.cpp's converter permutes the
    /// query and key rows of Llama models for its interleaved RoPE, and stores
    /// Gemma's norm scales as `1 + w`. LoRA B matrices (`...lora_B.weight`) of
    /// queries and keys have their rows permuted the same way.
    pub fn to_hugging_face(&self, name: &str, tensor: &Tensor) -> Result<Tensor> {
        self.convert(name, tensor, true)
    }

    /// The inverse of [`Transformer::to_hugging_face`].
    pub fn from_hugging_face(&self, name: &str, tensor: &Tensor) -> Result<Tensor> {
        self.convert(name, tensor, false)
    }

    fn convert(&self, name: &str, tensor: &Tensor, to_hugging_face: bool) -> Result<Tensor> {
        convert(&self.config, name, tensor, to_hugging_face)
    }
}

/// A tensor of a model with `config` between GGUF's and Hugging Face's layout
/// (see [`Transformer::to_hugging_face`]).
pub(super) fn convert(
    c: &TransformerConfig,
    name: &str,
    tensor: &Tensor,
    to_hugging_face: bool,
) -> Result<Tensor> {
    let rows_of = |module: &str| {
        name.ends_with(&format!("{module}.weight"))
            || name.ends_with(&format!("{module}.lora_B.weight"))
    };
    if c.rope_style == RopeStyle::Interleaved {
        for (module, heads) in [("q_proj", c.heads), ("k_proj", c.kv_heads)] {
            if rows_of(module) {
                return permute_rows(tensor, heads, to_hugging_face);
            }
        }
    }
    if c.architecture == Architecture::Gemma3 && name.ends_with("norm.weight") {
        return if to_hugging_face {
            tensor - 1.0
        } else {
            tensor + 1.0
        };
    }
    Ok(tensor.clone())
}

fn projections(blocks: &mut [Block]) -> Vec<(String, &mut Linear)> {
    let mut all = Vec::new();
    for (index, block) in blocks.iter_mut().enumerate() {
        let (linears, _) = split_block(&mut block.attention, &mut block.mlp);
        all.extend(name_projections(index, linears));
    }
    all
}

type QkNorms<'a> = (Option<&'a mut RmsNorm>, Option<&'a mut RmsNorm>);

/// A block's seven projections (in [`PROJECTIONS`] order) and its q/k norms,
/// borrowed apart.
fn split_block<'a>(a: &'a mut Attention, m: &'a mut Mlp) -> ([&'a mut Linear; 7], QkNorms<'a>) {
    (
        [
            &mut a.q,
            &mut a.k,
            &mut a.v,
            &mut a.o,
            &mut m.gate,
            &mut m.up,
            &mut m.down,
        ],
        (a.q_norm.as_mut(), a.k_norm.as_mut()),
    )
}

fn name_projections(index: usize, linears: [&mut Linear; 7]) -> Vec<(String, &mut Linear)> {
    PROJECTIONS
        .iter()
        .zip(linears)
        .enumerate()
        .map(|(i, (name, linear))| {
            let part = if i < 4 { "self_attn" } else { "mlp" };
            (format!("model.layers.{index}.{part}.{name}"), linear)
        })
        .collect()
}

/// Within each head, GGUF row `2i + s` is Hugging Face row `s * d/2 + i`
/// (llama.cpp's `permute`); `to_hugging_face` undoes it, otherwise it is applied.
fn permute_rows(tensor: &Tensor, heads: usize, to_hugging_face: bool) -> Result<Tensor> {
    let dims = tensor.dims().to_vec();
    let half = dims[0] / heads / 2;
    let (a, b) = if to_hugging_face {
        (half, 2)
    } else {
        (2, half)
    };
    let mut shape = vec![heads, a, b];
    shape.extend(&dims[1..]);
    tensor
        .reshape(shape)?
        .transpose(1, 2)?
        .contiguous()?
        .reshape(dims)
}
