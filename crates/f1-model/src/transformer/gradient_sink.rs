//! Gradients of trained weights computed outside candle's graph: by the block
//! nodes, the head and the embedding lookup, merged into candle's after its
//! backward pass.
//!
//! Returned to candle, the head's gradient was scaled into a copy and added
//! into a zeroed tensor of its size (`GradStore::or_insert`, then `add`), and
//! an embedding lookup's gradient into a copy of what was there (`index_add`):
//! for SmolLM2's tied 49,152 x 576 embedding, four 113 MB buffers written each
//! full training step beside the head's own. Here the head's gradient is scaled
//! in place and the lookup's rows are added into it, in the order `index_add`
//! adds them.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor};

use super::cpu_pool::for_each_chunk;

/// Values per work item of an in-place scaling.
const SCALE_CHUNK: usize = 1 << 16;

/// One collected gradient of a parameter.
enum Collected {
    Tensor(Tensor),
    /// Values of the parameter's shape, owned so that rows add in place.
    Owned(Vec<f32>),
    /// `rows` (`ids.len()` rows of the parameter's last dimension) to add into
    /// its rows `ids`, one after another: an embedding lookup's gradient.
    Rows {
        ids: Vec<u32>,
        rows: Vec<f32>,
    },
}

/// Gradients of trained weights computed outside candle's graph.
#[derive(Clone, Default)]
pub struct GradientSink(Arc<Mutex<Vec<(Tensor, Collected)>>>);

impl std::fmt::Debug for GradientSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GradientSink({} collected)", self.lock().len())
    }
}

impl GradientSink {
    fn lock(&self) -> MutexGuard<'_, Vec<(Tensor, Collected)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn collect(&self, parameter: &Tensor, gradient: Collected) {
        self.lock().push((parameter.clone(), gradient));
    }

    /// `gradient` for `parameter`.
    pub(crate) fn push(&self, parameter: &Tensor, gradient: Tensor) {
        self.collect(parameter, Collected::Tensor(gradient));
    }

    /// `scale * values` for `parameter` (its values, row-major), scaled in place.
    pub(crate) fn push_scaled(
        &self,
        parameter: &Tensor,
        mut values: Vec<f32>,
        scale: f32,
    ) -> Result<()> {
        let len = values.len();
        if len != parameter.elem_count() {
            candle_core::bail!(
                "gradient: {len} values for a {:?} parameter",
                parameter.shape()
            );
        }
        if scale != 1.0 && len > 0 {
            for_each_chunk(
                [(&mut values, SCALE_CHUNK)],
                len.div_ceil(SCALE_CHUNK),
                |_, [piece]| {
                    piece.iter_mut().for_each(|value| *value *= scale);
                    Ok(())
                },
            )?;
        }
        self.collect(parameter, Collected::Owned(values));
        Ok(())
    }

    /// `rows` to add into rows `ids` of `parameter`'s gradient, in order.
    pub(crate) fn push_rows(&self, parameter: &Tensor, ids: Vec<u32>, rows: Vec<f32>) {
        self.collect(parameter, Collected::Rows { ids, rows });
    }

    /// Forgets what was collected.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// Moves the collected gradients into `grads`: those of one parameter summed
    /// in the order they came, then added to any candle computed for it.
    pub(crate) fn merge_into(&self, grads: &mut GradStore) -> Result<()> {
        let mut sums: Vec<(Tensor, Collected)> = Vec::new();
        for (parameter, gradient) in self.lock().drain(..) {
            match sums.iter_mut().find(|(p, _)| p.id() == parameter.id()) {
                Some((_, sum)) => {
                    let earlier = std::mem::replace(sum, Collected::Owned(Vec::new()));
                    *sum = earlier.add(gradient, &parameter)?;
                }
                None => sums.push((parameter, gradient)),
            }
        }
        for (parameter, sum) in sums {
            let gradient = sum.into_tensor(&parameter)?;
            let sum = match grads.remove(&parameter) {
                Some(earlier) => (earlier + gradient)?,
                None => gradient,
            };
            grads.insert(&parameter, sum);
        }
        Ok(())
    }
}

impl Collected {
    /// `self + gradient` for `parameter`: rows added in place.
    fn add(self, gradient: Self, parameter: &Tensor) -> Result<Self> {
        let Self::Rows { ids, rows } = gradient else {
            let sum = (self.into_tensor(parameter)? + gradient.into_tensor(parameter)?)?;
            return Ok(Self::Tensor(sum));
        };
        let mut values = match self {
            Self::Owned(values) => values,
            other => other.into_tensor(parameter)?.flatten_all()?.to_vec1()?,
        };
        let width = parameter.dims().last().copied().unwrap_or(1).max(1);
        if rows.len() != ids.len() * width {
            candle_core::bail!(
                "gradient: {} rows of {width} values in {}",
                ids.len(),
                rows.len()
            );
        }
        for (&id, row) in ids.iter().zip(rows.chunks_exact(width)) {
            let start = id as usize * width;
            let Some(target) = values.get_mut(start..start + width) else {
                candle_core::bail!("gradient: row {id} past the parameter's rows");
            };
            target.iter_mut().zip(row).for_each(|(t, r)| *t += r);
        }
        Ok(Self::Owned(values))
    }

    /// The gradient as a tensor of `parameter`'s shape.
    fn into_tensor(self, parameter: &Tensor) -> Result<Tensor> {
        match self {
            Self::Tensor(t) => Ok(t),
            Self::Owned(values) => Tensor::from_vec(values, parameter.shape(), parameter.device()),
            Self::Rows { ids, rows } => Self::Owned(vec![0.0; parameter.elem_count()])
                .add(Self::Rows { ids, rows }, parameter)?
                .into_tensor(parameter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::random;
    use super::*;
    use candle_core::{Device, Var};

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    /// Rows alone (an untied embedding) give `index_add` into zeros; rows after
    /// a tensor gradient add to it; gradients of one parameter are summed in
    /// the order they came, then added to candle's own.
    #[test]
    fn merges_rows_tensors_and_candles_gradients() {
        let (embedding, other) = (
            Var::from_tensor(&random(&[4, 3], 1)).unwrap(),
            Var::from_tensor(&random(&[2, 3], 2)).unwrap(),
        );
        let (e, o) = (embedding.as_tensor(), other.as_tensor());
        let ids = [2u32, 0, 2];
        let rows = random(&[3, 3], 3);
        let index = Tensor::new(&ids[..], &Device::Cpu).unwrap();
        let sink = GradientSink::default();
        sink.push_rows(e, ids.to_vec(), values(&rows));
        let first = random(&[2, 3], 4);
        sink.push(o, first.clone());
        sink.push_rows(o, vec![1], vec![1.0, 2.0, 3.0]);
        let mut grads = o.sum_all().unwrap().backward().unwrap();
        let candles = grads.get(o).unwrap().clone();
        sink.merge_into(&mut grads).unwrap();

        let expected = e.zeros_like().unwrap().index_add(&index, &rows, 0).unwrap();
        assert_eq!(values(grads.get(e).unwrap()), values(&expected));
        let one_row = Tensor::new(&[[1f32, 2.0, 3.0]], &Device::Cpu).unwrap();
        let expected = (candles
            + first
                .index_add(&Tensor::new(&[1u32], &Device::Cpu).unwrap(), &one_row, 0)
                .unwrap())
        .unwrap();
        assert_eq!(values(grads.get(o).unwrap()), values(&expected));
        assert_eq!(format!("{sink:?}"), "GradientSink(0 collected)");
    }

    #[test]
    fn refuses_rows_past_the_parameter() {
        let table = Var::from_tensor(&random(&[2, 2], 1)).unwrap();
        let sink = GradientSink::default();
        sink.push_rows(table.as_tensor(), vec![2], vec![1.0, 1.0]);
        let error = sink.merge_into(&mut GradStore::default()).unwrap_err();
        assert!(error.to_string().contains("row 2"), "{error}");
    }
}
