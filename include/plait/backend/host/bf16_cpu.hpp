#pragma once
// Whether this CPU multiplies bfloat16 natively, as oneDNN sees it: host_math::bf16 (backend.hpp) needs
// AVX-512 BF16 (oneDNN's avx512_core_bf16: Intel Cooper Lake, AMD Zen 4 and later) or AMX (avx512_core_amx:
// Intel Sapphire Rapids and later), and is refused without them. oneDNN would still run bf16 products on
// an older CPU, by converting them to float32 inside its kernels (its gemm:jit path, about 5x slower here
// than its bf16 one and slower than OpenBLAS's float32): a mode chosen for speed that runs slower than the
// default is refused rather than emulated.
//
// oneDNN reads ONEDNN_MAX_CPU_ISA (e.g. AVX512_CORE) once, before its first use in a process: a process
// started with it set below avx512_core_bf16 sees a CPU without bf16 (how the refusal is tested).

#include <oneapi/dnnl/dnnl.h>

#include "../../core/error.hpp"

namespace plait::host_detail {

/// oneDNN's name for an instruction set, as ONEDNN_MAX_CPU_ISA spells it.
inline const char* isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "SSE41";
    case dnnl_cpu_isa_avx: return "AVX";
    case dnnl_cpu_isa_avx2: return "AVX2";
    case dnnl_cpu_isa_avx2_vnni: return "AVX2_VNNI";
    case dnnl_cpu_isa_avx512_mic: return "AVX512_MIC";
    case dnnl_cpu_isa_avx512_mic_4ops: return "AVX512_MIC_4OPS";
    case dnnl_cpu_isa_avx512_core: return "AVX512_CORE";
    case dnnl_cpu_isa_avx512_core_vnni: return "AVX512_CORE_VNNI";
    case dnnl_cpu_isa_avx512_core_bf16: return "AVX512_CORE_BF16";
    case dnnl_cpu_isa_avx512_core_amx: return "AVX512_CORE_AMX";
    default: return "no vector extension oneDNN uses";
  }
}

/// The instruction set oneDNN runs its kernels with on this CPU (capped by ONEDNN_MAX_CPU_ISA).
inline dnnl_cpu_isa_t effective_isa() { return dnnl_get_effective_cpu_isa(); }

/// Whether `isa` includes AVX-512 BF16 (every set above avx512_core_bf16 holds its bits; avx2_vnni does not).
constexpr bool has_bf16(dnnl_cpu_isa_t isa) {
  return (unsigned(isa) & unsigned(dnnl_cpu_isa_avx512_core_bf16)) == unsigned(dnnl_cpu_isa_avx512_core_bf16);
}

/// Throws unless this CPU multiplies bfloat16 natively (what host_math::bf16 needs).
inline void expect_bf16_cpu() {
  const dnnl_cpu_isa_t isa = effective_isa();
  if (has_bf16(isa)) return;
  fail("host_math::bf16 was asked for on a CPU without bfloat16 instructions",
       cat("oneDNN runs this CPU with ", isa_name(isa),
           ", below AVX512_CORE_BF16; it would emulate bf16 products more slowly than float32 ones"),
       "use host_math::float32 (the default) here, or run on a CPU with AVX-512 BF16 or AMX (Intel Cooper Lake or "
       "Sapphire Rapids and later, AMD Zen 4 and later); if ONEDNN_MAX_CPU_ISA is set, unset it");
}

}  // namespace plait::host_detail
