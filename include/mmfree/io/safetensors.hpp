// SPDX-License-Identifier: MIT
// safetensors reading (memory-mapped, every header field bounds-checked) and writing.
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
// then the data; offsets are relative to the end of the header.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/numeric.hpp"
#include "../core/types.hpp"
#include "mapped_file.hpp"

MMFREE_NAMESPACE_BEGIN
namespace io {

/// One tensor of a safetensors file: its type, shape and bytes (inside the mapping).
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<index_t> shape;
  const std::uint8_t* data = nullptr;  ///< no alignment promise: read with load_as_f32 / memcpy
  index_t bytes = 0;
  std::string file;  ///< the file it came from, for messages

  index_t numel() const {
    index_t n = 1;
    for (index_t d : shape) n *= d;
    return n;
  }
  /// "[2, 16, 256]"
  std::string shape_string() const {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
  /// Element i as f32 (F32/F16/BF16/integers).
  float at(index_t i) const { return load_as_f32(data, dtype, std::size_t(i)); }
};

/// \brief A parsed, memory-mapped safetensors file.
class SafetensorsFile {
 public:
  /// Limit on the JSON header (real files have a few hundred KB at most).
  static constexpr std::uint64_t max_header_bytes = 100u << 20;

  /// Opens and validates `path`. Every problem (short file, header out of bounds, bad JSON, unknown
  /// dtype, offsets outside the data or disagreeing with the shape) throws mmfree::Error naming the
  /// file and the tensor.
  static SafetensorsFile open(const std::filesystem::path& path) {
    SafetensorsFile st;
    st.file_ = MappedFile::open(path);
    st.parse();
    return st;
  }

  /// Parses an in-memory image (for tests and fuzzing); `name` is used in messages.
  static SafetensorsFile from_memory(std::shared_ptr<MappedFile> keep, const std::uint8_t* data, std::size_t size,
                                     const std::string& name) {
    SafetensorsFile st;
    st.file_ = std::move(keep);
    st.parse_bytes(data, size, name);
    return st;
  }

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  /// The tensor called `name`, or nullptr.
  const TensorInfo* find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &tensors_[it->second];
  }
  /// The tensor called `name`; throws naming the file when absent.
  const TensorInfo& get(const std::string& name) const {
    const TensorInfo* t = find(name);
    if (t == nullptr) throw Error("tensor '" + name + "' not found in '" + path_ + "'");
    return *t;
  }
  const std::string& path() const { return path_; }
  /// The mapping the tensors point into (keep it to keep them valid).
  const std::shared_ptr<MappedFile>& mapping() const { return file_; }

 private:
  void parse() { parse_bytes(file_->data(), file_->size(), file_->path()); }

  void parse_bytes(const std::uint8_t* data, std::size_t size, const std::string& name) {
    path_ = name;
    auto fail = [&](const std::string& what) -> Error { return Error("'" + name + "': " + what); };
    if (size < 8) throw fail("file too short for a safetensors header (" + std::to_string(size) + " bytes)");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
    if (n > max_header_bytes || n > size - 8)
      throw fail("header length " + std::to_string(n) + " exceeds the file (" + std::to_string(size) +
                 " bytes): truncated or not a safetensors file");
    const char* hb = reinterpret_cast<const char*>(data + 8);
    nlohmann::json hdr = nlohmann::json::parse(hb, hb + n, nullptr, /*allow_exceptions=*/false);
    if (hdr.is_discarded() || !hdr.is_object()) throw fail("header is not a JSON object");
    const std::uint8_t* base = data + 8 + n;
    const std::uint64_t data_size = size - 8 - n;
    for (auto it = hdr.begin(); it != hdr.end(); ++it) {
      const std::string& key = it.key();
      const nlohmann::json& v = it.value();
      if (key == "__metadata__") {
        if (!v.is_object()) throw fail("__metadata__ is not an object");
        for (auto m = v.begin(); m != v.end(); ++m)
          if (m.value().is_string()) metadata_[m.key()] = m.value().get<std::string>();
        continue;
      }
      auto bad = [&](const std::string& what) { return fail("tensor '" + key + "': " + what); };
      if (!v.is_object()) throw bad("entry is not an object");
      auto dt = v.find("dtype");
      auto sh = v.find("shape");
      auto of = v.find("data_offsets");
      if (dt == v.end() || !dt->is_string()) throw bad("missing or non-string 'dtype'");
      if (sh == v.end() || !sh->is_array()) throw bad("missing or non-array 'shape'");
      if (of == v.end() || !of->is_array() || of->size() != 2) throw bad("'data_offsets' must be [begin, end]");
      TensorInfo t;
      t.name = key;
      t.file = name;
      const std::string dts = dt->get<std::string>();
      if (!parse_dtype(dts, t.dtype)) throw bad("unsupported dtype '" + dts + "'");
      std::uint64_t numel = 1;
      if (sh->size() > 8) throw bad("more than 8 dimensions");
      for (const auto& d : *sh) {
        if (!d.is_number_unsigned()) throw bad("shape entries must be non-negative integers");
        const std::uint64_t dv = d.get<std::uint64_t>();
        if (dv > (std::uint64_t(1) << 40) || (dv != 0 && numel > (std::uint64_t(1) << 48) / dv))
          throw bad("shape too large");
        numel *= dv;
        t.shape.push_back(index_t(dv));
      }
      const auto& b = (*of)[0];
      const auto& e = (*of)[1];
      if (!b.is_number_unsigned() || !e.is_number_unsigned()) throw bad("data_offsets must be non-negative integers");
      const std::uint64_t ob = b.get<std::uint64_t>(), oe = e.get<std::uint64_t>();
      if (ob > oe || oe > data_size)
        throw bad("data_offsets [" + std::to_string(ob) + ", " + std::to_string(oe) + "] outside the " +
                  std::to_string(data_size) + " data bytes: truncated or corrupted file");
      if (oe - ob != numel * std::uint64_t(dtype_size(t.dtype)))
        throw bad("holds " + std::to_string(oe - ob) + " bytes but shape " + t.shape_string() + " of " + dts +
                  " needs " + std::to_string(numel * std::uint64_t(dtype_size(t.dtype))));
      t.data = base + ob;
      t.bytes = index_t(oe - ob);
      by_name_[key] = tensors_.size();
      tensors_.push_back(std::move(t));
    }
  }

  std::shared_ptr<MappedFile> file_;
  std::string path_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t> by_name_;
  std::map<std::string, std::string> metadata_;
};

/// A tensor to write: name, type, shape and its bytes (host memory).
struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<index_t> shape;
  const void* data = nullptr;
  index_t bytes = 0;
};

/// \brief Writes a safetensors file (tensors in the given order, header padded to 8 bytes).
inline void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::ordered_json hdr = nlohmann::ordered_json::object();
  if (!metadata.empty()) hdr["__metadata__"] = metadata;
  std::uint64_t off = 0;
  for (const auto& t : tensors) {
    index_t numel = 1;
    for (index_t d : t.shape) numel *= d;
    if (numel * dtype_size(t.dtype) != t.bytes)
      throw Error("write_safetensors: tensor '" + t.name + "' has " + std::to_string(t.bytes) +
                  " bytes, its shape needs " + std::to_string(numel * dtype_size(t.dtype)));
    hdr[t.name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {off, off + std::uint64_t(t.bytes)}}};
    off += std::uint64_t(t.bytes);
  }
  std::string h = hdr.dump();
  while (h.size() % 8 != 0) h.push_back(' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot create '" + path.string() + "'");
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((std::uint64_t(h.size()) >> (8 * i)) & 0xff);
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(h.data(), std::streamsize(h.size()));
  for (const auto& t : tensors) out.write(static_cast<const char*>(t.data), std::streamsize(t.bytes));
  out.flush();
  if (!out) throw Error("cannot write '" + path.string() + "'");
}

}  // namespace io
MMFREE_NAMESPACE_END
