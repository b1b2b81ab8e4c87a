// SPDX-License-Identifier: MIT
// The packed model file (.mmfree): one file holding a model's packed ternary codes, scales, norm
// weights, lower bounds and embeddings, loaded by memory-mapping without copies.
//
// Layout (all integers little-endian):
//   [0, 128)        header: magic, format version, section offsets/sizes, XXH64 of each section,
//                   XXH64 of the header itself
//   [128, ...)      the WeightIndex (binary, see write_index), then the table of arena checksums
//                   (one XXH64 per chunk_bytes of the arena)
//   [arena_offset)  the arena, 4096-aligned in the file (so 64-aligned in memory once mapped):
//                   exactly the bytes Model<Pol> reads, in WeightIndex::plan<P>'s layout
// Loading maps the file and hands the arena to HostWeights as is; host backends compute straight
// from the mapping. Every inconsistency (truncation, bad magic/version, checksum mismatch, index
// that does not match the config and packing) throws an mmfree::Error naming the file.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/model_config.hpp"
#include "../model/repack.hpp"
#include "../model/weights.hpp"
#include "../packing/registry.hpp"
#include "mapped_file.hpp"
#include "progress.hpp"
#include "xxhash.hpp"

MMFREE_NAMESPACE_BEGIN
namespace io {

/// Magic bytes at the start of every packed model file.
inline constexpr char kModelFileMagic[8] = {'M', 'M', 'F', 'R', 'E', 'E', '\x1a', '\n'};
/// Format version this code writes and reads.
inline constexpr std::uint32_t kModelFileVersion = 1;

/// What a packed file's header says (and where its sections are).
struct ModelFileHeader {
  std::uint32_t version = 0;
  std::uint64_t file_bytes = 0;
  std::uint64_t index_offset = 0, index_bytes = 0, index_hash = 0;
  std::uint64_t table_offset = 0, table_entries = 0, table_hash = 0;
  std::uint64_t arena_offset = 0, arena_bytes = 0, chunk_bytes = 0;
};

/// Options of read_model_file().
struct ModelFileOptions {
  /// Check every section's XXH64 (reads the whole file once through a small buffer, so the
  /// mapping itself stays untouched and only pages the model uses become resident). Off: only
  /// the header and index are checked, and loading costs microseconds.
  bool verify = true;
};

namespace detail {

constexpr std::size_t kHeaderBytes = 128;
constexpr std::uint64_t kArenaAlign = 4096;
constexpr std::uint64_t kChunkBytes = 16u << 20;

class ByteWriter {
 public:
  void u8(std::uint8_t v) { b_.push_back(v); }
  void u32(std::uint32_t v) { for (int i = 0; i < 4; ++i) b_.push_back(std::uint8_t(v >> (8 * i))); }
  void u64(std::uint64_t v) { for (int i = 0; i < 8; ++i) b_.push_back(std::uint8_t(v >> (8 * i))); }
  void i64(std::int64_t v) { u64(std::uint64_t(v)); }
  void f32(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    u32(u);
  }
  void str(const std::string& s) {
    u32(std::uint32_t(s.size()));
    b_.insert(b_.end(), s.begin(), s.end());
  }
  void slot(const TensorSlot& s) { i64(s.offset), i64(s.bytes); }
  std::vector<std::uint8_t>& bytes() { return b_; }

 private:
  std::vector<std::uint8_t> b_;
};

class ByteReader {
 public:
  ByteReader(const std::uint8_t* p, std::size_t n, const std::string& file) : p_(p), n_(n), file_(file) {}
  [[noreturn]] void fail(const std::string& what) const { throw Error("'" + file_ + "': " + what); }
  const std::uint8_t* take(std::size_t k) {
    if (n_ - pos_ < k) fail("model index is truncated");
    const std::uint8_t* r = p_ + pos_;
    pos_ += k;
    return r;
  }
  std::uint64_t u64() {
    const std::uint8_t* q = take(8);
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | q[i];
    return v;
  }
  std::uint32_t u32() {
    const std::uint8_t* q = take(4);
    return std::uint32_t(q[0]) | std::uint32_t(q[1]) << 8 | std::uint32_t(q[2]) << 16 | std::uint32_t(q[3]) << 24;
  }
  std::uint8_t u8() { return *take(1); }
  std::int64_t i64() { return std::int64_t(u64()); }
  float f32() {
    const std::uint32_t u = u32();
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  std::string str(std::size_t max) {
    const std::uint32_t n = u32();
    if (n > max) fail("model index holds an over-long string");
    const std::uint8_t* q = take(n);
    return std::string(reinterpret_cast<const char*>(q), n);
  }
  TensorSlot slot() {
    TensorSlot s;
    s.offset = i64();
    s.bytes = i64();
    return s;
  }
  bool done() const { return pos_ == n_; }

 private:
  const std::uint8_t* p_;
  std::size_t n_, pos_ = 0;
  const std::string& file_;
};

inline std::vector<std::uint8_t> write_index(const WeightIndex& w) {
  ByteWriter b;
  const ModelConfig& c = w.config;
  b.i64(c.vocab_size), b.i64(c.hidden_size), b.i64(c.num_layers), b.i64(c.intermediate_size), b.i64(c.num_heads);
  b.f32(c.rms_norm_eps);
  b.u8(c.use_lower_bound), b.u8(c.tie_word_embeddings);
  b.u32(std::uint32_t(c.bos_token_id)), b.u32(std::uint32_t(c.eos_token_id));
  b.str(w.packing);
  b.u8(std::uint8_t(w.embedding_dtype));
  b.slot(w.embeddings);
  b.slot(w.embedding_scales);
  b.slot(w.lower_bounds);
  b.u64(w.layers.size());
  auto tern = [&](const TernarySlot& t) {
    b.slot(t.codes), b.slot(t.norm), b.i64(t.rows), b.i64(t.cols), b.f32(t.w_scale);
  };
  for (const auto& l : w.layers) {
    b.slot(l.attn_norm), b.slot(l.g_norm), b.slot(l.mlp_norm);
    for (const TernarySlot* t : {&l.i_proj, &l.f_proj, &l.g_proj, &l.o_proj, &l.gate_proj, &l.down_proj}) tern(*t);
  }
  b.slot(w.final_norm);
  tern(w.lm_head);
  b.i64(w.arena_bytes);
  return std::move(b.bytes());
}

/// Parses an index and checks it against the layout its config and packing imply.
inline WeightIndex read_index(const std::uint8_t* p, std::size_t n, const std::string& file) {
  ByteReader r(p, n, file);
  WeightIndex w;
  ModelConfig& c = w.config;
  c.vocab_size = r.i64(), c.hidden_size = r.i64(), c.num_layers = r.i64(), c.intermediate_size = r.i64(),
  c.num_heads = r.i64();
  c.rms_norm_eps = r.f32();
  c.use_lower_bound = r.u8() != 0;
  c.tie_word_embeddings = r.u8() != 0;
  c.bos_token_id = std::int32_t(r.u32());
  c.eos_token_id = std::int32_t(r.u32());
  c.validate("'" + file + "'");
  w.packing = r.str(64);
  const std::uint8_t dt = r.u8();
  if (dt != std::uint8_t(DType::F32) && dt != std::uint8_t(DType::F16) && dt != std::uint8_t(DType::BF16) &&
      dt != std::uint8_t(DType::I8))
    r.fail("embedding type code " + std::to_string(dt) + " is not F32, F16, BF16 or I8");
  w.embedding_dtype = DType(dt);
  w.embeddings = r.slot();
  w.embedding_scales = r.slot();
  w.lower_bounds = r.slot();
  const std::uint64_t L = r.u64();
  if (L != std::uint64_t(c.num_layers))
    r.fail("model index lists " + std::to_string(L) + " layers, its config " + std::to_string(c.num_layers));
  auto tern = [&](TernarySlot& t) {
    t.codes = r.slot(), t.norm = r.slot(), t.rows = r.i64(), t.cols = r.i64(), t.w_scale = r.f32();
    if (!(std::isfinite(t.w_scale) && t.w_scale > 0.0f)) r.fail("model index holds a weight scale that is not a positive number");
  };
  w.layers.resize(std::size_t(L));
  for (auto& l : w.layers) {
    l.attn_norm = r.slot(), l.g_norm = r.slot(), l.mlp_norm = r.slot();
    for (TernarySlot* t : {&l.i_proj, &l.f_proj, &l.g_proj, &l.o_proj, &l.gate_proj, &l.down_proj}) tern(*t);
  }
  w.final_norm = r.slot();
  tern(w.lm_head);
  w.arena_bytes = r.i64();
  if (!r.done()) r.fail("model index has trailing bytes");
  // The layout must be exactly the one the packing lays out for this config.
  const WeightIndex want = packing::with_packing(w.packing, [&]<class P>(P) { return WeightIndex::plan<P>(c, w.embedding_dtype); });
  auto same = [](const TensorSlot& a, const TensorSlot& b) { return a.offset == b.offset && a.bytes == b.bytes; };
  auto same_t = [&](const TernarySlot& a, const TernarySlot& b) {
    return same(a.codes, b.codes) && same(a.norm, b.norm) && a.rows == b.rows && a.cols == b.cols;
  };
  bool ok = same(w.embeddings, want.embeddings) && same(w.embedding_scales, want.embedding_scales) &&
            same(w.lower_bounds, want.lower_bounds) &&
            same(w.final_norm, want.final_norm) && same_t(w.lm_head, want.lm_head) && w.arena_bytes == want.arena_bytes;
  for (std::size_t l = 0; ok && l < w.layers.size(); ++l) {
    const LayerSlots &a = w.layers[l], &b = want.layers[l];
    ok = same(a.attn_norm, b.attn_norm) && same(a.g_norm, b.g_norm) && same(a.mlp_norm, b.mlp_norm) &&
         same_t(a.i_proj, b.i_proj) && same_t(a.f_proj, b.f_proj) && same_t(a.g_proj, b.g_proj) &&
         same_t(a.o_proj, b.o_proj) && same_t(a.gate_proj, b.gate_proj) && same_t(a.down_proj, b.down_proj);
  }
  if (!ok) r.fail("model index is inconsistent with its config and packing '" + w.packing + "' (tensor offsets or sizes)");
  return w;
}

inline void put_u32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::uint8_t(v >> (8 * i));
}
inline void put_u64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = std::uint8_t(v >> (8 * i));
}
inline std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline std::uint32_t get_u32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
}

}  // namespace detail

/// \brief Writes `w` (any packing) as a packed model file at `path`.
inline void write_model_file(const std::filesystem::path& path, const HostWeights& w, const ProgressFn& progress = {}) {
  using namespace detail;
  check(w.arena.bytes >= w.index.arena_bytes && w.arena.base != nullptr, "write_model_file: arena smaller than its index");
  const std::vector<std::uint8_t> index = write_index(w.index);
  const std::uint64_t arena_bytes = std::uint64_t(w.index.arena_bytes);
  const std::uint64_t entries = (arena_bytes + kChunkBytes - 1) / kChunkBytes;
  std::vector<std::uint8_t> table(std::size_t(entries * 8));
  for (std::uint64_t k = 0; k < entries; ++k) {
    const std::uint64_t b = k * kChunkBytes, n = std::min(kChunkBytes, arena_bytes - b);
    put_u64(table.data() + 8 * k, XXH64::hash(w.arena.base + b, std::size_t(n)));
    if (progress) progress(0.5 * double(k + 1) / double(entries));
  }
  const std::uint64_t index_off = kHeaderBytes, table_off = index_off + index.size();
  const std::uint64_t arena_off = (table_off + table.size() + kArenaAlign - 1) / kArenaAlign * kArenaAlign;
  std::uint8_t h[kHeaderBytes] = {};
  std::memcpy(h, kModelFileMagic, 8);
  put_u32(h + 8, kModelFileVersion);
  put_u32(h + 12, std::uint32_t(kHeaderBytes));
  put_u64(h + 16, arena_off + arena_bytes);
  put_u64(h + 24, index_off);
  put_u64(h + 32, index.size());
  put_u64(h + 40, XXH64::hash(index.data(), index.size()));
  put_u64(h + 48, table_off);
  put_u64(h + 56, entries);
  put_u64(h + 64, XXH64::hash(table.data(), table.size()));
  put_u64(h + 72, arena_off);
  put_u64(h + 80, arena_bytes);
  put_u64(h + 88, kChunkBytes);
  put_u64(h + 120, XXH64::hash(h, 120));

  // write to a temporary name, then rename: a crash never leaves a half-written model behind
  const std::filesystem::path tmp = path.string() + ".part";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot create '" + tmp.string() + "'");
    out.write(reinterpret_cast<const char*>(h), kHeaderBytes);
    out.write(reinterpret_cast<const char*>(index.data()), std::streamsize(index.size()));
    out.write(reinterpret_cast<const char*>(table.data()), std::streamsize(table.size()));
    const std::vector<char> pad(std::size_t(arena_off - table_off - table.size()), 0);
    out.write(pad.data(), std::streamsize(pad.size()));
    for (std::uint64_t k = 0; k < entries; ++k) {
      const std::uint64_t b = k * kChunkBytes, n = std::min(kChunkBytes, arena_bytes - b);
      out.write(reinterpret_cast<const char*>(w.arena.base + b), std::streamsize(n));
      if (progress) progress(0.5 + 0.5 * double(k + 1) / double(entries));
    }
    out.flush();
    if (!out) throw Error("cannot write '" + tmp.string() + "' (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error("cannot rename '" + tmp.string() + "' to '" + path.string() + "': " + ec.message());
}

/// \brief Parses and checks the header of a packed model image (`size` bytes at `data`).
inline ModelFileHeader read_model_file_header(const std::uint8_t* data, std::size_t size, const std::string& file) {
  using namespace detail;
  auto fail = [&](const std::string& what) { return Error("'" + file + "': " + what); };
  if (size < kHeaderBytes) throw fail("file too short for a model file header (" + std::to_string(size) + " bytes)");
  if (std::memcmp(data, kModelFileMagic, 8) != 0) throw fail("not an mmfree model file (bad magic)");
  ModelFileHeader h;
  h.version = get_u32(data + 8);
  if (h.version != kModelFileVersion)
    throw fail("model file format version " + std::to_string(h.version) + " is not supported (this build reads " +
               std::to_string(kModelFileVersion) + ")");
  if (get_u64(data + 120) != XXH64::hash(data, 120)) throw fail("header checksum mismatch: the file is corrupted");
  if (get_u32(data + 12) != kHeaderBytes) throw fail("unexpected header size");
  h.file_bytes = get_u64(data + 16);
  h.index_offset = get_u64(data + 24), h.index_bytes = get_u64(data + 32), h.index_hash = get_u64(data + 40);
  h.table_offset = get_u64(data + 48), h.table_entries = get_u64(data + 56), h.table_hash = get_u64(data + 64);
  h.arena_offset = get_u64(data + 72), h.arena_bytes = get_u64(data + 80), h.chunk_bytes = get_u64(data + 88);
  if (size < h.file_bytes)
    throw fail("truncated: " + std::to_string(size) + " bytes, the header says " + std::to_string(h.file_bytes));
  if (size > h.file_bytes) throw fail("has " + std::to_string(size - h.file_bytes) + " unexpected trailing bytes");
  auto within = [&](std::uint64_t off, std::uint64_t n) { return off <= h.file_bytes && n <= h.file_bytes - off; };
  if (h.chunk_bytes == 0 || h.chunk_bytes > (std::uint64_t(1) << 40) || h.arena_offset % kArenaAlign != 0 ||
      h.index_offset < kHeaderBytes || h.index_bytes > (std::uint64_t(64) << 20) || !within(h.index_offset, h.index_bytes) ||
      h.table_entries != (h.arena_bytes + h.chunk_bytes - 1) / h.chunk_bytes || h.table_entries > (std::uint64_t(1) << 32) ||
      !within(h.table_offset, h.table_entries * 8) || !within(h.arena_offset, h.arena_bytes) ||
      h.arena_offset + h.arena_bytes != h.file_bytes)
    throw fail("header sections are inconsistent with each other or with the file size");
  return h;
}

/// \brief Reads the packed model file at `path`: maps it, checks header, index and (with
/// opt.verify) every checksum, and returns HostWeights whose arena IS the mapping (no copy).
inline HostWeights read_model_file(const std::filesystem::path& path, ModelFileOptions opt = {}) {
  using namespace detail;
  auto f = MappedFile::open(path);
  const std::string& file = f->path();
  const ModelFileHeader h = read_model_file_header(f->data(), f->size(), file);
  const std::uint8_t* base = f->data();
  if (XXH64::hash(base + h.index_offset, std::size_t(h.index_bytes)) != h.index_hash)
    throw Error("'" + file + "': model index checksum mismatch: the file is corrupted");
  if (XXH64::hash(base + h.table_offset, std::size_t(h.table_entries * 8)) != h.table_hash)
    throw Error("'" + file + "': checksum table mismatch: the file is corrupted");
  HostWeights w;
  w.index = read_index(base + h.index_offset, std::size_t(h.index_bytes), file);
  if (std::uint64_t(w.index.arena_bytes) != h.arena_bytes)
    throw Error("'" + file + "': model index says " + std::to_string(w.index.arena_bytes) + " weight bytes, the header " +
                std::to_string(h.arena_bytes));
  if (opt.verify) {
    // Read through a buffer, not the mapping: verifying must not make the whole file resident.
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open '" + file + "'");
    in.seekg(std::streamoff(h.arena_offset));
    std::vector<char> buf(std::size_t(std::min<std::uint64_t>(h.chunk_bytes, 4u << 20)));
    for (std::uint64_t k = 0; k < h.table_entries; ++k) {
      const std::uint64_t b = k * h.chunk_bytes, n = std::min(h.chunk_bytes, h.arena_bytes - b);
      XXH64 x;
      for (std::uint64_t done = 0; done < n;) {
        const std::size_t m = std::size_t(std::min<std::uint64_t>(buf.size(), n - done));
        in.read(buf.data(), std::streamsize(m));
        if (!in) throw Error("cannot read '" + file + "'");
        x.update(buf.data(), m);
        done += m;
      }
      if (x.digest() != get_u64(base + h.table_offset + 8 * k))
        throw Error("'" + file + "': checksum mismatch in weight bytes [" + std::to_string(b) + ", " +
                    std::to_string(b + n) + "): the file is corrupted");
    }
  }
  w.arena.base = base + h.arena_offset;
  w.arena.bytes = index_t(h.arena_bytes);
  w.arena.owner = std::shared_ptr<const void>(f, f->data());  // keeps the mapping alive
  return w;
}

/// \brief A packed model file ready for a Model with packing P: the mapping itself when the
/// file is packed with P, else repacked in memory from the file's packing.
template <WeightPacking P>
HostWeights load_model_file(const std::filesystem::path& path, ModelFileOptions opt = {}) {
  return repack<P>(read_model_file(path, opt));
}

/// True when `path` is a regular file starting with the packed model file's magic.
inline bool is_model_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char m[8] = {};
  return in.read(m, 8) && std::memcmp(m, kModelFileMagic, 8) == 0;
}

}  // namespace io

using io::load_model_file;
using io::read_model_file;
using io::write_model_file;

MMFREE_NAMESPACE_END
