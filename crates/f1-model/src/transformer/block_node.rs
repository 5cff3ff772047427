//! A decoder block's training pass on the CPU as one autograd node, with a
//! backward pass of its own.
//!
//! With one node per kernel (norms, projections, attention, the gated
//! activation, two residual adds) a block is a dozen candle nodes, and candle's
//! backward allocates a zeroed gradient and adds into it for every input of every
//! node, on one thread while the pool's other threads wait. Here the block's
//! kernels run outside candle's graph and keep what their backward needs; the
//! node's backward calls each kernel's backward in reverse, handing gradients
//! straight on and adding only where a value feeds two paths (the residuals and
//! the input q, k and v share). The trained weights are not the node's inputs, so
//! their gradients go to a [`GradientSink`] that `Transformer::backward` merges
//! with candle's.

#[cfg(target_arch = "x86_64")]
use std::cell::OnceCell;
use std::sync::{Arc, Mutex, PoisonError};

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::attention_core::{AttentionCore, Rotation};
use super::autograd::{self, FrozenMatmul, KeptInput, TrainedMatmul};
use super::config::Architecture;
use super::cpu_pool::{new_chunked, piece};
use super::gated_activation::{Activation, GatedActivation};
use super::gradient_sink::GradientSink;
use super::layers::{Block, ForwardOptions, RmsNorm};
use super::linear::{Linear, TrainingKernel};
use super::lora_projection::LoraProjection;
use super::rope::Positions;
use super::stochastic_rounding::RoundingSeed;
use super::tensor_values::values;
use super::Kernels;
#[cfg(target_arch = "x86_64")]
use super::{matrix::Matrix, packed_input::PackedInput};

/// `block` applied to `x` as one node when this is a training pass on the CPU
/// over whole sequences and every projection has a kernel here; `None` (nothing
/// run) otherwise.
pub(crate) fn forward(
    block: &Block,
    x: &Tensor,
    positions: Positions,
    mask: Option<&Tensor>,
    options: &ForwardOptions,
    gradients: &GradientSink,
) -> Result<Option<Tensor>> {
    let training = options.kernels == Kernels::Differentiable
        && x.device().is_cpu()
        && positions.start == 0
        && !options.use_cache;
    if !training {
        return Ok(None);
    }
    let input = x.detach().contiguous()?;
    let Some((pass, output)) = BlockPass::run(block, &input, positions, mask, options)? else {
        return Ok(None);
    };
    // candle records a node only when an input tracks gradients; the block's
    // input does not in the first block of a LoRA model, its trained weights do.
    let anchor = pass.trained_tensor().unwrap_or_else(|| x.clone());
    let node = BlockNode {
        pass: Mutex::new(Some(pass)),
        output: Mutex::new(Some(output)),
        gradients: gradients.clone(),
    };
    x.apply_op2(&anchor, node).map(Some)
}

/// The candle node: its input is the block's input (and one trained tensor, so
/// that it is recorded), its value the block's output computed beforehand.
struct BlockNode {
    /// Taken by the backward call, which frees the block's activations as soon
    /// as it is done with them (candle keeps its nodes until the pass ends).
    pass: Mutex<Option<BlockPass>>,
    /// Taken by the forward call.
    output: Mutex<Option<Vec<f32>>>,
    gradients: GradientSink,
}

impl CustomOp2 for BlockNode {
    fn name(&self) -> &'static str {
        "decoder-block"
    }

    fn cpu_fwd(
        &self,
        _x: &CpuStorage,
        x_layout: &Layout,
        _anchor: &CpuStorage,
        _anchor_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let output = take(&self.output, "forward")?;
        Ok((CpuStorage::F32(output), x_layout.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _anchor: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let pass = take(&self.pass, "backward")?;
        let grad_x = pass.backward(&grad.contiguous()?, &self.gradients)?;
        Ok((x.track_op().then_some(grad_x), None))
    }
}

/// Moves the value out of `slot`, which only the node's one `step` call may do.
fn take<T>(slot: &Mutex<Option<T>>, step: &str) -> Result<T> {
    slot.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .ok_or_else(|| candle_core::Error::Msg(format!("decoder block: {step} ran twice")))
}

/// Values per work item of the block's output sum.
const SUM_CHUNK: usize = 16_384;

/// One block's forward pass, keeping what its backward needs:
/// `mid = x + attention(x)`, `y = mid + mlp(mid)`.
struct BlockPass {
    attention: AttentionBranch,
    mlp: MlpBranch,
}

impl BlockPass {
    /// The pass and the block's output, or `None` when a projection has no
    /// kernel here.
    fn run(
        block: &Block,
        x: &Tensor,
        positions: Positions,
        mask: Option<&Tensor>,
        options: &ForwardOptions,
    ) -> Result<Option<(Self, Vec<f32>)>> {
        let Some((attention, attended)) = AttentionBranch::run(block, x, positions, mask, options)?
        else {
            return Ok(None);
        };
        let mid = (x + attended)?;
        let Some((mlp, out)) = MlpBranch::run(block, &mid, options)? else {
            return Ok(None);
        };
        let (mid, out) = (values(&mid)?, values(&out)?);
        let [output] = new_chunked(
            [(mid.len(), SUM_CHUNK)],
            mid.len().div_ceil(SUM_CHUNK),
            |index, [sum]| {
                let (mid, out) = (piece(&mid, SUM_CHUNK, index), piece(&out, SUM_CHUNK, index));
                for ((sum, m), o) in sum.iter_mut().zip(mid).zip(out) {
                    *sum = m + o;
                }
                Ok(())
            },
        )?;
        Ok(Some((Self { attention, mlp }, output)))
    }

    /// The gradient of the block's input; the weights' go to `sink`.
    /// Each kernel's activations are freed as soon as its backward is done.
    fn backward(self, grad: &Tensor, sink: &GradientSink) -> Result<Tensor> {
        let grad_mid = (grad + self.mlp.backward(grad, sink)?)?;
        &grad_mid + self.attention.backward(&grad_mid, sink)?
    }

    /// A tensor of the block that is trained, if any.
    fn trained_tensor(&self) -> Option<Tensor> {
        let (a, m) = (&self.attention, &self.mlp);
        let projections = [&a.q, &a.k, &a.v, &a.o, &m.gate, &m.up, &m.down];
        let norms = [Some(&a.norm), Some(&m.norm), a.q_norm.as_ref()]
            .into_iter()
            .chain([
                a.k_norm.as_ref(),
                a.post_norm.as_ref(),
                m.post_norm.as_ref(),
            ])
            .flatten();
        projections
            .into_iter()
            .filter_map(Projected::trained)
            .chain(norms.filter_map(Normed::trained))
            .next()
            .cloned()
    }
}

/// `post_norm(o(attention(q(h), k(h), v(h))))` with `h = norm(x)`.
struct AttentionBranch {
    norm: Normed,
    q: Projected,
    k: Projected,
    v: Projected,
    /// Gemma 3's per-head norms of queries and keys.
    q_norm: Option<Normed>,
    k_norm: Option<Normed>,
    core: AttentionCore,
    /// The core's inputs.
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    o: Projected,
    post_norm: Option<Normed>,
}

impl AttentionBranch {
    fn run(
        block: &Block,
        x: &Tensor,
        positions: Positions,
        mask: Option<&Tensor>,
        options: &ForwardOptions,
    ) -> Result<Option<(Self, Tensor)>> {
        let attention = &block.attention;
        let (batch, tokens, _) = x.dims3()?;
        let heads = attention.heads();
        let (norm, h) = Normed::run(&block.attention_norm, x)?;
        let h = ProjectionInput::new(&h);
        let projected = |linear| Projected::run(linear, &h, options);
        let (Some((q, queries)), Some((k, keys)), Some((v, values))) = (
            projected(&attention.q)?,
            projected(&attention.k)?,
            projected(&attention.v)?,
        ) else {
            return Ok(None);
        };
        let per_head = |count| Shape::from((batch, tokens, count, heads.head_dim));
        let (q_norm, queries) =
            Normed::run_optional(attention.q_norm.as_ref(), queries, per_head(heads.heads))?;
        let (k_norm, keys) =
            Normed::run_optional(attention.k_norm.as_ref(), keys, per_head(heads.kv_heads))?;
        let (cos, sin) = attention.rope.tables(positions, batch, tokens)?;
        let rotation = Rotation {
            cos: &cos,
            sin: &sin,
            interleaved: attention.rope.interleaved(),
        };
        let core = AttentionCore::new(&queries, heads, rotation, mask, options.precision)?;
        let attended = queries.apply_op3_no_bwd(&keys, &values, &core)?;
        let attended = ProjectionInput::new(&attended);
        let Some((o, out)) = Projected::run(&attention.o, &attended, options)? else {
            return Ok(None);
        };
        let shape = out.shape().clone();
        let (post_norm, out) =
            Normed::run_optional(block.post_attention_norm.as_ref(), out, shape)?;
        let branch = Self {
            norm,
            q,
            k,
            v,
            q_norm,
            k_norm,
            core,
            queries,
            keys,
            values,
            o,
            post_norm,
        };
        Ok(Some((branch, out)))
    }

    fn backward(self, grad: &Tensor, sink: &GradientSink) -> Result<Tensor> {
        let grad = Normed::backward_optional(self.post_norm, grad.clone(), sink)?;
        let grad = self.o.backward(&grad, sink)?;
        let (grad_q, grad_k, grad_v) =
            self.core
                .gradients(&self.queries, &self.keys, &self.values, &grad)?;
        drop((self.core, self.queries, self.keys, self.values));
        let grad_q = Normed::backward_optional(self.q_norm, grad_q, sink)?;
        let grad_k = Normed::backward_optional(self.k_norm, grad_k, sink)?;
        let grad_h = ((self.q.backward(&grad_q, sink)? + self.k.backward(&grad_k, sink)?)?
            + self.v.backward(&grad_v, sink)?)?;
        self.norm.backward(&grad_h, sink)
    }
}

/// `post_norm(down(act(gate(h)) * up(h)))` with `h = norm(x)`.
struct MlpBranch {
    norm: Normed,
    gate: Projected,
    up: Projected,
    activation: GatedActivation,
    /// The activation's inputs.
    gates: Tensor,
    ups: Tensor,
    down: Projected,
    post_norm: Option<Normed>,
}

impl MlpBranch {
    fn run(block: &Block, x: &Tensor, options: &ForwardOptions) -> Result<Option<(Self, Tensor)>> {
        let mlp = &block.mlp;
        let (norm, h) = Normed::run(&block.mlp_norm, x)?;
        let h = ProjectionInput::new(&h);
        let (Some((gate, gates)), Some((up, ups))) = (
            Projected::run(&mlp.gate, &h, options)?,
            Projected::run(&mlp.up, &h, options)?,
        ) else {
            return Ok(None);
        };
        let activation = GatedActivation(match mlp.architecture {
            Architecture::Llama => Activation::Silu,
            Architecture::Gemma3 => Activation::GeluTanh,
        });
        let gated = gates.apply_op2_no_bwd(&ups, &activation)?;
        let gated = ProjectionInput::new(&gated);
        let Some((down, out)) = Projected::run(&mlp.down, &gated, options)? else {
            return Ok(None);
        };
        let shape = out.shape().clone();
        let (post_norm, out) = Normed::run_optional(block.post_mlp_norm.as_ref(), out, shape)?;
        let branch = Self {
            norm,
            gate,
            up,
            activation,
            gates,
            ups,
            down,
            post_norm,
        };
        Ok(Some((branch, out)))
    }

    fn backward(self, grad: &Tensor, sink: &GradientSink) -> Result<Tensor> {
        let grad = Normed::backward_optional(self.post_norm, grad.clone(), sink)?;
        let grad = self.down.backward(&grad, sink)?;
        let (grad_gate, grad_up) = self.activation.gradients(&self.gates, &self.ups, &grad)?;
        drop((self.gates, self.ups));
        let grad_h = (self.gate.backward(&grad_gate, sink)? + self.up.backward(&grad_up, sink)?)?;
        self.norm.backward(&grad_h, sink)
    }
}

/// An RMS norm and its input.
struct Normed {
    kernel: autograd::RmsNorm,
    weight: Tensor,
    input: Tensor,
}

impl Normed {
    fn run(norm: &RmsNorm, input: &Tensor) -> Result<(Self, Tensor)> {
        let kernel = norm.kernel();
        let weight = norm.weight.contiguous()?;
        let output = input.apply_op2_no_bwd(&weight, &kernel)?;
        let normed = Self {
            kernel,
            weight,
            input: input.clone(),
        };
        Ok((normed, output))
    }

    /// `norm` (if any) over `input` viewed as `shape`; the output keeps
    /// `input`'s shape.
    fn run_optional(
        norm: Option<&RmsNorm>,
        input: Tensor,
        shape: Shape,
    ) -> Result<(Option<Self>, Tensor)> {
        let Some(norm) = norm else {
            return Ok((None, input));
        };
        let (normed, output) = Self::run(norm, &input.reshape(shape)?)?;
        Ok((Some(normed), output.reshape(input.shape())?))
    }

    fn backward(self, grad: &Tensor, sink: &GradientSink) -> Result<Tensor> {
        let (grad_x, grad_w) = self.kernel.gradients(&self.input, &self.weight, grad)?;
        if let Some(grad_w) = grad_w {
            sink.push(&self.weight, grad_w);
        }
        Ok(grad_x)
    }

    fn backward_optional(norm: Option<Self>, grad: Tensor, sink: &GradientSink) -> Result<Tensor> {
        match norm {
            Some(norm) => {
                let shape = norm.input.shape().clone();
                norm.backward(&grad.reshape(shape)?, sink)?
                    .reshape(grad.shape())
            }
            None => Ok(grad),
        }
    }

    fn trained(&self) -> Option<&Tensor> {
        self.weight.is_variable().then_some(&self.weight)
    }
}

/// A projection's kernel (see `Linear::training_kernel`).
enum ProjectionKernel {
    /// A frozen base and a LoRA adapter.
    Adapted {
        kernel: LoraProjection,
        a: Tensor,
        b: Tensor,
    },
    Frozen(FrozenMatmul),
    Trained {
        kernel: TrainedMatmul,
        weight: Tensor,
    },
}

/// What a projection keeps of its input for the backward pass.
enum SavedInput {
    /// Nothing: a frozen weight's input gradient reads only the output's.
    Nothing,
    Values(Tensor),
    /// Rounded to bf16 and packed for the gradient of the trained weight (or
    /// of a LoRA adapter's A, without dropout), shared by the projections of
    /// one input.
    #[cfg(target_arch = "x86_64")]
    Packed(Arc<PackedInput>),
}

/// The input of one or more projections (q, k and v share one), packed for
/// their weights' gradients at most once.
struct ProjectionInput<'a> {
    values: &'a Tensor,
    #[cfg(target_arch = "x86_64")]
    packed: OnceCell<Arc<PackedInput>>,
}

impl<'a> ProjectionInput<'a> {
    fn new(values: &'a Tensor) -> Self {
        Self {
            values,
            #[cfg(target_arch = "x86_64")]
            packed: OnceCell::new(),
        }
    }

    /// What a projection through `kernel` keeps of this input.
    fn saved(&self, kernel: &ProjectionKernel) -> Result<SavedInput> {
        match kernel {
            ProjectionKernel::Frozen(_) => Ok(SavedInput::Nothing),
            #[cfg(target_arch = "x86_64")]
            ProjectionKernel::Trained { kernel, .. } if PackedInput::read_by(kernel.precision) => {
                self.packed().map(SavedInput::Packed)
            }
            #[cfg(target_arch = "x86_64")]
            ProjectionKernel::Adapted { kernel, .. }
                if !kernel.has_dropout() && PackedInput::read_by(kernel.precision) =>
            {
                self.packed().map(SavedInput::Packed)
            }
            _ => Ok(SavedInput::Values(self.values.clone())),
        }
    }

    /// The input packed (at most once).
    #[cfg(target_arch = "x86_64")]
    fn packed(&self) -> Result<Arc<PackedInput>> {
        if let Some(packed) = self.packed.get() {
            return Ok(packed.clone());
        }
        let columns = self.values.dim(candle_core::D::Minus1)?;
        let x = values(self.values)?;
        let x = Matrix::new(&x, x.len() / columns.max(1), columns)?;
        let packed = Arc::new(PackedInput::pack(x)?);
        let _ = self.packed.set(packed.clone());
        Ok(packed)
    }
}

/// A projection and what it keeps of its input.
struct Projected {
    kernel: ProjectionKernel,
    input: SavedInput,
}

impl Projected {
    /// `None` for a weight multiplied by candle's own kernels (quantized
    /// inference, f16), which have no backward here.
    fn run(
        linear: &Linear,
        input: &ProjectionInput,
        options: &ForwardOptions,
    ) -> Result<Option<(Self, Tensor)>> {
        let precision = options.precision;
        let x = input.values;
        let kernel = match linear.training_kernel() {
            Some(TrainingKernel::Adapted(weight, lora)) => ProjectionKernel::Adapted {
                kernel: LoraProjection::new(
                    x,
                    weight,
                    lora.scale,
                    lora.dropout_mask(x, options.seed)?,
                    precision,
                )?,
                a: lora.a.clone(),
                b: lora.b.clone(),
            },
            Some(TrainingKernel::Frozen(weight)) => {
                ProjectionKernel::Frozen(FrozenMatmul { weight, precision })
            }
            Some(TrainingKernel::Trained(weight)) => ProjectionKernel::Trained {
                kernel: TrainedMatmul {
                    precision,
                    rounding: options.seed.map(|seed| RoundingSeed {
                        seed,
                        stream: linear.rounding_stream,
                    }),
                },
                weight: weight.clone(),
            },
            None => return Ok(None),
        };
        let output = match &kernel {
            ProjectionKernel::Adapted { kernel, a, b } => x.apply_op3_no_bwd(a, b, kernel)?,
            ProjectionKernel::Frozen(kernel) => x.apply_op1_no_bwd(kernel)?,
            ProjectionKernel::Trained { kernel, weight } => x.apply_op2_no_bwd(weight, kernel)?,
        };
        let input = input.saved(&kernel)?;
        Ok(Some((Self { kernel, input }, output)))
    }

    /// The input's gradient; the trained matrices' go to `sink`.
    fn backward(self, grad: &Tensor, sink: &GradientSink) -> Result<Tensor> {
        let x = match &self.input {
            SavedInput::Values(x) => Some(KeptInput::Values(x)),
            #[cfg(target_arch = "x86_64")]
            SavedInput::Packed(x) => Some(KeptInput::Packed(x)),
            SavedInput::Nothing => None,
        };
        let unsaved = || candle_core::Error::Msg("projection: its input was not kept".into());
        match &self.kernel {
            ProjectionKernel::Adapted { kernel, a, b } => {
                let (grad_x, grad_a, grad_b) =
                    kernel.gradients(x.ok_or_else(unsaved)?, a, b, grad)?;
                sink.push(a, grad_a);
                sink.push(b, grad_b);
                Ok(grad_x)
            }
            ProjectionKernel::Frozen(kernel) => kernel.input_gradient(grad),
            ProjectionKernel::Trained { kernel, weight } => {
                let (grad_x, grad_w) = kernel.gradients(x.ok_or_else(unsaved)?, weight, grad)?;
                sink.push(weight, grad_w);
                Ok(grad_x)
            }
        }
    }

    fn trained(&self) -> Option<&Tensor> {
        match &self.kernel {
            ProjectionKernel::Adapted { a, .. } => a.is_variable().then_some(a),
            ProjectionKernel::Frozen(_) => None,
            ProjectionKernel::Trained { weight, .. } => Some(weight),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::{RopeStyle, TransformerConfig};
    use super::super::dense_product::ProductPrecision;
    use super::super::layers::{Attention, Mlp};
    use super::super::linear::Lora;
    use super::super::mask::Masks;
    use super::super::rope::Rope;
    use super::super::test_support::{max_diff, random};
    use super::*;
    use candle_core::quantized::QMatMul;
    use candle_core::{Device, Var};

    const HIDDEN: usize = 32;

    fn config(architecture: Architecture) -> TransformerConfig {
        TransformerConfig {
            architecture,
            vocab_size: 16,
            hidden_size: HIDDEN,
            intermediate_size: 48,
            layers: 1,
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
            rms_norm_eps: 1e-6,
            rope_theta: 10_000.0,
            rope_local_theta: 10_000.0,
            sliding_window: None,
            sliding_pattern: 6,
            rope_style: RopeStyle::Halves,
            max_positions: 16,
        }
    }

    /// Random weights for a block, recording the trained ones.
    struct Weights {
        seed: u64,
        /// Every weight trained, else LoRA adapters (with dropout) on frozen bases.
        full: bool,
        trained: Vec<Tensor>,
    }

    impl Weights {
        /// Values in `around ± 0.3`.
        fn tensor_around(&mut self, around: f64, shape: &[usize], variable: bool) -> Tensor {
            self.seed += 1;
            let t = random(shape, self.seed).affine(0.3, around).unwrap();
            if !variable {
                return t;
            }
            let t = Var::from_tensor(&t).unwrap().as_tensor().clone();
            self.trained.push(t.clone());
            t
        }

        fn tensor(&mut self, shape: &[usize], variable: bool) -> Tensor {
            self.tensor_around(0.0, shape, variable)
        }

        fn linear(&mut self, out: usize, input: usize) -> Linear {
            let full = self.full;
            let mut linear = Linear::new(QMatMul::Tensor(self.tensor(&[out, input], full)));
            if !full {
                linear.lora = Some(Lora {
                    a: self.tensor(&[2, input], true),
                    b: self.tensor(&[out, 2], true),
                    scale: 2.0,
                    dropout: 0.25,
                    stream: self.seed,
                });
            }
            linear
        }

        fn norm(&mut self, size: usize) -> RmsNorm {
            RmsNorm::new(self.tensor_around(1.0, &[size], self.full), 1e-6)
        }

        fn optional_norm(&mut self, size: usize, architecture: Architecture) -> Option<RmsNorm> {
            (architecture == Architecture::Gemma3).then(|| self.norm(size))
        }

        fn block(&mut self, architecture: Architecture) -> Block {
            let c = config(architecture);
            let (q, kv) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
            let (wq, wk, wv) = (
                self.linear(q, HIDDEN),
                self.linear(kv, HIDDEN),
                self.linear(kv, HIDDEN),
            );
            let wo = self.linear(HIDDEN, q);
            let q_norm = self.optional_norm(c.head_dim, architecture);
            let k_norm = self.optional_norm(c.head_dim, architecture);
            let rope =
                Rope::new(c.head_dim, 10_000.0, 16, RopeStyle::Halves, &Device::Cpu).unwrap();
            Block {
                attention_norm: self.norm(HIDDEN),
                attention: Attention::new(wq, wk, wv, wo, q_norm, k_norm, rope, &c),
                post_attention_norm: self.optional_norm(HIDDEN, architecture),
                mlp_norm: self.norm(HIDDEN),
                mlp: Mlp {
                    gate: self.linear(c.intermediate_size, HIDDEN),
                    up: self.linear(c.intermediate_size, HIDDEN),
                    down: self.linear(HIDDEN, c.intermediate_size),
                    architecture,
                },
                post_mlp_norm: self.optional_norm(HIDDEN, architecture),
                sliding: false,
            }
        }
    }

    /// The block node's output and its gradients for the input and every trained
    /// tensor equal those of candle's backward through one node per kernel, for
    /// LoRA with dropout and for full training, in both architectures.
    #[test]
    fn gradients_match_the_node_per_kernel_pass() {
        let (batch, tokens) = (2, 5);
        for architecture in [Architecture::Llama, Architecture::Gemma3] {
            for full in [false, true] {
                let mut weights = Weights {
                    seed: 0,
                    full,
                    trained: Vec::new(),
                };
                let mut block = weights.block(architecture);
                let trained = weights.trained;
                let c = config(architecture);
                let masks = Masks::new(&c, batch, tokens, 0, &[], &Device::Cpu).unwrap();
                let mask = masks.for_block(false);
                let positions = Positions::new(0, &[]);
                let options = ForwardOptions::training(Some(11), ProductPrecision::F32);
                let x = Var::from_tensor(&random(&[batch, tokens, HIDDEN], 99)).unwrap();
                let x = x.as_tensor();
                let r = random(&[batch, tokens, HIDDEN], 98);
                let sink = GradientSink::default();
                let by_block = forward(&block, x, positions, mask, &options, &sink)
                    .unwrap()
                    .expect("every projection has a kernel here");
                let mut block_grads = (&by_block * &r).unwrap().sum_all().unwrap().backward();
                let block_grads = block_grads.as_mut().unwrap();
                sink.merge_into(block_grads).unwrap();
                let by_node = block.forward(x, positions, mask, &options).unwrap();
                let node_grads = (&by_node * &r)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let case = format!("{architecture:?}, full {full}");
                assert!(
                    max_diff(&by_block, &by_node) < 1e-5,
                    "{case}: outputs differ"
                );
                assert!(!trained.is_empty());
                for (i, t) in std::iter::once(x).chain(&trained).enumerate() {
                    let expected = node_grads.get(t).expect("candle's gradient");
                    let got = block_grads
                        .get(t)
                        .unwrap_or_else(|| panic!("{case}: no gradient {i}"));
                    let diff = max_diff(got, expected);
                    assert!(diff < 1e-4, "{case}: gradient {i} differs by {diff}");
                }
            }
        }
    }
}
