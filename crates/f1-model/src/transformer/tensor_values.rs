//! CPU tensors' values as slices, for the kernels that run outside candle's ops
//! (custom ops' inputs, the optimizer's updates, an f16 KV cache).

use std::marker::PhantomData;

use candle_core::{CpuStorage, Layout, Result, Storage, StorageRef, Tensor};
use half::f16;

/// An element type whose CPU storage the kernels read as a slice.
pub trait Element: Sized {
    /// The type's name in errors.
    const NAME: &'static str;
    /// The values of `storage`, if it holds this type.
    fn slice(storage: &CpuStorage) -> Option<&[Self]>;
}

impl Element for f32 {
    const NAME: &'static str = "f32";
    fn slice(storage: &CpuStorage) -> Option<&[f32]> {
        match storage {
            CpuStorage::F32(values) => Some(values),
            _ => None,
        }
    }
}

impl Element for f16 {
    const NAME: &'static str = "f16";
    fn slice(storage: &CpuStorage) -> Option<&[f16]> {
        match storage {
            CpuStorage::F16(values) => Some(values),
            _ => None,
        }
    }
}

/// Whether `storage` is CPU storage of `T`.
fn holds<T: Element>(storage: &Storage) -> bool {
    matches!(storage, Storage::Cpu(cpu) if T::slice(cpu).is_some())
}

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

/// A CPU tensor's values (f32 unless said), readable while the guard lives.
pub struct Values<'a, T: Element = f32> {
    storage: StorageRef<'a>,
    range: std::ops::Range<usize>,
    element: PhantomData<T>,
}

impl<T: Element> std::ops::Deref for Values<'_, T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &*self.storage {
            Storage::Cpu(cpu) => &T::slice(cpu).expect("checked when made")[self.range.clone()],
            _ => unreachable!("`Values` are made only of CPU storage"),
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
    if !holds::<f32>(&storage) {
        candle_core::bail!("expected an f32 CPU tensor");
    }
    Ok(Values {
        storage,
        range: start..end,
        element: PhantomData,
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

/// The values of a rank-4 CPU tensor of `T` whose (i, j) blocks of rows are
/// dense, from its first element on (block (i, j) at `i * strides[0] + j *
/// strides[1]`), and those strides: a KV cache read where it lies, not copied.
pub fn row_blocks<T: Element>(t: &Tensor) -> Result<(Values<'_, T>, [usize; 2])> {
    if !has_dense_rows(t) {
        candle_core::bail!(
            "expected dense rows of a rank-4 tensor: dims {:?}, strides {:?}",
            t.dims(),
            t.stride()
        );
    }
    let (storage, layout) = t.storage_and_layout();
    if !holds::<T>(&storage) {
        candle_core::bail!("expected an {} CPU tensor, got {:?}", T::NAME, t.dtype());
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
            element: PhantomData,
        },
        [stride[0], stride[1]],
    ))
}
