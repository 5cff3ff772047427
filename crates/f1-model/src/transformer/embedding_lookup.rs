//! The lookup of a trained embedding matrix's rows as an autograd node on the
//! CPU: its backward hands the rows' gradients to the [`GradientSink`], which
//! adds them into the matrix's gradient in place. candle's `index_select`
//! backward writes a copy of the matrix's gradient so far (zeros when there is
//! none) with the rows added (for SmolLM2's 49,152 x 576 embedding, 113 MB).

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::gradient_sink::GradientSink;
use super::tensor_values::cpu_values;

/// Rows `ids` of `embedding` (vocab, width) as (ids, width); the gradient goes
/// to `sink`.
pub(crate) fn lookup(embedding: &Tensor, ids: Vec<u32>, sink: &GradientSink) -> Result<Tensor> {
    let op = Lookup {
        ids,
        sink: sink.clone(),
    };
    embedding.apply_op1(op)
}

struct Lookup {
    ids: Vec<u32>,
    sink: GradientSink,
}

impl CustomOp1 for Lookup {
    fn name(&self) -> &'static str {
        "embedding-lookup"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (vocab, width) = layout.shape().dims2()?;
        let table = cpu_values(storage, layout)?;
        let mut rows = Vec::with_capacity(self.ids.len() * width);
        for &id in &self.ids {
            let Some(row) = table.get(id as usize * width..(id as usize + 1) * width) else {
                candle_core::bail!("embedding lookup: token {id} is past the {vocab} rows");
            };
            rows.extend_from_slice(row);
        }
        Ok((CpuStorage::F32(rows), Shape::from((self.ids.len(), width))))
    }

    fn bwd(&self, embedding: &Tensor, _rows: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let rows = grad.flatten_all()?.to_vec1::<f32>()?;
        self.sink.push_rows(embedding, self.ids.clone(), rows);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{max_diff, random};
    use super::*;
    use candle_core::{Device, Var};

    /// The rows and, merged from the sink, the matrix's gradient equal
    /// `index_select`'s, bit for bit, repeated ids included; a gradient already
    /// in the sink (the tied head's) is added to first.
    #[test]
    fn matches_index_select() {
        let table = Var::from_tensor(&random(&[11, 6], 1)).unwrap();
        let ids = vec![3u32, 0, 3, 10, 3];
        let weights = random(&[5, 6], 2);
        let head = random(&[11, 6], 3);
        let sink = GradientSink::default();
        let rows = lookup(table.as_tensor(), ids.clone(), &sink).unwrap();
        let index = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap();
        let expected = table.as_tensor().index_select(&index, 0).unwrap();
        assert_eq!(max_diff(&rows, &expected), 0.0);

        let loss = |rows: &Tensor| (rows * &weights).unwrap().sum_all().unwrap();
        let head_values = head.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        sink.push_scaled(table.as_tensor(), head_values, 0.5)
            .unwrap();
        let mut grads = loss(&rows).backward().unwrap();
        assert!(
            grads.get(table.as_tensor()).is_none(),
            "candle kept no copy"
        );
        sink.merge_into(&mut grads).unwrap();
        let ours = grads.get(table.as_tensor()).unwrap();

        let composed = ((head * 0.5).unwrap() + table.as_tensor().zeros_like().unwrap()).unwrap();
        let composed = composed.index_add(&index, &weights, 0).unwrap();
        let bits = |t: &Tensor| -> Vec<u32> {
            let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            values.iter().map(|v| (v + 0.0).to_bits()).collect()
        };
        assert_eq!(bits(ours), bits(&composed));
    }

    #[test]
    fn refuses_a_token_past_the_vocabulary() {
        let table = random(&[4, 2], 1);
        let error = lookup(&table, vec![4], &GradientSink::default()).unwrap_err();
        assert!(error.to_string().contains("token 4"), "{error}");
    }
}
