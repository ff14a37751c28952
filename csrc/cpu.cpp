#include "dispatch.hpp"

#include <atomic>

namespace fp {

namespace {

int detect() {
#if defined(FP_HAVE_X86_KERNELS) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // __builtin_cpu_supports consults CPUID and the OS's XSAVE state (XGETBV) in libgcc.
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
              __builtin_cpu_supports("f16c");
  bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (avx512) return SIMD_AVX512;
  if (avx2) return SIMD_AVX2;
#endif
  return SIMD_GENERIC;
}

const int kSupported = detect();
std::atomic<int> g_level{kSupported};

}  // namespace

int simd_supported() { return kSupported; }
int simd_level() { return g_level.load(std::memory_order_relaxed); }
bool set_simd_level(int level) {
  if (level < SIMD_GENERIC || level > kSupported) return false;
  g_level.store(level, std::memory_order_relaxed);
  return true;
}
const char* simd_name(int level) {
  switch (level) {
    case SIMD_AVX2: return "avx2";
    case SIMD_AVX512: return "avx512";
    default: return "generic";
  }
}

}  // namespace fp
