//! Compares next-token logits with llama.cpp's golden values, prompt by prompt:
//! `cargo run --release -p f1-model --example logits_diff -- MODEL.gguf GOLDEN.jsonl`
//! (golden files: ../shared/golden/logits/). Prints, per prompt, whether the top-10
//! sets and the top-1 agree and the largest logit difference on llama.cpp's top 10.

use std::collections::BTreeSet;

use candle_core::Device;
use f1_model::model::GgufModel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, golden] = args.as_slice() else {
        return Err("usage: logits_diff MODEL.gguf GOLDEN.jsonl".into());
    };
    let mut model = GgufModel::load(std::path::Path::new(model), &Device::Cpu)?;
    println!(
        "{:<52} {:>8} {:>6} {:>10}",
        "prompt", "top-10", "top-1", "max |Δ|"
    );
    for line in std::fs::read_to_string(golden)?.lines() {
        let case: serde_json::Value = serde_json::from_str(line)?;
        let numbers = |key: &str| -> Vec<f64> {
            case[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_f64())
                .collect()
        };
        let ids: Vec<u32> = numbers("ids").iter().map(|&v| v as u32).collect();
        let top: Vec<usize> = numbers("top10_ids").iter().map(|&v| v as usize).collect();
        let expected = numbers("top10_logits");
        let logits = model.forward(&ids, 0)?;
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|a, b| logits[*b].total_cmp(&logits[*a]));
        let same_set =
            order[..10].iter().collect::<BTreeSet<_>>() == top.iter().collect::<BTreeSet<_>>();
        let worst = top
            .iter()
            .zip(&expected)
            .map(|(&id, &want)| (f64::from(logits[id]) - want).abs())
            .fold(0.0, f64::max);
        println!(
            "{:<52} {:>8} {:>6} {:>10.4}",
            format!("{:?}", case["prompt"].as_str().unwrap_or("")),
            if same_set { "same" } else { "differs" },
            if order[0] == top[0] {
                "same"
            } else {
                "differs"
            },
            worst
        );
    }
    Ok(())
}
