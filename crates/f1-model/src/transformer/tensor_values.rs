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
