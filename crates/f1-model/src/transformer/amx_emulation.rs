//! AMX tiles in software, for tests on CPUs without them: in test builds (and
//! with the `emulated-amx` feature, which the gradient tests turn on) the
//! `amx` instructions run here where the CPU (or kernel) lacks the tiles, so
//! the tile kernels' packing, blocking and addressing are checked on every
//! x86-64 machine, not only on Sapphire Rapids. Each thread has its own eight
//! tiles, as on the hardware; a use the hardware would fault on (no
//! configuration, shapes that do not fit) panics.
//!
//! The arithmetic follows Intel's pseudo-code for `tdpbsud` (exact i32 sums)
//! and `tdpbf16ps` (each pair's two products added in turn in f32); the
//! hardware's f32 sums may differ in their last bits (it flushes denormals),
//! which the tests' tolerances allow. On AMX machines the same tests run on the
//! hardware instead.

use std::cell::RefCell;

/// Bytes one tile holds: 16 rows of 64.
const TILE_BYTES: usize = 16 * 64;

/// A thread's tile registers and the configuration that shapes them.
struct Tiles {
    /// The loaded configuration (`ldtilecfg`'s 64 bytes), if any.
    config: Option<[u8; 64]>,
    cells: [[u8; TILE_BYTES]; 8],
}

thread_local! {
    static TILES: RefCell<Tiles> = const {
        RefCell::new(Tiles { config: None, cells: [[0; TILE_BYTES]; 8] })
    };
}

impl Tiles {
    /// Tile `tile`'s (rows, bytes per row) under the loaded configuration.
    fn shape(&self, tile: u8) -> (usize, usize) {
        let config = self.config.expect("a tile instruction before ldtilecfg");
        let tile = usize::from(tile);
        let bytes = u16::from_le_bytes([config[16 + 2 * tile], config[17 + 2 * tile]]);
        let shape = (usize::from(config[48 + tile]), usize::from(bytes));
        assert!(shape.0 > 0 && shape.1 > 0, "tile {tile} is not configured");
        shape
    }

    /// The 32-bit cell (`row`, `column`) of tile `tile`, as its bytes.
    fn word(&self, tile: u8, row: usize, column: usize) -> [u8; 4] {
        let at = row * 64 + 4 * column;
        self.cells[usize::from(tile)][at..at + 4]
            .try_into()
            .unwrap()
    }

    /// Checks the shapes of `c += a * b`: c is a's rows by b's columns, and b
    /// has a row per four bytes of a's rows.
    fn product_shapes(&self, c: u8, a: u8, b: u8) -> (usize, usize, usize) {
        let ((c_rows, c_bytes), (a_rows, a_bytes), (b_rows, b_bytes)) =
            (self.shape(c), self.shape(a), self.shape(b));
        assert!(
            c_rows == a_rows && c_bytes == b_bytes && a_bytes == 4 * b_rows,
            "tile shapes do not fit: c {c_rows}x{c_bytes}, a {a_rows}x{a_bytes}, b {b_rows}x{b_bytes}"
        );
        (c_rows, b_rows, c_bytes / 4)
    }
}

/// `ldtilecfg`: loads `config` (palette 1) and zeroes every tile.
pub fn configure(config: &[u8; 64]) {
    assert_eq!(config[0], 1, "only palette 1 is emulated");
    TILES.with_borrow_mut(|tiles| {
        tiles.config = Some(*config);
        tiles.cells = [[0; TILE_BYTES]; 8];
    });
}

/// `tilerelease`: back to no configuration.
pub fn release() {
    TILES.with_borrow_mut(|tiles| tiles.config = None);
}

/// `tilezero`.
pub fn zero(tile: u8) {
    TILES.with_borrow_mut(|tiles| {
        tiles.shape(tile);
        tiles.cells[usize::from(tile)] = [0; TILE_BYTES];
    });
}

/// `tileloadd`: the configured rows' bytes from `rows + i * stride`; the rest
/// of the tile zero.
///
/// # Safety
/// Each configured row's bytes are readable at `rows + i * stride`.
pub unsafe fn load(tile: u8, rows: *const u8, stride: usize) {
    TILES.with_borrow_mut(|tiles| {
        let (count, bytes) = tiles.shape(tile);
        let cells = &mut tiles.cells[usize::from(tile)];
        *cells = [0; TILE_BYTES];
        for row in 0..count {
            // SAFETY: the row's bytes are readable (the caller's contract).
            let source = unsafe { std::slice::from_raw_parts(rows.add(row * stride), bytes) };
            cells[row * 64..][..bytes].copy_from_slice(source);
        }
    });
}

/// `tilestored`: the configured rows' bytes to `rows + i * stride`.
///
/// # Safety
/// Each configured row's bytes are writable at `rows + i * stride`.
pub unsafe fn store(tile: u8, rows: *mut u8, stride: usize) {
    TILES.with_borrow(|tiles| {
        let (count, bytes) = tiles.shape(tile);
        let cells = &tiles.cells[usize::from(tile)];
        for row in 0..count {
            // SAFETY: the row's bytes are writable (the caller's contract).
            let target = unsafe { std::slice::from_raw_parts_mut(rows.add(row * stride), bytes) };
            target.copy_from_slice(&cells[row * 64..][..bytes]);
        }
    });
}

/// `tdpbsud`: tile `c`'s i32 sums += a's signed bytes times b's unsigned
/// bytes, four inputs at a time (b holds a column's four in a 32-bit cell).
pub fn add_signed_by_unsigned(c: u8, a: u8, b: u8) {
    accumulate(c, a, b, |sum, left, right| {
        let products = (left.iter().zip(&right)).map(|(&l, &r)| i32::from(l as i8) * i32::from(r));
        products
            .fold(i32::from_le_bytes(sum), i32::wrapping_add)
            .to_le_bytes()
    });
}

/// `tdpbf16ps`: tile `c`'s f32 sums += a's bf16 pairs times b's, each pair's
/// two products added in turn (b holds a column's pair in a 32-bit cell).
pub fn add_bf16_products(c: u8, a: u8, b: u8) {
    let halves = |word: [u8; 4]| {
        let value = |bytes: [u8; 2]| half::bf16::from_le_bytes(bytes).to_f32();
        [value([word[0], word[1]]), value([word[2], word[3]])]
    };
    accumulate(c, a, b, |sum, left, right| {
        let (left, right) = (halves(left), halves(right));
        let sum = f32::from_le_bytes(sum) + left[0] * right[0];
        (sum + left[1] * right[1]).to_le_bytes()
    });
}

/// `c += a * b` on 32-bit cells: each of c's cells (row, column) updated by
/// `step(cell, a's (row, k), b's (k, column))` for each k in turn, once the
/// shapes are checked as the hardware checks them.
fn accumulate(c: u8, a: u8, b: u8, step: impl Fn([u8; 4], [u8; 4], [u8; 4]) -> [u8; 4]) {
    TILES.with_borrow_mut(|tiles| {
        let (rows, depth, columns) = tiles.product_shapes(c, a, b);
        for row in 0..rows {
            for column in 0..columns {
                let cell = (0..depth).fold(tiles.word(c, row, column), |cell, k| {
                    step(cell, tiles.word(a, row, k), tiles.word(b, k, column))
                });
                let at = row * 64 + 4 * column;
                tiles.cells[usize::from(c)][at..at + 4].copy_from_slice(&cell);
            }
        }
    });
}
