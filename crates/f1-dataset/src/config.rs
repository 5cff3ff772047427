//! `config/data_config.yaml`: seed, size profile, split ratios, families.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::families;

/// How large a dataset to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// About 2,000 training examples: minutes on a CPU.
    #[default]
    Quick,
    /// Every fact: tens of thousands of examples.
    Full,
}

/// Facts kept per family in each profile (0: all of them).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactsPerFamily {
    pub quick: usize,
    pub full: usize,
}

impl Default for FactsPerFamily {
    fn default() -> Self {
        Self { quick: 70, full: 0 }
    }
}

/// Shares of fact groups assigned to each split; test groups are the unseen ones.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitRatios {
    pub train: f64,
    pub val: f64,
    pub test: f64,
}

impl Default for SplitRatios {
    fn default() -> Self {
        Self {
            train: 0.8,
            val: 0.1,
            test: 0.1,
        }
    }
}

/// What the tool conversations add to the facts' own (`tools:`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolDataConfig {
    /// Training facts of every family a tool answers but `families` leaves out,
    /// per family (0: none), so the assistant learns every tool.
    pub facts_per_family: usize,
    /// Share of single-turn training conversations also asked in a fan's wording.
    pub fan_wording: f64,
    /// Training facts of the last complete season and of the running one, per
    /// family a tool answers (0: none), each also asked with "last season" or
    /// "this season", the words fans use for them.
    pub recent_facts_per_family: usize,
}

impl Default for ToolDataConfig {
    fn default() -> Self {
        Self {
            facts_per_family: 0,
            fan_wording: 0.5,
            recent_facts_per_family: 0,
        }
    }
}

/// The dataset build's configuration. Unknown keys are an error.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub seed: u64,
    pub profile: Profile,
    pub facts_per_family: FactsPerFamily,
    pub split: SplitRatios,
    /// Phrasings each training fact is asked in (1 to 3): several wordings of
    /// the question, alternating short and full answers. The family's other
    /// phrasings stay held out for the recall questions.
    pub paraphrases_per_fact: usize,
    /// Share of training facts that also get a test question in a new phrasing.
    pub recall_fraction: f64,
    /// Share of training facts (others than the recall tests') asked in a new
    /// phrasing in val.jsonl: the probe training selects its checkpoint on.
    pub val_recall_fraction: f64,
    /// Draw the validation probe from the recall test facts instead, asked in a
    /// second held-out phrasing (so a small fact set can have both; the probe
    /// then selects checkpoints on the facts the test asks about).
    pub val_recall_from_test_facts: bool,
    /// Share of examples that should be conversations of 2 or 3 turns.
    pub multi_turn_fraction: f64,
    /// Families to use; None (the key left out) means all of them.
    pub families: Option<Vec<String>>,
    /// Facts per family of the latest season in the data asked as `future`
    /// tests; when > 0, no training example asks a fact of that season. 0: off.
    pub future_facts_per_family: usize,
    pub tools: ToolDataConfig,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            profile: Profile::Quick,
            facts_per_family: FactsPerFamily::default(),
            split: SplitRatios::default(),
            paraphrases_per_fact: 1,
            recall_fraction: 0.12,
            val_recall_fraction: 0.0,
            val_recall_from_test_facts: false,
            multi_turn_fraction: 0.25,
            families: None,
            future_facts_per_family: 0,
            tools: ToolDataConfig::default(),
        }
    }
}

impl DataConfig {
    /// Reads and validates a YAML file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Self = serde_norway::from_str(&text).map_err(|e| Error::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        config.validate(&path.display().to_string())?;
        Ok(config)
    }

    /// Checks ranges, the split ratios' sum and the family names.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let fail = |message: String| {
            Err(Error::Config {
                path: origin.to_string(),
                message,
            })
        };
        let s = self.split;
        for (name, value) in [("train", s.train), ("val", s.val), ("test", s.test)] {
            if !(0.0..=1.0).contains(&value) {
                return fail(format!("split.{name} = {value} is outside 0..1"));
            }
        }
        let sum = s.train + s.val + s.test;
        if (sum - 1.0).abs() > 1e-9 {
            return fail(format!(
                "split ratios must sum to 1: train {} + val {} + test {} = {sum}",
                s.train, s.val, s.test
            ));
        }
        // Each split is required: training learns from train and selects on val,
        // evaluation asks test. (-0.0 is 0 too.)
        for (name, value, use_) in [
            ("train", s.train, "there would be nothing to train on"),
            (
                "val",
                s.val,
                "training selects its checkpoint on the validation split",
            ),
            ("test", s.test, "evaluation asks the test split"),
        ] {
            if value <= 0.0 {
                return fail(format!(
                    "split.{name} = {value} must be more than 0: {use_}"
                ));
            }
        }
        for (name, value) in [
            ("recall_fraction", self.recall_fraction),
            ("val_recall_fraction", self.val_recall_fraction),
            ("multi_turn_fraction", self.multi_turn_fraction),
            ("tools.fan_wording", self.tools.fan_wording),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return fail(format!("{name} = {value} is outside 0..1"));
            }
        }
        if !self.val_recall_from_test_facts
            && self.recall_fraction + self.val_recall_fraction > 1.0 + 1e-9
        {
            return fail(format!(
                "recall_fraction {} + val_recall_fraction {} is more than 1: a training fact is a recall test or a validation probe, not both",
                self.recall_fraction, self.val_recall_fraction
            ));
        }
        // Every fact keeps one held-out phrasing, two when the probe shares facts.
        let kept = 1 + usize::from(self.val_recall_from_test_facts);
        let held_out = self
            .selected_families()
            .iter()
            .map(|f| f.phrasings.len())
            .min();
        let most = held_out.unwrap_or(1).saturating_sub(kept);
        if !(1..=most).contains(&self.paraphrases_per_fact) {
            return fail(format!(
                "paraphrases_per_fact = {} must be 1 to {most}: every selected family keeps {kept} of its {} phrasings held out for the recall questions",
                self.paraphrases_per_fact,
                most + kept
            ));
        }
        if let Some(names) = &self.families {
            if names.is_empty() {
                return fail("families is empty; leave the key out to use all".into());
            }
            if let Some(unknown) = names.iter().find(|n| families::by_name(n).is_none()) {
                let known: Vec<&str> = families::all().map(|f| f.name).collect();
                return fail(format!(
                    "unknown family '{unknown}' (known: {})",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The cap on facts per family for the chosen profile (None: no cap).
    pub fn fact_cap(&self) -> Option<usize> {
        let cap = match self.profile {
            Profile::Quick => self.facts_per_family.quick,
            Profile::Full => self.facts_per_family.full,
        };
        (cap > 0).then_some(cap)
    }

    /// The families to build, in registry order.
    pub fn selected_families(&self) -> Vec<&'static families::Family> {
        families::all()
            .filter(|f| {
                self.families
                    .as_ref()
                    .is_none_or(|names| names.iter().any(|n| n == f.name))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<DataConfig> {
        let config: DataConfig = serde_norway::from_str(yaml).map_err(|e| Error::Config {
            path: "test".into(),
            message: e.to_string(),
        })?;
        config.validate("test")?;
        Ok(config)
    }

    #[test]
    fn defaults_are_valid() {
        let config = parse("{}").unwrap();
        assert_eq!(config.seed, 42);
        assert_eq!(config.fact_cap(), Some(70));
        assert!(config.selected_families().len() >= 20);
    }

    #[test]
    fn ratios_must_sum_to_one() {
        let error = parse("split: {train: 0.8, val: 0.1, test: 0.2}").unwrap_err();
        assert!(error.to_string().contains("must sum to 1"), "{error}");
    }

    #[test]
    fn every_split_must_be_more_than_zero() {
        for (yaml, name) in [
            (
                "split: {train: 0.9, val: -0.0, test: 0.1}",
                "split.val = -0",
            ),
            ("split: {train: 0.9, val: 0.1, test: 0.0}", "split.test = 0"),
            (
                "split: {train: 0.0, val: 0.5, test: 0.5}",
                "split.train = 0",
            ),
        ] {
            let error = parse(yaml).unwrap_err().to_string();
            assert!(error.contains(name), "{error}");
            assert!(error.contains("must be more than 0"), "{error}");
        }
    }

    #[test]
    fn unknown_family_and_unknown_key_are_errors() {
        let error = parse("families: [race_winner, race_loser]").unwrap_err();
        assert!(
            error.to_string().contains("unknown family 'race_loser'"),
            "{error}"
        );
        let error = parse("sead: 1").unwrap_err();
        assert!(
            error.to_string().contains("unknown field `sead`"),
            "{error}"
        );
    }

    #[test]
    fn paraphrases_leave_a_phrasing_held_out() {
        assert_eq!(
            parse("paraphrases_per_fact: 3")
                .unwrap()
                .paraphrases_per_fact,
            3
        );
        for bad in ["paraphrases_per_fact: 0", "paraphrases_per_fact: 4"] {
            let error = parse(bad).unwrap_err().to_string();
            assert!(error.contains("must be 1 to 3"), "{error}");
        }
        let error = parse("recall_fraction: 0.6\nval_recall_fraction: 0.5")
            .unwrap_err()
            .to_string();
        assert!(error.contains("more than 1"), "{error}");
        let shared =
            "recall_fraction: 1.0\nval_recall_fraction: 1.0\nval_recall_from_test_facts: true";
        assert!(parse(shared).is_ok());
        let error = parse(&format!("{shared}\nparaphrases_per_fact: 3"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("must be 1 to 2"), "{error}");
    }

    #[test]
    fn full_profile_has_no_cap() {
        assert_eq!(parse("profile: full").unwrap().fact_cap(), None);
    }
}
