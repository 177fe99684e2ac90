//! The binary's global allocator: mimalloc (every watched message is a few allocations, made
//! and freed by the million on each lane's thread), called the way Rust's own system
//! allocator calls malloc: the plain entry points whenever malloc's alignment guarantee covers
//! the layout, the aligned ones only otherwise. The `mimalloc` crate always calls the aligned
//! ones, whose fast path gives way to a generic path each time the free list of a size class
//! runs dry; on watched responses that made an allocation cost about 90 instructions.
//! A layout aligned beyond malloc's guarantee whose size is a multiple of its alignment (a
//! cache-line-aligned type) also tries the plain entry point first and keeps the block when it
//! is aligned, as mimalloc's size classes of such sizes make it: mimalloc's aligned entry point
//! over-allocates those into the next size class whenever its fast path misses.

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// The alignment malloc guarantees for blocks at least this large (that of `max_align_t`);
/// smaller blocks are aligned to their size rounded down to a power of two.
const MALLOC_ALIGN: usize = 16;

/// mimalloc as the global allocator (see the module header).
pub struct Mimalloc;

/// Whether a plain allocation of `size` bytes is aligned to `align`.
fn plain_fits(align: usize, size: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

/// A block for `layout` from the plain entry point where it fits, from the aligned one
/// otherwise (after a plain try where the size is a multiple of the alignment).
#[allow(unsafe_code)]
fn allocate(
    layout: Layout,
    plain: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    let (size, align) = (layout.size(), layout.align());
    // SAFETY: `plain` and `aligned` are mimalloc's allocation entry points (the only callers
    // are below); a null result is passed on as allocation failure, and a misaligned plain
    // block goes back to mimalloc before the aligned call.
    unsafe {
        if plain_fits(align, size) {
            return plain(size).cast();
        }
        if size.is_multiple_of(align) {
            let block = plain(size);
            if (block as usize).is_multiple_of(align) {
                return block.cast();
            }
            mi_free(block);
        }
        aligned(size, align).cast()
    }
}

// SAFETY: every block comes from mimalloc with at least the layout's alignment (the plain
// calls only where malloc's guarantee covers it) and goes back to mimalloc.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Mimalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocate(layout, mi_malloc, mi_malloc_aligned)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocate(layout, mi_zalloc, mi_zalloc_aligned)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the caller's contract).
        unsafe { mi_free(ptr.cast::<c_void>()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout` (the caller's contract).
        unsafe {
            match plain_fits(layout.align(), new_size) {
                true => mi_realloc(ptr.cast::<c_void>(), new_size),
                false => mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()),
            }
            .cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn blocks_of_every_small_layout_are_aligned_and_usable() {
        let allocator = Mimalloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 3, 8, 15, 16, 17, 24, 100, 384, 1024, 4096, 5000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; each block is written within its size and freed once.
                unsafe {
                    let block = allocator.alloc_zeroed(layout);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % align, 0, "size {size} align {align}");
                    assert!(std::slice::from_raw_parts(block, size)
                        .iter()
                        .all(|&b| b == 0));
                    block.write_bytes(0xa5, size);
                    let grown = allocator.realloc(block, layout, size * 3);
                    assert_eq!(
                        grown as usize % align,
                        0,
                        "grown: size {size} align {align}"
                    );
                    assert!(std::slice::from_raw_parts(grown, size)
                        .iter()
                        .all(|&b| b == 0xa5));
                    allocator.dealloc(grown, Layout::from_size_align(size * 3, align).unwrap());
                }
            }
        }
    }
}
