// The only file that includes pybind11: argument checks (again, after Python's), array plumbing,
// and GIL release around every heavy call. Kernels live in their own files.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "dispatch.hpp"
#include "divergence.hpp"
#include "topk.hpp"

namespace py = pybind11;

namespace {

const char* const kDenseFieldNames[fp::NUM_FIELDS] = {
    "logprob_p", "logprob_q", "rank_p", "rank_q", "entropy_p", "entropy_q",
    "cross_entropy_pq", "cross_entropy_qp", "kl_pq", "kl_qp", "js", "tv", "top1_agree",
    "var_logp_p", "var_logq_p", "var_logq_q", "var_logp_q", "lse_p", "lse_q"};

[[noreturn]] void fail(const std::string& msg) { throw py::value_error(msg); }

// Read-only view of a contiguous 1-D array of T (dtype and layout checked).
template <class T>
const T* in_vector(const py::array& a, const char* name) {
  if (a.ndim() != 1) fail(std::string(name) + ": expected a 1-D array");
  if (!py::isinstance<py::array_t<T>>(a) || a.itemsize() != py::ssize_t(sizeof(T)))
    fail(std::string(name) + ": unexpected dtype");
  if (a.shape(0) > 1 && a.strides(0) != py::ssize_t(sizeof(T))) fail(std::string(name) + ": must be contiguous");
  return static_cast<const T*>(a.data());
}

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

// ---- top-k panel (fingerprint.topk) ---------------------------------------------------------

const char* const kTopkFieldNames[fp::TK_NUM_FIELDS] = {
    "logprob_p", "logprob_q", "rank_p", "rank_q", "entropy_p", "entropy_q",
    "cross_entropy_pq", "cross_entropy_qp", "kl_pq", "kl_qp", "js", "tv", "top1_agree",
    "var_logp_p", "var_logq_p", "var_logq_q", "var_logp_q"};
const char* const kTopkTailNames[fp::NUM_TAILS] = {"bucket", "ignore", "renormalize", "geometric"};

bool native_order(const py::dtype& dt) {
  const char b = dt.byteorder();
  const uint16_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return b == '=' || b == '|' || b == (first == 1 ? '<' : '>');
}

// One model's [n, k] ids (int32/int64) and log-probs (float32/float64), any strides that are
// whole multiples of the item size, aligned data.
void topk_side(const py::array& ids, const py::array& lps, const char* ids_name, const char* lp_name,
               fp::TopkSide& s) {
  if (ids.ndim() != 2) fail(std::string(ids_name) + ": expected a 2-D array");
  if (lps.ndim() != 2) fail(std::string(lp_name) + ": expected a 2-D array");
  const py::dtype di = ids.dtype(), dl = lps.dtype();
  if (di.kind() != 'i' || (di.itemsize() != 4 && di.itemsize() != 8) || !native_order(di))
    fail(std::string(ids_name) + ": expected native int32 or int64");
  if (dl.kind() != 'f' || (dl.itemsize() != 4 && dl.itemsize() != 8) || !native_order(dl))
    fail(std::string(lp_name) + ": expected native float32 or float64");
  if (ids.shape(0) != lps.shape(0) || ids.shape(1) != lps.shape(1))
    fail(std::string(ids_name) + " and " + lp_name + " must have the same shape");
  for (const py::array* a : {&ids, &lps}) {
    const py::ssize_t it = a->itemsize();
    if (a->strides(0) % it != 0 || a->strides(1) % it != 0 ||
        reinterpret_cast<uintptr_t>(a->data()) % static_cast<uintptr_t>(it) != 0)
      fail(std::string(a == &ids ? ids_name : lp_name) + ": strides or data not aligned to the item size");
  }
  s.ids = ids.data();
  s.logprobs = lps.data();
  s.ids64 = di.itemsize() == 8;
  s.lp64 = dl.itemsize() == 8;
  s.k = ids.shape(1);
  s.id_stride0 = ids.strides(0) / ids.itemsize();
  s.id_stride1 = ids.strides(1) / ids.itemsize();
  s.lp_stride0 = lps.strides(0) / lps.itemsize();
  s.lp_stride1 = lps.strides(1) / lps.itemsize();
}

template <class T>
T* topk_vector(const py::object& obj, const char* name, py::ssize_t n, char kind, bool writable) {
  // must be an existing ndarray: a temporary conversion would not outlive this call
  if (!py::isinstance<py::array>(obj)) fail(std::string(name) + ": expected a NumPy array");
  const py::array a = py::reinterpret_borrow<py::array>(obj);
  const py::dtype dt = a.dtype();
  if (dt.kind() != kind || dt.itemsize() != py::ssize_t(sizeof(T)) || !native_order(dt))
    fail(std::string(name) + ": expected a native " + (kind == 'f' ? "float" : "int") +
         std::to_string(8 * sizeof(T)) + " array");
  return vector_ptr<T>(a, name, n, writable);
}

void topk_panel(const py::array& p_ids, const py::array& p_logprobs, const py::array& q_ids,
                const py::array& q_logprobs, int tail, int64_t vocab, const py::object& targets,
                const py::object& p_target_logprobs, const py::object& q_target_logprobs,
                const std::vector<std::pair<int, py::array>>& outs, const py::array& errors,
                int num_threads) {
  fp::TopkArgs a;
  topk_side(p_ids, p_logprobs, "p_ids", "p_logprobs", a.p);
  topk_side(q_ids, q_logprobs, "q_ids", "q_logprobs", a.q);
  if (p_ids.shape(0) != q_ids.shape(0)) fail("p and q must have the same number of rows");
  if (tail < 0 || tail >= fp::NUM_TAILS) fail("unknown tail code " + std::to_string(tail));
  if (vocab < 0) fail("vocab must be >= 0 (0 = unknown)");
  if (tail == fp::TAIL_GEOMETRIC && vocab < 1) fail("tail 'geometric' needs the vocabulary size");
  if (num_threads < 1) fail("num_threads must be >= 1");
  if (a.p.k > (int64_t(1) << 30) || a.q.k > (int64_t(1) << 30)) fail("top-k lists too long");
  a.n = p_ids.shape(0);
  a.tail = tail;
  a.vocab = vocab;
  if (!targets.is_none()) a.targets = topk_vector<const int64_t>(targets, "targets", a.n, 'i', false);
  if (!p_target_logprobs.is_none())
    a.p.target_logprobs = topk_vector<const double>(p_target_logprobs, "p_target_logprobs", a.n, 'f', false);
  if (!q_target_logprobs.is_none())
    a.q.target_logprobs = topk_vector<const double>(q_target_logprobs, "q_target_logprobs", a.n, 'f', false);
  for (const auto& fo : outs) {
    if (fo.first < 0 || fo.first >= fp::TK_NUM_FIELDS) fail("unknown field index " + std::to_string(fo.first));
    a.out[fo.first] = topk_vector<double>(fo.second, kTopkFieldNames[fo.first], a.n, 'f', true);
  }
  a.errors = topk_vector<int32_t>(errors, "errors", a.n, 'i', true);
  {
    py::gil_scoped_release release;
    fp::topk_panel(a, num_threads);
  }
}

}  // namespace

namespace fpwm_bind {
void register_watermark(py::module_& m);  // watermark section, at the end of this file
void register_threebricks(py::module_& m);  // three_bricks section, after the watermark one
}  // namespace fpwm_bind
namespace fpsid_bind {
void register_synthid(py::module_& m);  // SynthID section, at the end of this file
}
namespace fpmh_bind {
void register_minhash(py::module_& m);  // MinHash / SimHash section, at the end of this file
}

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

  // top-k panel
  std::vector<std::string> tk_names(kTopkFieldNames, kTopkFieldNames + fp::TK_NUM_FIELDS);
  m.attr("TOPK_FIELDS") = py::tuple(py::cast(tk_names));
  std::vector<std::string> tails(kTopkTailNames, kTopkTailNames + fp::NUM_TAILS);
  m.attr("TOPK_TAILS") = py::tuple(py::cast(tails));
  m.attr("TOPK_POSITIVE_TOL") = fp::kTopkPositiveTol;
  m.attr("TOPK_MASS_TOL") = fp::kTopkMassTol;
  m.attr("TOPK_TARGET_TOL") = fp::kTopkTargetTol;
  m.attr("TOPK_TAIL_EPS") = fp::kTopkTailEps;
  m.attr("TK_ERR_ID_P") = int(fp::TK_ERR_ID_P);
  m.attr("TK_ERR_NAN_P") = int(fp::TK_ERR_NAN_P);
  m.attr("TK_ERR_POSITIVE_P") = int(fp::TK_ERR_POSITIVE_P);
  m.attr("TK_ERR_DUP_P") = int(fp::TK_ERR_DUP_P);
  m.attr("TK_ERR_MASS_P") = int(fp::TK_ERR_MASS_P);
  m.attr("TK_ERR_TARGET_P") = int(fp::TK_ERR_TARGET_P);
  m.attr("TK_ERR_VOCAB_P") = int(fp::TK_ERR_VOCAB_P);
  m.attr("TK_ERR_TARGET_RANGE") = int(fp::TK_ERR_TARGET_RANGE);
  m.def("topk_panel", &topk_panel, py::arg("p_ids"), py::arg("p_logprobs"), py::arg("q_ids"),
        py::arg("q_logprobs"), py::arg("tail"), py::arg("vocab"), py::arg("targets"),
        py::arg("p_target_logprobs"), py::arg("q_target_logprobs"), py::arg("outs"),
        py::arg("errors"), py::arg("num_threads"),
        "Top-k divergence panel (the _Q error bit of each pair is the _P bit shifted left by one); "
        "writes the requested float64 outputs and per-row error bits in place.");
  fpwm_bind::register_watermark(m);
  fpwm_bind::register_threebricks(m);
  fpsid_bind::register_synthid(m);
  fpmh_bind::register_minhash(m);
}

// =================================================================================================
// Watermarks: torch-compatible CPU generator, KGW and Unigram kernels (csrc/torch_rng.*,
// csrc/watermark.*). Python validates first (fingerprint/watermark); the kernels check again.
// =================================================================================================
#include "torch_rng.hpp"
#include "watermark.hpp"

namespace fpwm_bind {

namespace {

template <class T>
py::array_t<T> new_array(py::ssize_t n) {
  return py::array_t<T>(std::vector<py::ssize_t>{n});
}

int64_t checked_n(int64_t n, const char* name) {
  if (n < 0) fail(std::string(name) + " must be >= 0");
  return n;
}

struct KgwArgs {
  fp::wm::KgwConfig cfg;
  py::array table;  // keeps the hashint table alive
};

KgwArgs make_config(const py::dict& d) {
  KgwArgs a;
  auto& c = a.cfg;
  c.prf = d["prf"].cast<int>();
  c.prf_width = d["prf_width"].cast<int64_t>();
  c.ngram_len = d["ngram_len"].cast<int64_t>();
  c.min_len = d["min_len"].cast<int64_t>();
  c.self_salt = d["self_salt"].cast<bool>();
  c.key = d["key"].cast<uint64_t>();
  c.vocab = d["vocab"].cast<int64_t>();
  c.green_size = d["green_size"].cast<int64_t>();
  c.select_head = d["select_head"].cast<bool>();
  c.ignore_repeated = d["ignore_repeated"].cast<bool>();
  c.bos = d["bos"].cast<int64_t>();
  py::object t = d["table"];
  if (!t.is_none()) {
    a.table = py::array(t);
    if (a.table.ndim() != 1 || a.table.shape(0) != fp::wm::kHashTableSize)
      fail("table: expected " + std::to_string(fp::wm::kHashTableSize) + " entries");
    const int32_t* p = in_vector<int32_t>(a.table, "table");
    for (int64_t i = 0; i < fp::wm::kHashTableSize; ++i)
      if (p[i] < 0 || p[i] >= fp::wm::kHashTableSize) fail("table: entries must lie in [0, 1000003)");
    c.table = p;
  }
  return a;
}

py::dict kgw_detect_batch(const py::array& ids, const py::array& offsets, const py::dict& config,
                          bool want_masks, int num_threads) {
  if (num_threads < 1) fail("num_threads must be >= 1");
  KgwArgs a = make_config(config);
  const int64_t* ip = in_vector<int64_t>(ids, "ids");
  const int64_t* op = in_vector<int64_t>(offsets, "offsets");
  const int64_t n_ids = ids.shape(0);
  if (offsets.shape(0) < 1) fail("offsets: expected length B+1 >= 1");
  const int64_t B = offsets.shape(0) - 1;
  auto num_scored = new_array<int64_t>(B), num_green = new_array<int64_t>(B);
  auto num_trials = new_array<int64_t>(B), num_green_trials = new_array<int64_t>(B);
  auto num_repeated = new_array<int64_t>(B);
  auto too_short = new_array<uint8_t>(B);
  fp::wm::KgwBatchOut out;
  out.num_scored = num_scored.mutable_data();
  out.num_green = num_green.mutable_data();
  out.num_trials = num_trials.mutable_data();
  out.num_green_trials = num_green_trials.mutable_data();
  out.num_repeated = num_repeated.mutable_data();
  out.too_short = too_short.mutable_data();
  py::dict res;
  if (want_masks) {
    auto gm = new_array<uint8_t>(n_ids), cm = new_array<uint8_t>(n_ids);
    out.green_mask = gm.mutable_data();
    out.counted_mask = cm.mutable_data();
    res["green_mask"] = gm;
    res["counted_mask"] = cm;
  }
  {
    py::gil_scoped_release release;
    fp::wm::kgw_detect_batch(a.cfg, ip, n_ids, op, B, out, num_threads);
  }
  res["num_tokens_scored"] = num_scored;
  res["num_green_tokens"] = num_green;
  res["num_trials"] = num_trials;
  res["num_green_trials"] = num_green_trials;
  res["num_repeated"] = num_repeated;
  res["too_short"] = too_short;
  return res;
}

py::array_t<uint64_t> kgw_seeds(const py::array& ids, const py::dict& config) {
  KgwArgs a = make_config(config);
  const int64_t* ip = in_vector<int64_t>(ids, "ids");
  std::vector<uint64_t> s;
  {
    py::gil_scoped_release release;
    s = fp::wm::kgw_position_seeds(a.cfg, ip, ids.shape(0));
  }
  auto r = new_array<uint64_t>(py::ssize_t(s.size()));
  std::copy(s.begin(), s.end(), r.mutable_data());
  return r;
}

// PRF seeds (mod 2^64 - 1) of the rows of a [m, w] window matrix.
py::array_t<uint64_t> kgw_window_seeds(const py::array& windows, const py::dict& config) {
  KgwArgs a = make_config(config);
  fp::wm::check_config(a.cfg);
  if (windows.ndim() != 2) fail("windows: expected a 2-D array [m, width]");
  if (!py::isinstance<py::array_t<int64_t>>(windows) || !(windows.flags() & py::array::c_style))
    fail("windows: expected a C-contiguous int64 array");
  const int64_t m = windows.shape(0), w = windows.shape(1);
  if (w != a.cfg.prf_width) fail("windows: width must equal the PRF width " + std::to_string(a.cfg.prf_width));
  const int64_t* p = static_cast<const int64_t*>(windows.data());
  for (int64_t i = 0; i < m * w; ++i)
    if (p[i] < 0 || p[i] >= a.cfg.vocab) fail("windows: token id " + std::to_string(p[i]) + " outside [0, vocab)");
  auto r = new_array<uint64_t>(m);
  uint64_t* o = r.mutable_data();
  for (int64_t i = 0; i < m; ++i) o[i] = fp::wm::kgw_seed(a.cfg, p + i * w, w);
  return r;
}

}  // namespace

void register_watermark(py::module_& m) {
  m.attr("WM_HASH_TABLE_SIZE") = fp::wm::kHashTableSize;
  m.attr("WM_RANDPERM_LIMIT") = fp::trng::kRandpermSmallLimit;

  m.def("torch_randperm", [](uint64_t seed, int64_t n, int64_t k) {
        checked_n(n, "n");
        if (n < 1 || n >= fp::trng::kRandpermSmallLimit) fail("n must be in [1, 214748364)");
        if (k < 0 || k > n) fail("k must be in [0, n]");
        auto r = new_array<int64_t>(k);
        int64_t* p = r.mutable_data();
        {
          py::gil_scoped_release release;
          fp::trng::randperm_prefix(seed, n, k, p);
        }
        return r;
      }, py::arg("seed"), py::arg("n"), py::arg("k"),
      "First k entries of torch.randperm(n) on a CPU generator after manual_seed(seed).");

  m.def("torch_rand", [](uint64_t seed, int64_t n) {
        checked_n(n, "n");
        auto r = new_array<float>(n);
        float* p = r.mutable_data();
        {
          py::gil_scoped_release release;
          fp::trng::rand_f32(seed, n, p);
        }
        return r;
      }, py::arg("seed"), py::arg("n"), "torch.rand(n) (float32) on a CPU generator after manual_seed(seed).");

  m.def("torch_draws", [](uint64_t seed, int64_t n) {
        checked_n(n, "n");
        auto r = new_array<uint32_t>(n);
        uint32_t* p = r.mutable_data();
        {
          py::gil_scoped_release release;
          fp::trng::TorchMT mt(seed);
          mt.fill(p, n);
        }
        return r;
      }, py::arg("seed"), py::arg("n"), "The first n 32-bit outputs of the CPU generator after manual_seed(seed).");

  m.def("wm_green_list", [](uint64_t seed, int64_t vocab, int64_t green_size, bool select_head) {
        if (green_size < 1 || green_size >= vocab) fail("green_size must be in [1, vocab)");
        auto r = new_array<int64_t>(green_size);
        int64_t* p = r.mutable_data();
        {
          py::gil_scoped_release release;
          fp::wm::green_list(static_cast<uint32_t>(seed & 0xFFFFFFFFu), vocab, green_size, select_head, p);
        }
        return r;
      }, py::arg("seed"), py::arg("vocab"), py::arg("green_size"), py::arg("select_head"),
      "Green list (permutation order) of a seed: head or tail of randperm(vocab).");

  m.def("wm_green_membership", [](const py::array& seeds, const py::array& tokens, int64_t vocab,
                                  int64_t green_size, bool select_head, int num_threads) {
        if (num_threads < 1) fail("num_threads must be >= 1");
        const uint32_t* sp = in_vector<uint32_t>(seeds, "seeds");
        const int64_t* tp = in_vector<int64_t>(tokens, "tokens");
        if (seeds.shape(0) != tokens.shape(0)) fail("seeds and tokens must have the same length");
        const int64_t n = tokens.shape(0);
        auto r = new_array<uint8_t>(n);
        uint8_t* p = r.mutable_data();
        {
          py::gil_scoped_release release;
          fp::wm::green_membership(sp, tp, n, vocab, green_size, select_head, p, num_threads);
        }
        return r;
      }, py::arg("seeds"), py::arg("tokens"), py::arg("vocab"), py::arg("green_size"), py::arg("select_head"),
      py::arg("num_threads"), "Green flag of each (seed32, token) pair.");

  m.def("wm_kgw_detect_batch", &kgw_detect_batch, py::arg("ids"), py::arg("offsets"), py::arg("config"),
        py::arg("want_masks"), py::arg("num_threads"), "KGW green counts per text (see csrc/watermark.hpp).");
  m.def("wm_kgw_window_seeds", &kgw_window_seeds, py::arg("windows"), py::arg("config"),
        "PRF seed (mod 2^64-1) of each row of a [m, width] window matrix.");
  m.def("wm_kgw_seeds", &kgw_seeds, py::arg("ids"), py::arg("config"),
        "manual_seed argument (PRF mod 2^64-1) of every scored position of one text.");

  m.def("wm_unigram_counts", [](const py::array& green, const py::array& ids, const py::array& offsets, int num_threads) {
        if (num_threads < 1) fail("num_threads must be >= 1");
        const uint8_t* gp = in_vector<uint8_t>(green, "green");
        const int64_t* ip = in_vector<int64_t>(ids, "ids");
        const int64_t* op = in_vector<int64_t>(offsets, "offsets");
        if (offsets.shape(0) < 1) fail("offsets: expected length B+1 >= 1");
        const int64_t B = offsets.shape(0) - 1;
        auto t = new_array<int64_t>(B), g = new_array<int64_t>(B), u = new_array<int64_t>(B), gu = new_array<int64_t>(B);
        int64_t *tp = t.mutable_data(), *gp2 = g.mutable_data(), *up = u.mutable_data(), *gup = gu.mutable_data();
        {
          py::gil_scoped_release release;
          fp::wm::unigram_counts(gp, green.shape(0), ip, ids.shape(0), op, B, tp, gp2, up, gup, num_threads);
        }
        return py::make_tuple(t, g, u, gu);
      }, py::arg("green"), py::arg("ids"), py::arg("offsets"), py::arg("num_threads"),
      "Unigram counts per text: (tokens, green tokens, unique tokens, green unique tokens).");
}

}  // namespace fpwm_bind

// =================================================================================================
// SynthID-Text: g-values, masks, per-layer counts (csrc/synthid.*). Python validates first
// (fingerprint/watermark/synthid.py); the kernels check again.
// =================================================================================================
#include "synthid.hpp"

namespace fpsid_bind {

namespace {

struct Args {
  fp::sid::Config cfg;
  py::array keys, table;  // keep alive
};

Args make_config(const py::dict& d) {
  Args a;
  auto& c = a.cfg;
  c.mode = d["mode"].cast<int>();
  c.iv = d["iv"].cast<uint64_t>();
  a.keys = py::array(d["keys"]);
  c.keys = in_vector<int64_t>(a.keys, "keys");
  c.depth = a.keys.shape(0);
  c.ngram_len = d["ngram_len"].cast<int64_t>();
  c.history = d["history"].cast<int64_t>();
  py::object e = d["eos"];
  c.has_eos = !e.is_none();
  c.eos = c.has_eos ? e.cast<int64_t>() : 0;
  py::object t = d["table"];
  if (!t.is_none()) {
    a.table = py::array(t);
    c.table = in_vector<uint8_t>(a.table, "table");
    c.table_size = a.table.shape(0);
  }
  fp::sid::check_config(c);
  return a;
}

py::array_t<uint8_t> new_matrix(int64_t rows, int64_t cols) {
  return py::array_t<uint8_t>(std::vector<py::ssize_t>{py::ssize_t(rows), py::ssize_t(cols)});
}

}  // namespace

void register_synthid(py::module_& m) {
  m.def("sid_g_values", [](const py::array& ids, const py::array& offsets, const py::dict& config,
                           int64_t rows, int num_threads) {
        if (num_threads < 1) fail("num_threads must be >= 1");
        if (rows < 0) fail("rows must be >= 0");
        Args a = make_config(config);
        const int64_t* ip = in_vector<int64_t>(ids, "ids");
        const int64_t* op = in_vector<int64_t>(offsets, "offsets");
        if (offsets.shape(0) < 1) fail("offsets: expected length B+1 >= 1");
        auto out = new_matrix(rows, a.cfg.depth);
        uint8_t* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          fp::sid::g_values(a.cfg, ip, ids.shape(0), op, offsets.shape(0) - 1, o, rows, num_threads);
        }
        return out;
      }, py::arg("ids"), py::arg("offsets"), py::arg("config"), py::arg("rows"), py::arg("num_threads"),
      "SynthID g-values [rows, depth] of every n-gram of every text.");

  m.def("sid_masks", [](const py::array& ids, const py::array& offsets, const py::dict& config,
                        int64_t rows, int num_threads) {
        if (num_threads < 1) fail("num_threads must be >= 1");
        if (rows < 0) fail("rows must be >= 0");
        Args a = make_config(config);
        const int64_t* ip = in_vector<int64_t>(ids, "ids");
        const int64_t* op = in_vector<int64_t>(offsets, "offsets");
        if (offsets.shape(0) < 1) fail("offsets: expected length B+1 >= 1");
        py::array_t<uint8_t> rep(std::vector<py::ssize_t>{py::ssize_t(rows)});
        py::array_t<uint8_t> eos(std::vector<py::ssize_t>{py::ssize_t(rows)});
        uint8_t* r = rep.mutable_data();
        uint8_t* e = eos.mutable_data();
        {
          py::gil_scoped_release release;
          fp::sid::masks(a.cfg, ip, ids.shape(0), op, offsets.shape(0) - 1, r, e, rows, num_threads);
        }
        return py::make_tuple(rep, eos);
      }, py::arg("ids"), py::arg("offsets"), py::arg("config"), py::arg("rows"), py::arg("num_threads"),
      "SynthID context-repetition and EOS masks per n-gram row (uint8).");

  m.def("sid_detect", [](const py::array& ids, const py::array& offsets, const py::dict& config,
                         int num_threads) {
        if (num_threads < 1) fail("num_threads must be >= 1");
        Args a = make_config(config);
        const int64_t* ip = in_vector<int64_t>(ids, "ids");
        const int64_t* op = in_vector<int64_t>(offsets, "offsets");
        if (offsets.shape(0) < 1) fail("offsets: expected length B+1 >= 1");
        const int64_t B = offsets.shape(0) - 1, D = a.cfg.depth;
        auto counts = py::array_t<int64_t>(std::vector<py::ssize_t>{py::ssize_t(B), py::ssize_t(D)});
        auto counts_dedup = py::array_t<int64_t>(std::vector<py::ssize_t>{py::ssize_t(B), py::ssize_t(D)});
        auto scored = py::array_t<int64_t>(std::vector<py::ssize_t>{py::ssize_t(B)});
        auto trials = py::array_t<int64_t>(std::vector<py::ssize_t>{py::ssize_t(B)});
        auto nrows = py::array_t<int64_t>(std::vector<py::ssize_t>{py::ssize_t(B)});
        fp::sid::DetectOut o;
        o.counts = counts.mutable_data();
        o.counts_dedup = counts_dedup.mutable_data();
        o.num_scored = scored.mutable_data();
        o.num_trials = trials.mutable_data();
        o.num_rows = nrows.mutable_data();
        {
          py::gil_scoped_release release;
          fp::sid::detect(a.cfg, ip, ids.shape(0), op, B, o, num_threads);
        }
        py::dict res;
        res["counts"] = counts;
        res["counts_dedup"] = counts_dedup;
        res["num_tokens_scored"] = scored;
        res["num_trials"] = trials;
        res["num_ngrams"] = nrows;
        return res;
      }, py::arg("ids"), py::arg("offsets"), py::arg("config"), py::arg("num_threads"),
      "SynthID per-text, per-layer sums of g-values over the masked n-grams (library mask, and "
      "first occurrences of each context).");

  m.def("sid_vocab_g_values", [](const py::array& context, const py::dict& config, int64_t vocab,
                                 int num_threads) {
        if (num_threads < 1) fail("num_threads must be >= 1");
        if (vocab < 0) fail("vocab must be >= 0");
        Args a = make_config(config);
        const int64_t* cp = in_vector<int64_t>(context, "context");
        if (context.shape(0) != a.cfg.ngram_len - 1) fail("context: expected ngram_len - 1 ids");
        auto out = new_matrix(vocab, a.cfg.depth);
        uint8_t* o = out.mutable_data();
        uint64_t h;
        {
          py::gil_scoped_release release;
          h = fp::sid::vocab_g_values(a.cfg, cp, vocab, o, num_threads);
        }
        return py::make_tuple(out, h);
      }, py::arg("context"), py::arg("config"), py::arg("vocab"), py::arg("num_threads"),
      "SynthID g-values [vocab, depth] of every next token after one context, and the context hash.");
}

}  // namespace fpsid_bind

// =================================================================================================
// three_bricks / radioactive-watermark kernels (csrc/threebricks.*): hash seeds of windows,
// Maryland green flags and Aaronson uniforms with the payload shift. Python validates first
// (fingerprint/watermark/threebricks.py); the kernels check again.
// =================================================================================================
#include "threebricks.hpp"

namespace fpwm_bind {

void register_threebricks(py::module_& m) {
  m.def("tb_hash_seeds", [](const py::array& windows, uint64_t seed, uint64_t salt, int num_threads) {
        if (num_threads < 1) fail("num_threads must be >= 1");
        if (windows.ndim() != 2) fail("windows: expected a 2-D array");
        if (!py::isinstance<py::array_t<int64_t>>(windows) || windows.itemsize() != 8) fail("windows: unexpected dtype");
        const int64_t n = windows.shape(0), w = windows.shape(1);
        if (n > 0 && (windows.strides(1) != 8 || windows.strides(0) != 8 * w)) fail("windows: must be C-contiguous");
        auto r = py::array_t<uint64_t>(std::vector<py::ssize_t>{n});
        const int64_t* wp = static_cast<const int64_t*>(windows.data());
        uint64_t* p = r.mutable_data();
        {
          py::gil_scoped_release release;
          fp::tb::hash_seeds(wp, n, w, seed, salt, p, num_threads);
        }
        return r;
      }, py::arg("windows"), py::arg("seed"), py::arg("salt"), py::arg("num_threads"),
      "three_bricks hash seed (mod 2^64-1) of each row of a [n, width] window matrix.");

  m.def("tb_maryland_flags", [](const py::array& seeds, const py::array& tokens, int64_t vocab,
                                int64_t green_size, int64_t n_payloads, int num_threads) {
        if (num_threads < 1) fail("num_threads must be >= 1");
        const uint64_t* sp = in_vector<uint64_t>(seeds, "seeds");
        const int64_t* tp = in_vector<int64_t>(tokens, "tokens");
        if (seeds.shape(0) != tokens.shape(0)) fail("seeds and tokens must have the same length");
        if (n_payloads < 1) fail("n_payloads must be >= 1");
        const int64_t n = tokens.shape(0);
        auto r = py::array_t<uint8_t>(std::vector<py::ssize_t>{n, n_payloads});
        uint8_t* p = r.mutable_data();
        {
          py::gil_scoped_release release;
          fp::tb::maryland_flags(sp, tp, n, vocab, green_size, n_payloads, p, num_threads);
        }
        return r;
      }, py::arg("seeds"), py::arg("tokens"), py::arg("vocab"), py::arg("green_size"), py::arg("n_payloads"),
      py::arg("num_threads"), "Maryland green flags [n, n_payloads] of (seed, token + payload) pairs.");

  m.def("tb_aaronson_uniforms", [](const py::array& seeds, const py::array& tokens, int64_t vocab,
                                   int64_t n_payloads, int num_threads) {
        if (num_threads < 1) fail("num_threads must be >= 1");
        const uint64_t* sp = in_vector<uint64_t>(seeds, "seeds");
        const int64_t* tp = in_vector<int64_t>(tokens, "tokens");
        if (seeds.shape(0) != tokens.shape(0)) fail("seeds and tokens must have the same length");
        if (n_payloads < 1) fail("n_payloads must be >= 1");
        const int64_t n = tokens.shape(0);
        auto r = py::array_t<double>(std::vector<py::ssize_t>{n, n_payloads});
        double* p = r.mutable_data();
        {
          py::gil_scoped_release release;
          fp::tb::aaronson_uniforms(sp, tp, n, vocab, n_payloads, p, num_threads);
        }
        return r;
      }, py::arg("seeds"), py::arg("tokens"), py::arg("vocab"), py::arg("n_payloads"), py::arg("num_threads"),
      "Aaronson uniforms torch.rand(vocab)[(token + payload) mod vocab] [n, n_payloads] (exact, as float64).");
}

}  // namespace fpwm_bind

// =================================================================================================
// Document fingerprints: MinHash and SimHash signatures of token n-grams (csrc/minhash.*).
// Python validates first (fingerprint/minhash.py); the kernels check again.
// =================================================================================================
#include "minhash.hpp"

namespace fpmh_bind {

void register_minhash(py::module_& m) {
  m.attr("MH_PRIME") = fp::mh::kPrime;
  m.attr("MH_EMPTY") = fp::mh::kEmpty;

  m.def("mh_permutations", [](int64_t num_perm, uint64_t seed) {
        if (num_perm < 1) fail("num_perm must be >= 1");
        auto a = py::array_t<uint64_t>(std::vector<py::ssize_t>{num_perm});
        auto b = py::array_t<uint64_t>(std::vector<py::ssize_t>{num_perm});
        fp::mh::permutations(seed, num_perm, a.mutable_data(), b.mutable_data());
        return py::make_tuple(a, b);
      }, py::arg("num_perm"), py::arg("seed"),
      "MinHash permutation parameters (a, b) of (a * x + b) mod (2^61 - 1) drawn from `seed`.");

  m.def("mh_minhash", [](const py::array& ids, const py::array& offsets, int64_t ngram,
                         const py::array& a, const py::array& b, int num_threads) {
        const int64_t* ip = in_vector<int64_t>(ids, "ids");
        const int64_t* op = in_vector<int64_t>(offsets, "offsets");
        const uint64_t* ap = in_vector<uint64_t>(a, "a");
        const uint64_t* bp = in_vector<uint64_t>(b, "b");
        if (offsets.shape(0) < 1) fail("offsets: expected length B+1 >= 1");
        if (a.shape(0) != b.shape(0) || a.shape(0) < 1) fail("a and b: expected the same length >= 1");
        const int64_t nd = offsets.shape(0) - 1, np_ = a.shape(0), n = ids.shape(0);
        auto out = py::array_t<uint64_t>(std::vector<py::ssize_t>{nd, np_});
        uint64_t* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          fp::mh::minhash_batch(ip, n, op, nd, ngram, ap, bp, np_, o, num_threads);
        }
        return out;
      }, py::arg("ids"), py::arg("offsets"), py::arg("ngram"), py::arg("a"), py::arg("b"),
      py::arg("num_threads"), "MinHash signatures [B, num_perm] (uint64) of a ragged corpus.");

  m.def("mh_simhash", [](const py::array& ids, const py::array& offsets, int64_t ngram, int bits,
                         const py::object& weights, int num_threads) {
        const int64_t* ip = in_vector<int64_t>(ids, "ids");
        const int64_t* op = in_vector<int64_t>(offsets, "offsets");
        if (offsets.shape(0) < 1) fail("offsets: expected length B+1 >= 1");
        const int64_t nd = offsets.shape(0) - 1, n = ids.shape(0);
        const double* wp = nullptr;
        py::array w;
        if (!weights.is_none()) {
          w = py::array(weights);
          wp = in_vector<double>(w, "weights");
          if (w.shape(0) != n) fail("weights: expected one weight per id");
        }
        auto out = py::array_t<uint64_t>(std::vector<py::ssize_t>{nd});
        uint64_t* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          fp::mh::simhash_batch(ip, n, op, nd, ngram, bits, wp, o, num_threads);
        }
        return out;
      }, py::arg("ids"), py::arg("offsets"), py::arg("ngram"), py::arg("bits"), py::arg("weights"),
      py::arg("num_threads"), "Charikar SimHash (uint64, low `bits` bits) of each document of a ragged corpus.");
}

}  // namespace fpmh_bind
