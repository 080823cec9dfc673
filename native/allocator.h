// Large CPU tensors without page faults.
//
// glibc hands blocks above 32 MB straight to mmap and unmaps them on free, and the compute thread's malloc arena maps
// and unmaps whole 64 MB heaps as it grows and shrinks, so every training step page-faulted its large tensors in again
// (a masked-LM step's [masked tokens, 50k vocabulary] logits, softmax and their gradients; the token-embedding
// gradient; the activations and weight gradients of a base model): on the AMD EPYC VM of the benchmarks, 21,000 page
// faults per base training step and 119,000 per base masked-LM step. So libtorch's CPU allocator is wrapped: blocks of
// kLargeBlock bytes and more are mapped by size class (3 significant bits: at most 12.5 % more than asked; from 2 MB
// up 2 MB-aligned and advised as transparent huge pages) and kept after free for the next allocation of their class
// (at most kMaxCached bytes in all): 800 and 2,400 faults per step. Smaller blocks go to libtorch's own allocator.
// The cached blocks are given back when a model is freed. RADBERT_LARGE_BLOCK_CACHE=0 leaves libtorch's allocator as
// it is.
#pragma once

#include <cstddef>

namespace radbert {

constexpr size_t kLargeBlock = size_t{1} << 20;
constexpr size_t kMaxCached = size_t{2} << 30;

// Installs the wrapper as libtorch's CPU allocator (once; later calls do nothing). Call before any tensor exists.
void install_large_block_cache();
// Unmaps every cached (free) block.
void release_cached_blocks();

}  // namespace radbert
