//! f32 CPU tensors' values as slices, for the kernels that run outside candle's
//! ops (custom ops' inputs, the optimizer's updates).

use candle_core::{CpuStorage, Layout, Result, Storage, StorageRef, Tensor};

/// A custom op's contiguous f32 CPU input.
pub fn cpu_values<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("autograd kernels need contiguous input".into()))?;
    match storage {
        CpuStorage::F32(values) => Ok(&values[start..end]),
        _ => candle_core::bail!("autograd kernels run in f32"),
    }
}

/// A contiguous f32 CPU tensor's values, readable while the guard lives.
pub struct Values<'a> {
    storage: StorageRef<'a>,
    range: std::ops::Range<usize>,
}

impl std::ops::Deref for Values<'_> {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        match &*self.storage {
            Storage::Cpu(CpuStorage::F32(values)) => &values[self.range.clone()],
            _ => unreachable!("`values` accepts only f32 CPU storage"),
        }
    }
}

/// The values of `t`, a contiguous f32 CPU tensor (a custom op's inputs are
/// made contiguous before it runs; a gradient may need `contiguous()` first).
pub fn values(t: &Tensor) -> Result<Values<'_>> {
    let (storage, layout) = t.storage_and_layout();
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("expected a contiguous tensor");
    };
    if !matches!(&*storage, Storage::Cpu(CpuStorage::F32(_))) {
        candle_core::bail!("expected an f32 CPU tensor");
    }
    Ok(Values {
        storage,
        range: start..end,
    })
}

/// Whether `t` has rank 4 with each (i, j) block of rows dense, as a view of a
/// preallocated KV cache narrowed to its filled positions is.
fn has_dense_rows(t: &Tensor) -> bool {
    let (dims, stride) = (t.dims(), t.stride());
    dims.len() == 4 && stride[3] == 1 && (dims[2] <= 1 || stride[2] == dims[3])
}

/// `t` itself where it [has dense rows](has_dense_rows), else a contiguous copy.
pub fn with_dense_rows(t: &Tensor) -> Result<Tensor> {
    match has_dense_rows(t) {
        true => Ok(t.clone()),
        false => t.contiguous(),
    }
}

/// The values of a rank-4 f32 CPU tensor whose (i, j) blocks of rows are dense,
/// from its first element on (block (i, j) at `i * strides[0] + j * strides[1]`),
/// and those strides: a KV cache read where it lies, not copied.
pub fn row_blocks(t: &Tensor) -> Result<(Values<'_>, [usize; 2])> {
    if !has_dense_rows(t) {
        candle_core::bail!(
            "expected dense rows of a rank-4 tensor: dims {:?}, strides {:?}",
            t.dims(),
            t.stride()
        );
    }
    let (storage, layout) = t.storage_and_layout();
    if !matches!(&*storage, Storage::Cpu(CpuStorage::F32(_))) {
        candle_core::bail!("expected an f32 CPU tensor");
    }
    let (dims, stride) = (layout.dims(), layout.stride());
    let span = match dims.contains(&0) {
        true => 0,
        false => {
            1 + dims
                .iter()
                .zip(stride)
                .map(|(&d, &s)| (d - 1) * s)
                .sum::<usize>()
        }
    };
    let start = layout.start_offset();
    Ok((
        Values {
            storage,
            range: start..start + span,
        },
        [stride[0], stride[1]],
    ))
}
