// The only file that includes pybind11: argument checks (again, after Python's), array plumbing,
// and GIL release around every heavy call. Kernels live in their own files.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "dispatch.hpp"
#include "divergence.hpp"

namespace py = pybind11;

namespace {

const char* const kDenseFieldNames[fp::NUM_FIELDS] = {
    "logprob_p", "logprob_q", "rank_p", "rank_q", "entropy_p", "entropy_q",
    "cross_entropy_pq", "cross_entropy_qp", "kl_pq", "kl_qp", "js", "tv", "top1_agree",
    "var_logp_p", "var_logq_p", "var_logq_q", "var_logp_q", "lse_p", "lse_q"};

[[noreturn]] void fail(const std::string& msg) { throw py::value_error(msg); }

// A 2-D array whose last axis is contiguous, with items of `itemsize` bytes.
void check_rows(const py::array& a, const char* name, py::ssize_t itemsize) {
  if (a.ndim() != 2) fail(std::string(name) + ": expected a 2-D array");
  if (a.itemsize() != itemsize)
    fail(std::string(name) + ": item size " + std::to_string(a.itemsize()) + " does not match dtype code");
  if (a.shape(1) > 1 && a.strides(1) != itemsize)
    fail(std::string(name) + ": last axis must be contiguous");
  if (a.strides(0) % itemsize != 0) fail(std::string(name) + ": row stride not a multiple of the item size");
}

template <class T>
T* vector_ptr(const py::array& a, const char* name, py::ssize_t n, bool writable) {
  if (a.ndim() != 1 || a.shape(0) != n) fail(std::string(name) + ": expected shape (" + std::to_string(n) + ",)");
  if (a.itemsize() != py::ssize_t(sizeof(T)) || (n > 1 && a.strides(0) != py::ssize_t(sizeof(T))))
    fail(std::string(name) + ": expected a contiguous array of " + std::to_string(sizeof(T)) + "-byte items");
  if (writable && !a.writeable()) fail(std::string(name) + ": output array is read-only");
  return static_cast<T*>(const_cast<void*>(a.data()));
}

py::ssize_t dtype_itemsize(int code) {
  if (code == fp::DT_F32) return 4;
  if (code == fp::DT_F16 || code == fp::DT_BF16) return 2;
  fail("unknown dtype code " + std::to_string(code));
}

void dense_panel(const py::array& p, const py::array& q, int dtype_p, int dtype_q,
                 const py::object& targets, const std::vector<std::pair<int, py::array>>& outs,
                 const py::array& errors, int num_threads) {
  check_rows(p, "p", dtype_itemsize(dtype_p));
  check_rows(q, "q", dtype_itemsize(dtype_q));
  if (p.shape(0) != q.shape(0) || p.shape(1) != q.shape(1)) fail("p and q must have the same shape");
  if (p.shape(1) < 1) fail("vocabulary size must be at least 1");
  if (num_threads < 1) fail("num_threads must be >= 1");
  fp::DenseArgs a;
  a.p = p.data();
  a.q = q.data();
  a.dtype_p = dtype_p;
  a.dtype_q = dtype_q;
  a.n = p.shape(0);
  a.vocab = p.shape(1);
  a.row_stride_p = p.strides(0) / p.itemsize();
  a.row_stride_q = q.strides(0) / q.itemsize();
  py::array t_arr;
  if (!targets.is_none()) {
    t_arr = py::array(targets);
    a.targets = vector_ptr<const int64_t>(t_arr, "targets", a.n, false);
  }
  for (const auto& fo : outs) {
    if (fo.first < 0 || fo.first >= fp::NUM_FIELDS) fail("unknown field index " + std::to_string(fo.first));
    a.out[fo.first] = vector_ptr<double>(fo.second, kDenseFieldNames[fo.first], a.n, true);
  }
  a.errors = vector_ptr<int32_t>(errors, "errors", a.n, true);
  {
    py::gil_scoped_release release;
    fp::dense_panel(a, num_threads);
  }
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fingerprint native kernels (private; use the fingerprint package)";
  std::vector<std::string> names(kDenseFieldNames, kDenseFieldNames + fp::NUM_FIELDS);
  m.attr("DENSE_FIELDS") = py::tuple(py::cast(names));
  m.attr("DT_F32") = int(fp::DT_F32);
  m.attr("DT_F16") = int(fp::DT_F16);
  m.attr("DT_BF16") = int(fp::DT_BF16);
  m.attr("ERR_NONFINITE_P") = int(fp::ERR_NONFINITE_P);
  m.attr("ERR_NONFINITE_Q") = int(fp::ERR_NONFINITE_Q);
  m.attr("ERR_ALL_NEGINF_P") = int(fp::ERR_ALL_NEGINF_P);
  m.attr("ERR_ALL_NEGINF_Q") = int(fp::ERR_ALL_NEGINF_Q);
  m.attr("ERR_TARGET_RANGE") = int(fp::ERR_TARGET_RANGE);

  m.def("simd_supported", &fp::simd_supported, "Highest SIMD level of this CPU and build (0 generic, 1 avx2, 2 avx512).");
  m.def("simd_level", &fp::simd_level, "SIMD level in use.");
  m.def("set_simd_level", &fp::set_simd_level, py::arg("level"),
        "Use SIMD level `level` (must not exceed simd_supported()); returns False if unsupported.");
  m.def("simd_name", [](int level) { return std::string(fp::simd_name(level)); }, py::arg("level"));
  m.def("dense_panel", &dense_panel, py::arg("p"), py::arg("q"), py::arg("dtype_p"), py::arg("dtype_q"),
        py::arg("targets"), py::arg("outs"), py::arg("errors"), py::arg("num_threads"),
        "Dense divergence panel over rows of p and q; writes the requested float64 outputs in place.");
}
