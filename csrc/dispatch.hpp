// Run-time choice of the SIMD kernel set. The default build is portable: generic kernels are
// compiled for the baseline ISA, and on x86-64 the AVX2 (+FMA, F16C) and AVX-512 (F, BW, VL, DQ)
// kernel sets are compiled in their own translation units with their own flags. At run time the
// best set the CPU (and OS, via XGETBV) supports is used; `set_simd_level` may lower it (tests run
// every available level; FINGERPRINT_SIMD=generic|avx2|avx512 does the same from Python).
#pragma once

namespace fp {

enum SimdLevel : int { SIMD_GENERIC = 0, SIMD_AVX2 = 1, SIMD_AVX512 = 2 };

// Highest level this CPU and build support.
int simd_supported();
// Level in use (defaults to simd_supported()).
int simd_level();
// Sets the level in use; returns false (and changes nothing) if the level is not supported.
bool set_simd_level(int level);
const char* simd_name(int level);

}  // namespace fp
