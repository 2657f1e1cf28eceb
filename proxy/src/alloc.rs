//! The process's allocator: mimalloc, called through its plain entry points.
//!
//! mimalloc: 5–8 % less CPU per request than glibc's malloc on the sidecar's hot path,
//! measured side by side (bench/README.md, "The hot path"); its arenas are committed on
//! demand (`.cargo/config.toml`) so idle RSS stays where glibc's was.
//!
//! Written here instead of using `mimalloc::MiMalloc`, because that type sends every
//! allocation through `mi_malloc_aligned`, whatever its alignment. In mimalloc 3 that entry
//! point checks the alignment again on each call, and for a block over 1 KiB whose size is
//! not a power of two it falls back to over-allocating (room for the alignment on top)
//! even when the alignment asked for is 1 or 8. The sidecar makes ~70 allocations per
//! request (pingora's sessions, header maps, tower futures): counted with callgrind in
//! bench/README.md ("Instructions per request"). mimalloc's blocks are always aligned to a
//! machine word, so an alignment up to that needs no aligned entry point; larger ones
//! still take it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment every mimalloc block has (its size classes are whole words).
const WORD: usize = std::mem::size_of::<usize>();

pub(crate) struct Mimalloc;

// SAFETY: each method forwards to the mimalloc function with the same contract, and asks
// for the layout's alignment whenever it exceeds the alignment every block has.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            mi::mi_malloc(layout.size()).cast()
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            mi::mi_zalloc(layout.size()).cast()
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr.cast::<c_void>());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
        } else {
            mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_have_the_alignment_asked_for_and_keep_their_bytes() {
        // Sizes on both sides of mimalloc's small/large and power-of-two boundaries, and
        // alignments below, at and above a word.
        for size in [
            1,
            7,
            8,
            24,
            100,
            1000,
            1024,
            1500,
            4096,
            5000,
            70_000,
            3 << 20,
        ] {
            for align in [1, 2, 8, 16, 64, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                unsafe {
                    let p = Mimalloc.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    p.write_bytes(0xa5, size);
                    let grown = size * 2 + 3;
                    let q = Mimalloc.realloc(p, layout, grown);
                    assert_eq!(q as usize % align, 0, "realloc size {size} align {align}");
                    assert!(std::slice::from_raw_parts(q, size)
                        .iter()
                        .all(|&b| b == 0xa5));
                    Mimalloc.dealloc(q, Layout::from_size_align(grown, align).unwrap());
                    let z = Mimalloc.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "zeroed size {size} align {align}");
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                    Mimalloc.dealloc(z, layout);
                }
            }
        }
    }
}
