//! Intel's AMX tiles (Sapphire Rapids and later): whether this CPU has them and
//! may use them, and the few tile instructions the int8 and bf16 products need.
//!
//! Stable Rust has no AMX intrinsics (nor `is_x86_feature_detected!` for AMX),
//! so the features are read from CPUID and the instructions written as inline
//! assembly, the tile registers named in the templates: the compiler never
//! allocates them, so no other code disturbs them. Each kernel loads its own
//! configuration and releases the tiles when it returns. In test builds (and
//! with the `emulated-amx` feature) on a CPU without the tiles, the
//! instructions run in software (`amx_emulation`).

use std::sync::OnceLock;

/// Rows a tile holds at most.
pub const ROWS: usize = 16;

/// CPUID leaf 7 EDX bits: AMX-BF16, AMX-TILE, AMX-INT8.
const BF16: u32 = 1 << 22;
const TILE: u32 = 1 << 24;
const INT8: u32 = 1 << 25;

/// Whether AMX-INT8 tiles run here: the CPU has them and Linux granted this
/// process the tile data state (`ARCH_REQ_XCOMP_PERM`, which without a grant
/// makes the first tile instruction fault). Asked once (CPUID is slow in a VM).
pub fn int8_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| leaf_7_edx() & (TILE | INT8) == TILE | INT8 && tile_data_granted())
}

/// Whether AMX-BF16 tiles run here, as [`int8_available`] for `tdpbf16ps`.
pub fn bf16_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| leaf_7_edx() & (TILE | BF16) == TILE | BF16 && tile_data_granted())
}

/// Whether the tile instructions run in software here: in test builds (or
/// with the `emulated-amx` feature), on a CPU (or kernel) without the tiles.
pub fn emulated() -> bool {
    cfg!(any(test, feature = "emulated-amx")) && !(int8_available() || bf16_available())
}

/// Prints, for a test's output, that the tiles it uses run in software.
#[cfg(test)]
pub fn say_if_emulated() {
    if emulated() {
        println!("AMX tiles emulated in software: this CPU (or kernel) has none");
    }
}

/// Whether Linux granted the tile data state; asked once.
fn tile_data_granted() -> bool {
    static GRANTED: OnceLock<bool> = OnceLock::new();
    *GRANTED.get_or_init(request_tile_data)
}

fn leaf_7_edx() -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__cpuid_count, __get_cpuid_max};
        // Leaf 7 is read only where the highest basic leaf reaches it.
        if __get_cpuid_max(0).0 >= 7 {
            return __cpuid_count(7, 0).edx;
        }
    }
    0
}

/// Asks Linux for the AMX tile data state (a process-wide grant).
fn request_tile_data() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        /// `arch_prctl` code and state component number, from Linux's
        /// `arch/x86/include/uapi/asm/prctl.h` and `fpu/types.h`.
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: `arch_prctl(ARCH_REQ_XCOMP_PERM, ..)` reads no memory of ours;
        // it only widens which register states this process may use.
        let granted = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        if granted != 0 {
            tracing::info!("AMX tiles: Linux refused the tile data state; not used");
        }
        granted == 0
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        false
    }
}

/// A tile configuration (palette 1): each tile's rows and bytes per row.
#[repr(C, align(64))]
pub struct TileConfig([u8; 64]);

impl TileConfig {
    /// No tile in use.
    pub fn new() -> Self {
        let mut bytes = [0; 64];
        bytes[0] = 1;
        Self(bytes)
    }

    /// Tile `tile` of `rows` (at most 16) rows of `bytes` (at most 64) each.
    pub fn with(mut self, tile: usize, rows: usize, bytes: usize) -> Self {
        assert!(tile < 8 && (1..=16).contains(&rows) && (1..=64).contains(&bytes));
        self.0[16 + 2 * tile..18 + 2 * tile].copy_from_slice(&(bytes as u16).to_le_bytes());
        self.0[48 + tile] = rows as u8;
        self
    }
}

/// Loads `config` (`ldtilecfg`).
///
/// # Safety
/// [`int8_available`] or [`bf16_available`] must hold.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn configure(config: &TileConfig) {
    #[cfg(any(test, feature = "emulated-amx"))]
    if emulated() {
        return super::amx_emulation::configure(&config.0);
    }
    // SAFETY: the caller checked AMX is usable; the 64 bytes are readable.
    unsafe {
        std::arch::asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack, readonly))
    };
}

/// Returns the tiles to their unused state (`tilerelease`), so that context
/// switches stop saving them.
///
/// # Safety
/// [`int8_available`] or [`bf16_available`] must hold.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn release() {
    #[cfg(any(test, feature = "emulated-amx"))]
    if emulated() {
        return super::amx_emulation::release();
    }
    // SAFETY: the caller checked AMX is usable.
    unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
}

/// Sets tile `T`'s configured cells to zero (`tilezero`).
///
/// # Safety
/// A configuration that gives tile `T` a shape must be loaded.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn zero<const T: u8>() {
    #[cfg(any(test, feature = "emulated-amx"))]
    if emulated() {
        return super::amx_emulation::zero(T);
    }
    // SAFETY: the caller loaded a configuration shaping tile `T`.
    unsafe { std::arch::asm!("tilezero tmm{t}", t = const T, options(nostack, nomem)) };
}

/// Loads tile `T`'s rows from `rows`, one every `stride` bytes (`tileloadd`).
///
/// # Safety
/// A configuration shaping tile `T` must be loaded, and each of its rows'
/// bytes readable at `rows + i * stride`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn load<const T: u8>(rows: *const u8, stride: usize) {
    #[cfg(any(test, feature = "emulated-amx"))]
    if emulated() {
        // SAFETY: the caller vouches for the bytes.
        return unsafe { super::amx_emulation::load(T, rows, stride) };
    }
    // SAFETY: the caller loaded the configuration and vouches for the bytes.
    unsafe {
        std::arch::asm!(
            "tileloadd tmm{t}, [{rows} + {stride} * 1]",
            t = const T,
            rows = in(reg) rows,
            stride = in(reg) stride,
            options(nostack, readonly)
        )
    };
}

/// Stores tile `T`'s rows to `rows`, one every `stride` bytes (`tilestored`).
///
/// # Safety
/// A configuration shaping tile `T` must be loaded, and each of its rows'
/// bytes writable at `rows + i * stride`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn store<const T: u8>(rows: *mut u8, stride: usize) {
    #[cfg(any(test, feature = "emulated-amx"))]
    if emulated() {
        // SAFETY: the caller vouches for the bytes.
        return unsafe { super::amx_emulation::store(T, rows, stride) };
    }
    // SAFETY: the caller loaded the configuration and vouches for the bytes.
    unsafe {
        std::arch::asm!(
            "tilestored [{rows} + {stride} * 1], tmm{t}",
            t = const T,
            rows = in(reg) rows,
            stride = in(reg) stride,
            options(nostack)
        )
    };
}

/// Tile `C` (i32 sums) += tile `A` (signed bytes, one row per output row)
/// times tile `B` (unsigned bytes, four inputs of each output column a row
/// segment: VNNI's order) (`tdpbsud`).
///
/// # Safety
/// A configuration giving the three tiles matching shapes must be loaded.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn add_signed_by_unsigned<const C: u8, const A: u8, const B: u8>() {
    #[cfg(any(test, feature = "emulated-amx"))]
    if emulated() {
        return super::amx_emulation::add_signed_by_unsigned(C, A, B);
    }
    // SAFETY: the caller loaded a configuration shaping the tiles to fit.
    unsafe {
        std::arch::asm!(
            "tdpbsud tmm{c}, tmm{a}, tmm{b}",
            c = const C,
            a = const A,
            b = const B,
            options(nostack, nomem)
        )
    };
}

/// Tile `C` (f32 sums) += tile `A` (bf16 pairs, one row per output row) times
/// tile `B` (bf16 pairs, one row per pair of inputs, one pair per output
/// column) (`tdpbf16ps`).
///
/// # Safety
/// A configuration giving the three tiles matching shapes must be loaded.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn add_bf16_products<const C: u8, const A: u8, const B: u8>() {
    #[cfg(any(test, feature = "emulated-amx"))]
    if emulated() {
        return super::amx_emulation::add_bf16_products(C, A, B);
    }
    // SAFETY: the caller loaded a configuration shaping the tiles to fit.
    unsafe {
        std::arch::asm!(
            "tdpbf16ps tmm{c}, tmm{a}, tmm{b}",
            c = const C,
            a = const A,
            b = const B,
            options(nostack, nomem)
        )
    };
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn cpuid_reads_as_the_kernel_reports_it() {
        let flags = std::fs::read_to_string("/proc/cpuinfo").ok();
        let listed = |name: &str| {
            (flags.as_deref())
                .and_then(|f| f.lines().find(|line| line.starts_with("flags")))
                .is_some_and(|line| line.split_whitespace().any(|flag| flag == name))
        };
        if flags.is_none() {
            println!("skipped: no /proc/cpuinfo to compare CPUID with");
            return;
        }
        // The kernel lists the flags only where it supports the tiles.
        assert_eq!(int8_available(), listed("amx_tile") && listed("amx_int8"));
        assert_eq!(bf16_available(), listed("amx_tile") && listed("amx_bf16"));
    }

    #[test]
    fn a_tile_product_equals_the_integer_product() {
        say_if_emulated();
        // 13 rows of 32 signed bytes times 32 inputs of 16 columns (VNNI order).
        let (rows, inputs) = (13, 32);
        let a: Vec<i8> = (0..rows * inputs)
            .map(|i| ((i * 37) % 255) as u8 as i8)
            .collect();
        let b: Vec<u8> = (0..inputs * 16).map(|i| ((i * 91) % 256) as u8).collect();
        let mut c = [[7i32; 16]; 16];
        let config = TileConfig::new()
            .with(0, rows, inputs)
            .with(1, inputs / 4, 64)
            .with(2, rows, 64);
        // SAFETY: the tiles run here (or in software); their rows lie inside
        // `a`, `b` and `c` as configured.
        unsafe {
            configure(&config);
            zero::<2>();
            load::<0>(a.as_ptr().cast(), inputs);
            load::<1>(b.as_ptr(), 64);
            add_signed_by_unsigned::<2, 0, 1>();
            store::<2>(c.as_mut_ptr().cast(), 64);
            release();
        }
        for (row, sums) in c.iter().enumerate() {
            for (column, &sum) in sums.iter().enumerate() {
                let expected: i32 = match row < rows {
                    true => (0..inputs)
                        .map(|k| {
                            let weight = b[(k / 4) * 64 + column * 4 + k % 4];
                            i32::from(a[row * inputs + k]) * i32::from(weight)
                        })
                        .sum(),
                    // Rows past the configured ones are not stored.
                    false => 7,
                };
                assert_eq!(sum, expected, "row {row} column {column}");
            }
        }
    }

    #[test]
    fn a_bf16_tile_product_adds_the_pairs_products_to_the_sums() {
        say_if_emulated();
        // 13 rows of 16 pairs times 16 pairs of 16 columns, added to sums loaded
        // first; small integers and quarters, so every sum is exact in f32.
        let (rows, pairs) = (13, 16);
        let bf16 = |value: f32| u32::from(half::bf16::from_f32(value).to_bits());
        let a_value = |row: usize, input: usize| ((row * 7 + input * 3) % 7) as f32 - 3.0;
        let b_value = |input: usize, column: usize| ((input * 3 + column) % 5) as f32 / 4.0 - 0.5;
        let a: Vec<u32> = (0..rows * pairs)
            .map(|i| {
                let (row, pair) = (i / pairs, i % pairs);
                bf16(a_value(row, 2 * pair)) | bf16(a_value(row, 2 * pair + 1)) << 16
            })
            .collect();
        let b: Vec<u32> = (0..pairs * 16)
            .map(|i| {
                let (pair, column) = (i / 16, i % 16);
                bf16(b_value(2 * pair, column)) | bf16(b_value(2 * pair + 1, column)) << 16
            })
            .collect();
        let start = |row: usize, column: usize| (row * 16 + column) as f32;
        let mut c: Vec<f32> = (0..16 * 16).map(|i| start(i / 16, i % 16)).collect();
        let config = TileConfig::new()
            .with(0, rows, 64)
            .with(1, pairs, 64)
            .with(2, rows, 64);
        // SAFETY: the tiles run here (or in software); their rows lie inside
        // `a`, `b` and `c` as configured.
        unsafe {
            configure(&config);
            load::<2>(c.as_ptr().cast(), 64);
            load::<0>(a.as_ptr().cast(), 64);
            load::<1>(b.as_ptr().cast(), 64);
            add_bf16_products::<2, 0, 1>();
            store::<2>(c.as_mut_ptr().cast(), 64);
            release();
        }
        for (index, &sum) in c.iter().enumerate() {
            let (row, column) = (index / 16, index % 16);
            let expected = match row < rows {
                true => (0..2 * pairs)
                    .map(|input| a_value(row, input) * b_value(input, column))
                    .sum::<f32>(),
                // Rows past the configured ones are not stored.
                false => 0.0,
            } + start(row, column);
            assert_eq!(sum, expected, "row {row} column {column}");
        }
    }
}
