//! Where a run stands in its epochs: each epoch reshuffles the training set
//! (deterministically by seed and epoch, so a resumed run meets the same
//! batches) and hands out the micro-batches of one optimizer step at a time.

use crate::checkpoint::Progress;
use crate::config::TrainConfig;
use crate::data::{epoch_batches, Batch, Sequence};

/// The current epoch's micro-batches over a training set.
pub struct EpochCursor<'a> {
    sequences: &'a [Sequence],
    config: &'a TrainConfig,
    batches: Vec<Batch>,
}

impl<'a> EpochCursor<'a> {
    /// The cursor at the start of `epoch`.
    pub fn new(sequences: &'a [Sequence], config: &'a TrainConfig, epoch: usize) -> Self {
        let mut cursor = Self {
            sequences,
            config,
            batches: Vec::new(),
        };
        cursor.shuffle(epoch);
        cursor
    }

    /// Micro-batches in the current epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.batches.len()
    }

    /// The next optimizer step's micro-batches, advancing `progress` past them:
    /// `accumulation` of them, or fewer at the end of an epoch (the next step
    /// starts the next epoch, reshuffled).
    pub fn next_step(&mut self, progress: &mut Progress, accumulation: usize) -> Vec<Batch> {
        let mut step = Vec::with_capacity(accumulation);
        while step.len() < accumulation {
            if progress.batch_in_epoch == self.batches.len() {
                if !step.is_empty() {
                    break;
                }
                progress.epoch += 1;
                progress.batch_in_epoch = 0;
                self.shuffle(progress.epoch);
            }
            step.push(self.batches[progress.batch_in_epoch].clone());
            progress.batch_in_epoch += 1;
        }
        step
    }

    fn shuffle(&mut self, epoch: usize) {
        let t = &self.config.training;
        self.batches = epoch_batches(
            self.sequences,
            t.seed,
            epoch,
            t.batch_size,
            self.config.data.packing,
            self.config.data.max_seq_len,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_end_at_epoch_boundaries_and_resume_where_they_stopped() {
        let yaml = "run_name: t\nmodel: m\nmethod: full\ndata: {packing: false}\ntraining: {batch_size: 1, seed: 7}\n";
        let config: TrainConfig = serde_norway::from_str(yaml).unwrap();
        let sequences: Vec<Sequence> = (0..5u32)
            .map(|i| Sequence {
                ids: vec![i + 1, i + 100],
                trained: vec![false, true],
            })
            .collect();
        let first = |batches: &[Batch]| batches.iter().map(|b| b.ids[0][0]).collect::<Vec<_>>();

        let mut cursor = EpochCursor::new(&sequences, &config, 0);
        assert_eq!(cursor.batches_per_epoch(), 5);
        let mut at = Progress::default();
        let sizes: Vec<usize> = (0..4).map(|_| cursor.next_step(&mut at, 3).len()).collect();
        // 5 batches per epoch in steps of 3: the epoch's last step is short.
        assert_eq!(sizes, [3, 2, 3, 2]);
        assert_eq!((at.epoch, at.batch_in_epoch), (1, 5));

        // Each epoch holds every sequence once, in a new order.
        let mut at = Progress::default();
        let mut cursor = EpochCursor::new(&sequences, &config, 0);
        let epoch0 = [cursor.next_step(&mut at, 3), cursor.next_step(&mut at, 3)].concat();
        let epoch1 = [cursor.next_step(&mut at, 3), cursor.next_step(&mut at, 3)].concat();
        let (mut sorted0, mut sorted1) = (first(&epoch0), first(&epoch1));
        assert_ne!(sorted0, sorted1, "epoch 1 is reshuffled");
        sorted0.sort();
        sorted1.sort();
        assert_eq!(sorted0, [1, 2, 3, 4, 5]);
        assert_eq!(sorted0, sorted1);

        // A cursor rebuilt from a checkpoint's progress continues the same order.
        let mut at = Progress::default();
        let mut cursor = EpochCursor::new(&sequences, &config, 0);
        cursor.next_step(&mut at, 3);
        cursor.next_step(&mut at, 3);
        let mut saved = at.clone();
        let mut resumed = EpochCursor::new(&sequences, &config, saved.epoch);
        assert_eq!(
            first(&cursor.next_step(&mut at, 2)),
            first(&resumed.next_step(&mut saved, 2))
        );
    }
}
