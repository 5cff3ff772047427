//! A model trained or merged from a Hugging Face folder is written as GGUF too:
//! the architecture from config.json, the tokenizer from tokenizer.json. For
//! both architectures (Llama with byte-level BPE, Gemma 3 with SentencePiece),
//! the GGUF runs and tokenizes as the GGUF the folder was exported from.

mod common;

use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};
use f1_model::model::GgufModel;
use f1_model::transformer::{ForwardOptions, ProductPrecision, WeightFormat};
use f1_model::Tokenizer;
use f1_train::base::{BaseModel, GGUF_FILE};

const IDS: [u32; 5] = [5, 17, 230, 4000, 77];

fn folder_logits(base: &BaseModel) -> Vec<f32> {
    let mut transformer = base.transformer(WeightFormat::F32, &Device::Cpu).unwrap();
    let input = Tensor::new(&IDS[..], &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    transformer
        .next_token_logits(
            &input,
            0,
            &[],
            &ForwardOptions::training(None, ProductPrecision::F32),
        )
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn check(name: &str, prompt: &str) {
    let dir = tempfile::tempdir().unwrap();
    let original = common::tiny_model(name, dir.path(), 3);
    let folder = dir.path().join("folder");
    f1_train::export::hugging_face(&original, &folder).unwrap();
    let base = BaseModel::open(&folder).unwrap();
    base.check_gguf_export().unwrap();
    let expected = folder_logits(&base);

    let out = dir.path().join("out");
    let mut transformer = base.transformer(WeightFormat::F32, &Device::Cpu).unwrap();
    base.write_full(&out, &mut transformer, Some(GgmlDType::F16))
        .unwrap();
    let gguf = out.join(GGUF_FILE);
    let got = GgufModel::load(&gguf, &Device::Cpu)
        .unwrap()
        .forward(&IDS, 0)
        .unwrap();
    let worst = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 0.02, "{name}: logits differ by {worst}");

    let (written, source) = (
        Tokenizer::from_gguf(&gguf).unwrap(),
        Tokenizer::from_gguf(&original).unwrap(),
    );
    let text = "Max Verstappen won 63 races by 2024, 19 of them in 2023! Räikkönen 🏁";
    assert_eq!(written.encode(text).unwrap(), source.encode(text).unwrap());
    assert_eq!(
        written.encode_prompt(prompt).unwrap(),
        source.encode_prompt(prompt).unwrap()
    );
    assert_eq!(
        written.encode_with_bos(text).unwrap(),
        source.encode_with_bos(text).unwrap()
    );
    assert_eq!((written.bos(), written.eos()), (source.bos(), source.eos()));
}

#[test]
fn a_llama_folder_becomes_a_gguf_that_runs_and_tokenizes_as_its_source() {
    check(
        "smollm2",
        "<|im_start|>user\nWho won in 1988?<|im_end|>\n<|im_start|>assistant\n",
    );
}

#[test]
fn a_gemma3_folder_becomes_a_gguf_that_runs_and_tokenizes_as_its_source() {
    check(
        "gemma3",
        "<start_of_turn>user\nWho won in 1988?<end_of_turn>\n<start_of_turn>model\n",
    );
}
