//! The trainer's gradients against central finite differences on tiny random
//! Llama and Gemma 3 models, for LoRA and for full fine-tuning.

mod common;

use candle_core::{Device, Tensor};
use f1_model::transformer::{bf16_kernel, ProductPrecision, BF16_KERNEL_VARIABLE};
use f1_train::config::{LoraConfig, Method, TrainConfig};
use f1_train::trainable::Parameter;
use f1_train::training_model::TrainingModel;

fn config(method: Method) -> TrainConfig {
    serde_norway::from_str(&format!(
        "run_name: grad\nmodel: tiny\nmethod: {}\n",
        if method == Method::Lora {
            "lora"
        } else {
            "full"
        }
    ))
    .unwrap()
}

fn set_element(parameter: &Parameter, index: usize, value: f32) {
    let t = parameter.var.as_tensor();
    let mut values: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
    values[index] = value;
    let replaced = Tensor::from_vec(values, t.shape(), &Device::Cpu).unwrap();
    parameter.var.set(&replaced).unwrap();
}

fn element(tensor: &Tensor, index: usize) -> f32 {
    tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap()[index]
}

/// Compares d(loss)/d(w) with (loss(w + h) - loss(w - h)) / 2h (the f32 loss)
/// at a few elements of each chosen parameter, to within 2e-3 plus `relative`
/// of the larger.
fn check(model: &mut TrainingModel, names: &[&str], relative: f64) {
    let batch = common::two_conversations(model);
    let (_, gradients) = model.gradients(std::slice::from_ref(&batch), None).unwrap();
    let h = 1e-2f32;
    let mut checked = 0;
    for name in names {
        let i = model
            .parameters
            .iter()
            .position(|p| p.name.ends_with(name))
            .unwrap_or_else(|| panic!("no parameter named *{name}"));
        let count = model.parameters[i].var.elem_count();
        for index in [0, count / 3, count - 1] {
            let original = element(model.parameters[i].var.as_tensor(), index);
            set_element(&model.parameters[i], index, original + h);
            let plus = model.evaluate(std::slice::from_ref(&batch)).unwrap();
            set_element(&model.parameters[i], index, original - h);
            let minus = model.evaluate(std::slice::from_ref(&batch)).unwrap();
            set_element(&model.parameters[i], index, original);
            let numeric = (plus - minus) / (2.0 * h as f64);
            let analytic = element(&gradients[i], index) as f64;
            let tolerance = 2e-3 + relative * numeric.abs().max(analytic.abs());
            assert!(
                (numeric - analytic).abs() <= tolerance,
                "{name}[{index}]: analytic {analytic}, finite difference {numeric}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, names.len() * 3);
}

/// The tolerance relative to the gradient: f32 products leave only finite
/// differencing's error; bf16 operands (8 significant bits, relative rounding
/// up to 2^-9 each) move a gradient by about a percent more.
fn relative_tolerance(precision: ProductPrecision) -> f64 {
    match precision {
        ProductPrecision::F32 => 2e-2,
        ProductPrecision::Bf16 => 5e-2,
    }
}

/// Prints the bf16 kernel, and checks it is the one `F1AI_BF16_KERNEL` asks
/// for, if any (scripts/test.sh runs these tests on a second kernel so).
fn say_which_bf16_kernel() {
    let kernel = bf16_kernel();
    println!("bf16 products on {kernel:?}");
    if let Ok(requested) = std::env::var(BF16_KERNEL_VARIABLE) {
        let name = format!("{kernel:?}").to_lowercase();
        assert_eq!(
            name,
            requested.trim().replace('-', ""),
            "the requested kernel"
        );
    }
}

#[test]
fn lora_gradients_match_finite_differences() {
    lora_gradients_at(ProductPrecision::F32);
}

#[test]
fn bf16_lora_gradients_match_finite_differences() {
    lora_gradients_at(ProductPrecision::Bf16);
}

fn lora_gradients_at(precision: ProductPrecision) {
    say_which_bf16_kernel();
    let dir = tempfile::tempdir().unwrap();
    for name in ["smollm2", "gemma3"] {
        let path = common::tiny_model(name, dir.path(), 3);
        let mut config = config(Method::Lora);
        config.precision = precision;
        config.lora = LoraConfig {
            r: 4,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "down_proj",
            ]
            .map(String::from)
            .to_vec(),
        };
        let mut model = TrainingModel::load(&path, &config, &Device::Cpu).unwrap();
        common::randomize_lora_b(&model);
        check(
            &mut model,
            &[
                "layers.0.self_attn.q_proj.lora_A.weight",
                "layers.0.self_attn.k_proj.lora_B.weight",
                "layers.1.self_attn.v_proj.lora_A.weight",
                "layers.1.self_attn.o_proj.lora_B.weight",
                "layers.0.mlp.gate_proj.lora_A.weight",
                "layers.1.mlp.down_proj.lora_B.weight",
            ],
            relative_tolerance(precision),
        );
    }
}

#[test]
fn full_gradients_match_finite_differences() {
    full_gradients_at(ProductPrecision::F32);
}

#[test]
fn bf16_full_gradients_match_finite_differences() {
    full_gradients_at(ProductPrecision::Bf16);
}

fn full_gradients_at(precision: ProductPrecision) {
    say_which_bf16_kernel();
    let dir = tempfile::tempdir().unwrap();
    for (name, norms) in [
        ("smollm2", vec!["layers.1.post_attention_layernorm.weight"]),
        (
            "gemma3",
            vec![
                "layers.0.self_attn.q_norm.weight",
                "layers.1.post_feedforward_layernorm.weight",
            ],
        ),
    ] {
        let path = common::tiny_model(name, dir.path(), 5);
        let mut config = config(Method::Full);
        config.precision = precision;
        let mut model = TrainingModel::load(&path, &config, &Device::Cpu).unwrap();
        let mut names = vec![
            "model.embed_tokens.weight",
            "layers.0.input_layernorm.weight",
            "layers.0.self_attn.q_proj.weight",
            "layers.1.self_attn.k_proj.weight",
            "layers.0.mlp.up_proj.weight",
            "layers.1.mlp.down_proj.weight",
            "model.norm.weight",
        ];
        names.extend(norms);
        check(&mut model, &names, relative_tolerance(precision));
    }
}

#[test]
fn lora_over_quantized_weights_matches_lora_over_dense_weights() {
    // LoRA keeps the real model's Q4_1 projections quantized and dequantizes them
    // for each product; a model dequantized once at load must give the same
    // numbers.
    use f1_model::transformer::WeightFormat;
    use f1_train::base::BaseModel;

    let path = common::real_model("smollm2");
    let config = config(Method::Lora);
    let mut quantized = TrainingModel::load(&path, &config, &Device::Cpu).unwrap();
    let (_, projection) = quantized.transformer.projections_mut().remove(0);
    assert!(
        projection.dequantize,
        "LoRA's base projections are not kept quantized"
    );
    let base = BaseModel::open(&path).unwrap();
    let mut transformer = base.transformer(WeightFormat::F32, &Device::Cpu).unwrap();
    let parameters =
        f1_train::trainable::attach_lora(&mut transformer, &config.lora, config.training.seed)
            .unwrap();
    let mut dense = TrainingModel {
        tokenizer: base.tokenizer().unwrap(),
        template: base.template(&transformer).unwrap(),
        transformer,
        base,
        parameters,
        precision: config.precision,
    };
    // Quantized projections still count as the model's weights.
    assert_eq!(
        quantized.transformer.parameter_count().unwrap(),
        134_515_008
    );
    assert_eq!(dense.transformer.parameter_count().unwrap(), 134_515_008);
    common::randomize_lora_b(&quantized);
    common::randomize_lora_b(&dense);
    let batch = common::two_conversations(&quantized);
    let (loss_q, gradients_q) = quantized
        .gradients(std::slice::from_ref(&batch), None)
        .unwrap();
    let (loss_d, gradients_d) = dense.gradients(std::slice::from_ref(&batch), None).unwrap();
    assert!(loss_q.is_finite() && loss_q > 0.0);
    assert!(
        (loss_q - loss_d).abs() <= 1e-6 * loss_d,
        "{loss_q} vs {loss_d}"
    );
    for (q, d) in gradients_q.iter().zip(&gradients_d) {
        let diff: f32 = (q - d)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        let scale: f32 = d.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
        assert!(
            diff <= 1e-5 * scale.max(1e-6),
            "gradients differ by {diff} (scale {scale})"
        );
    }
}

/// bf16 full fine-tuning rounds its trained weights stochastically with the
/// step's seed: the same seed gives the same loss and gradients to the bit,
/// another seed another loss, and no seed (as the checks above and
/// evaluation run) rounds to nearest, the same each time. f32 ignores the seed.
#[test]
fn bf16_full_training_rounds_with_the_step_seed() {
    say_which_bf16_kernel();
    let dir = tempfile::tempdir().unwrap();
    let path = common::tiny_model("smollm2", dir.path(), 5);
    let mut config = config(Method::Full);
    config.precision = ProductPrecision::Bf16;
    let mut model = TrainingModel::load(&path, &config, &Device::Cpu).unwrap();
    let batch = common::two_conversations(&model);
    let mut run = |seed| {
        let (loss, gradients) = model.gradients(std::slice::from_ref(&batch), seed).unwrap();
        let values: Vec<Vec<f32>> = gradients
            .iter()
            .map(|g| g.flatten_all().unwrap().to_vec1().unwrap())
            .collect();
        (loss, values)
    };
    let (first, again, other) = (run(Some(1)), run(Some(1)), run(Some(2)));
    assert_eq!(first, again, "the same seed rounded differently");
    assert_ne!(first.0, other.0, "another seed rounded the same way");
    let (nearest, nearest_again) = (run(None), run(None));
    assert_eq!(nearest, nearest_again);
    assert_ne!(nearest.0, first.0, "the seed did not reach the rounding");
    // Rounding moves the loss by about bf16's relative step (2^-8), no more.
    for loss in [first.0, other.0] {
        assert!(
            (loss - nearest.0).abs() <= 1e-2 * nearest.0,
            "{loss} vs {}",
            nearest.0
        );
    }
    config.precision = ProductPrecision::F32;
    let mut model = TrainingModel::load(&path, &config, &Device::Cpu).unwrap();
    let (f32_seeded, _) = model
        .gradients(std::slice::from_ref(&batch), Some(1))
        .unwrap();
    let (f32_unseeded, _) = model.gradients(std::slice::from_ref(&batch), None).unwrap();
    assert_eq!(f32_seeded, f32_unseeded);
}
