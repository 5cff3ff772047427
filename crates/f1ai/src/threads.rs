//! The process's thread count, decided once.

/// The variable candle and rayon read for their thread count.
const THREADS_VARIABLE: &str = "RAYON_NUM_THREADS";

/// Fixes the thread count in `RAYON_NUM_THREADS` (candle's own choice, the
/// physical cores, unless the variable is already set). Without it candle asks
/// again before every CPU matmul, and on Linux that parses /proc/cpuinfo (60
/// times per token for SmolLM2's attention alone; fixing it took SmolLM2's decode
/// from 56-63 to 64-74 tokens/s). Call before any thread starts.
pub fn fix_thread_count() {
    if std::env::var_os(THREADS_VARIABLE).is_none() {
        let threads = candle_core::utils::get_num_threads();
        std::env::set_var(THREADS_VARIABLE, threads.to_string());
    }
}
