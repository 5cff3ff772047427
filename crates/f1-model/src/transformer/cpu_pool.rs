//! Parallel loops on candle's CPU thread pool.
//!
//! candle 0.11 runs its CPU kernels on a barrier pool whose workers spin for about
//! a millisecond after each kernel, waiting for the next. Work sent to a second
//! pool (rayon's) in that time shares the cores with those spinning workers; sent
//! to the same pool, it is picked up by them. The training step interleaves
//! candle's kernels with this crate's, so this crate's run here too.

use candle_core::{Error, Result};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::Mutex;

/// How many threads [`for_each_chunk`] spreads work over.
pub fn threads() -> usize {
    candle_core::utils::barrier_pool().n_workers() + 1
}

/// Calls `work(index)` once for every `index` in `0..items`, on all of candle's
/// threads (each takes the next few indices as it becomes free), or on this one
/// when there is a single index.
pub fn for_each_index(items: usize, work: impl Fn(usize) + Sync) {
    // One item runs here: waking the pool would cost more than it shares.
    if items == 1 {
        return work(0);
    }
    candle_core::utils::barrier_pool().execute_chunked(items, |range| range.for_each(&work));
}

/// Calls `work(index, chunks)` once for every `index` in `0..items`, on all of
/// candle's threads, where `chunks[i]` is the `index`-th piece (of `outputs[i].1`
/// values; the last may be shorter) of the slice `outputs[i].0`. Every output must
/// hold at least `items` pieces. Returns the first error `work` returned.
pub fn for_each_chunk<const N: usize, T: Send, F>(
    outputs: [(&mut [T], usize); N],
    items: usize,
    work: F,
) -> Result<()>
where
    F: Fn(usize, [&mut [T]; N]) -> Result<()> + Sync,
{
    for (values, chunk) in &outputs {
        if *chunk == 0 || values.len().div_ceil(*chunk) < items {
            return Err(Error::Msg(format!(
                "parallel loop: {items} pieces of {chunk} from {} values",
                values.len()
            )));
        }
    }
    let outputs = outputs.map(|(values, chunk)| SharedOutput {
        start: values.as_mut_ptr() as usize,
        len: values.len(),
        chunk,
        values: PhantomData,
    });
    let first_error = Mutex::new(None);
    for_each_index(items, |index| {
        // SAFETY: every index comes once, so the pieces of one index are borrowed
        // by this call alone (on whichever thread; `T: Send`); the slices outlive
        // `for_each_index`, which returns only when every index is done.
        let chunks = outputs.map(|output| unsafe { output.piece(index) });
        if let Err(error) = work(index, chunks) {
            first_error
                .lock()
                .expect("no thread panics holding the lock")
                .get_or_insert(error);
        }
    });
    first_error
        .into_inner()
        .expect("no thread panics holding the lock")
        .map_or(Ok(()), Err)
}

/// New buffers filled as [`for_each_chunk`] fills `outputs`: `outputs[i]` is
/// (length, piece size) of buffer `i`, which must hold exactly `items` pieces.
/// Each piece is zeroed by the thread that fills it, just before `work` gets it,
/// so no thread zeroes a whole buffer alone beforehand while the others wait.
pub fn new_chunked<const N: usize, T: Copy + Default + Send, F>(
    outputs: [(usize, usize); N],
    items: usize,
    work: F,
) -> Result<[Vec<T>; N]>
where
    F: Fn(usize, [&mut [T]; N]) -> Result<()> + Sync,
{
    for (len, chunk) in outputs {
        if chunk == 0 || len.div_ceil(chunk) != items {
            return Err(Error::Msg(format!(
                "parallel loop: {items} pieces of {chunk} from {len} new values"
            )));
        }
    }
    let mut buffers = outputs.map(|(len, _)| Vec::<T>::with_capacity(len));
    let mut sizes = outputs.into_iter();
    let pieces = buffers.each_mut().map(|buffer| {
        let (len, chunk) = sizes.next().expect("one size a buffer");
        (&mut buffer.spare_capacity_mut()[..len], chunk)
    });
    for_each_chunk(pieces, items, |index, pieces| {
        let pieces = pieces.map(|piece| {
            piece.fill(MaybeUninit::new(T::default()));
            // SAFETY: every value of the piece was just initialised.
            unsafe { &mut *(piece as *mut [MaybeUninit<T>] as *mut [T]) }
        });
        work(index, pieces)
    })?;
    for (buffer, (len, _)) in buffers.iter_mut().zip(outputs) {
        // SAFETY: the `items` pieces cover all `len` values (checked above), and
        // `for_each_chunk` returned Ok only after every piece was zeroed.
        unsafe { buffer.set_len(len) };
    }
    Ok(buffers)
}

/// Piece `index` of `values` cut into pieces of `chunk` values (the last may be
/// shorter): the read-only counterpart of the pieces [`for_each_chunk`] hands out.
pub fn piece<T>(values: &[T], chunk: usize, index: usize) -> &[T] {
    let first = index * chunk;
    &values[first..values.len().min(first + chunk)]
}

/// A mutable slice of `T` shared between threads that each take their own pieces
/// of it.
struct SharedOutput<T> {
    start: usize,
    len: usize,
    chunk: usize,
    values: PhantomData<fn(T)>,
}

impl<T> Clone for SharedOutput<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SharedOutput<T> {}

impl<T> SharedOutput<T> {
    /// Piece `index`.
    ///
    /// # Safety
    /// No other live reference may cover the same piece, and `T` must be `Send`.
    unsafe fn piece<'a>(self, index: usize) -> &'a mut [T] {
        let first = index * self.chunk;
        let len = self.chunk.min(self.len - first);
        std::slice::from_raw_parts_mut((self.start as *mut T).add(first), len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_piece_is_visited_once_with_its_own_index() {
        let (mut wide, mut narrow) = (vec![0f32; 1003], vec![0f32; 101]);
        for_each_chunk([(&mut wide, 10), (&mut narrow, 1)], 101, |index, [w, n]| {
            w.iter_mut().for_each(|value| *value += index as f32);
            n[0] += w.len() as f32;
            Ok(())
        })
        .unwrap();
        for (position, value) in wide.iter().enumerate() {
            assert_eq!(*value, (position / 10) as f32);
        }
        assert_eq!(narrow[..100], [10.0; 100]);
        assert_eq!(narrow[100], 3.0);
    }

    #[test]
    fn new_buffers_are_zeroed_and_filled_piece_by_piece() {
        let [wide, narrow] = new_chunked([(1003, 10), (101, 1)], 101, |index, [w, n]| {
            assert!(w.iter().chain(n.iter()).all(|value| *value == 0.0));
            w.iter_mut().for_each(|value| *value += index as f32);
            n[0] = w.len() as f32;
            Ok(())
        })
        .unwrap();
        assert_eq!(wide.len(), 1003);
        for (position, value) in wide.iter().enumerate() {
            assert_eq!(*value, (position / 10) as f32);
        }
        assert_eq!(narrow[..100], [10.0; 100]);
        assert_eq!(narrow[100], 3.0);
        let untouched = new_chunked::<1, f32, _>([(64, 8)], 8, |_, _| Ok(())).unwrap();
        assert_eq!(untouched, [vec![0.0; 64]]);
    }

    #[test]
    fn new_buffers_need_exactly_their_pieces() {
        assert!(new_chunked::<1, f32, _>([(64, 8)], 7, |_, _| Ok(())).is_err());
        assert!(new_chunked::<1, f32, _>([(64, 8)], 9, |_, _| Ok(())).is_err());
        assert!(new_chunked::<1, f32, _>([(64, 0)], 0, |_, _| Ok(())).is_err());
        let failed = new_chunked::<1, f32, _>([(64, 1)], 64, |index, _| {
            if index == 7 {
                candle_core::bail!("piece {index}");
            }
            Ok(())
        });
        assert!(failed.unwrap_err().to_string().starts_with("piece 7"));
    }

    #[test]
    fn errors_come_back_and_short_outputs_are_refused() {
        let mut values = vec![0f32; 64];
        let failed = for_each_chunk([(&mut values, 1)], 64, |index, _| {
            if index == 40 {
                candle_core::bail!("piece {index}");
            }
            Ok(())
        });
        assert!(failed.unwrap_err().to_string().starts_with("piece 40"));
        assert!(for_each_chunk([(&mut values, 8)], 9, |_, _| Ok(())).is_err());
    }
}
