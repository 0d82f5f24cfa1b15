// The one way the vector kernels compile a loop for the widest vectors the CPU has: a function
// marked BP_VECTOR_CLONES is compiled once per instruction set below, and the dynamic loader picks
// the clone for the CPU when the library loads (GCC's and clang's target_clones). Internal.
//
// - Clang rejects target_clones on a template: write the loop as an always_inline template and
//   call it from a cloned non-template function (which may switch over the template's arguments).
// - GCC vectorises the loops with the 512-bit registers only at -O3 (the Release build).
// - Write the loops through __restrict pointers where the buffers are distinct, so that the
//   compiler need not guard against overlap.
#pragma once

#define BP_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
