//! Cache prefetch hints: ask the CPU to start loading memory that will be read soon, without
//! waiting for it (x86_64 only; elsewhere they do nothing). A hint never faults, whatever the
//! address, so these are safe to call on any memory the caller can name.

/// Cache line size assumed for prefetching.
const CACHE_LINE_BYTES: usize = 64;

/// Prefetches every cache line of the items of `items` (not what they point to).
pub fn prefetch_slice<T>(items: &[T]) {
    prefetch_range(items.as_ptr().cast(), std::mem::size_of_val(items));
}

/// Prefetches every cache line `value` occupies.
pub fn prefetch_value<T>(value: &T) {
    prefetch_range((value as *const T).cast(), std::mem::size_of::<T>());
}

/// Prefetches every cache line of `length` bytes from `start`.
#[allow(unsafe_code)]
fn prefetch_range(start: *const u8, length: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let end = start as usize + length;
        let mut line = start as usize / CACHE_LINE_BYTES * CACHE_LINE_BYTES;
        while line < end {
            // SAFETY: a prefetch only hints the cache; it never faults, whatever the address.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    line as *const i8,
                );
            }
            line += CACHE_LINE_BYTES;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, length);
}
