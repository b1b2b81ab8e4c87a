// SPDX-License-Identifier: MIT
// text::Tokenizer: SentencePiece-style BPE with byte fallback, loaded from tokenizer.model or
// tokenizer.json, encoding and decoding exactly as SentencePiece resp. the Hugging Face
// `tokenizers` library do for those files. Plus StreamDecoder, which turns generated ids into
// UTF-8 text piece by piece without allocating.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/error.hpp"
#include "../io/mapped_file.hpp"
#include "sentencepiece_model.hpp"
#include "tokenizer_spec.hpp"
#include "utf8.hpp"

#if MMFREE_HAS_JSON
#include "tokenizer_json.hpp"
#endif

MMFREE_NAMESPACE_BEGIN
namespace text {

/// \brief A BPE tokenizer of the SentencePiece family (Llama / Mistral style: byte fallback,
/// U+2581 for spaces). Cheap to copy (the tables are shared and immutable), thread-safe to use.
///
/// \code
///   auto tok = mmfree::text::Tokenizer::load("models/kjv/tokenizer.model");
///   std::vector<std::int32_t> ids = tok.encode("In the beginning", /*add_bos=*/true);
///   std::string back = tok.decode(ids);   // "In the beginning"
/// \endcode
class Tokenizer {
 public:
  Tokenizer() = default;

  /// \brief Loads `path`: a tokenizer.model (SentencePiece protobuf), a tokenizer.json (Hugging
  /// Face), or a directory holding one of them (tokenizer.model is preferred). Throws
  /// mmfree::Error naming the file and the problem.
  static Tokenizer load(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path file = path;
    if (fs::is_directory(path, ec)) {
      if (fs::exists(path / "tokenizer.model", ec)) file = path / "tokenizer.model";
      else if (fs::exists(path / "tokenizer.json", ec)) file = path / "tokenizer.json";
      else throw Error("no tokenizer.model or tokenizer.json in '" + path.string() + "'");
    }
    auto f = io::MappedFile::open(file);
    return from_bytes(f->data(), f->size(), file.string());
  }

  /// \brief Parses a tokenizer file's bytes; JSON when the first non-blank byte is '{', else a
  /// SentencePiece model. `name` is used in error messages.
  static Tokenizer from_bytes(const std::uint8_t* data, std::size_t size, const std::string& name) {
    std::size_t i = 0;
    while (i < size && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')) ++i;
    if (i < size && data[i] == '{') {
#if MMFREE_HAS_JSON
      return from_spec(parse_tokenizer_json(std::string_view(reinterpret_cast<const char*>(data), size), name), name);
#else
      throw Error("'" + name + "' is a tokenizer.json, but mmfree was built without nlohmann/json");
#endif
    }
    return from_spec(parse_sentencepiece_model(data, size, name), name);
  }

  /// Builds a tokenizer from an already parsed description.
  static Tokenizer from_spec(TokenizerSpec spec, const std::string& name = "tokenizer") {
    Tokenizer t;
    t.impl_ = std::make_shared<const Impl>(std::move(spec), name);
    return t;
  }

  /// \brief Token ids of `text` (no BOS unless `add_bos`). Special tokens written in the text
  /// ("<s>") become their ids with tokenizer.json, as in the Hugging Face library; a
  /// SentencePiece model encodes them as ordinary characters, as SentencePiece does.
  std::vector<std::int32_t> encode(std::string_view text, bool add_bos = false) const {
    const Impl& m = impl();
    if (text.size() >= (std::size_t(1) << 30))  // symbol positions are 32-bit
      throw Error("encode: text of " + std::to_string(text.size()) + " bytes is too long (limit 1 GiB); split it");
    std::vector<std::int32_t> ids;
    if (add_bos) {
      if (m.spec.bos_id < 0) throw Error("'" + m.name + "' has no BOS token");
      ids.push_back(m.spec.bos_id);
    }
    if (m.spec.flavour == TokenizerFlavour::sentencepiece)
      m.sp_encode(text, ids);
    else
      m.hf_encode(text, ids);
    return ids;
  }

  /// \brief Text of `ids`, as SentencePiece's DecodeIds resp. the Hugging Face library's
  /// decode(ids, skip_special_tokens=True) gives it. Throws for ids outside [0, vocab_size()).
  std::string decode(std::span<const std::int32_t> ids) const {
    const Impl& m = impl();
    for (std::size_t k = 0; k < ids.size(); ++k)
      if (ids[k] < 0 || ids[k] >= m.vocab_size())
        throw Error("decode: token id " + std::to_string(ids[k]) + " at position " + std::to_string(k) +
                    " is out of range [0, " + std::to_string(m.vocab_size()) + ")");
    return m.spec.flavour == TokenizerFlavour::sentencepiece ? m.sp_decode(ids) : m.hf_decode(ids);
  }

  std::int32_t bos_id() const { return impl().spec.bos_id; }  ///< -1 if none
  std::int32_t eos_id() const { return impl().spec.eos_id; }  ///< -1 if none
  std::int32_t unk_id() const { return impl().spec.unk_id; }  ///< -1 if none
  /// Number of ids (largest id + 1).
  std::int32_t vocab_size() const { return impl().vocab_size(); }
  /// The piece of `id` as the file spells it (U+2581 for spaces).
  const std::string& piece(std::int32_t id) const {
    check_id(id);
    return impl().spec.pieces[std::size_t(id)];
  }
  TokenizerFlavour flavour() const { return impl().spec.flavour; }
  const std::string& name() const { return impl().name; }
  bool loaded() const { return impl_ != nullptr; }

  /// Bytes `id` adds to streamed text (spaces restored; byte pieces as their byte; BOS/EOS empty).
  std::string_view token_bytes(std::int32_t id) const {
    check_id(id);
    return impl().stream_bytes[std::size_t(id)];
  }
  /// Whether the first space of the text is dropped when `id` starts it (the dummy prefix).
  bool strips_leading_space(std::int32_t id) const {
    check_id(id);
    return impl().stream_strip[std::size_t(id)] != 0;
  }
  /// Longest token_bytes() of any id.
  std::size_t max_token_bytes() const { return impl().max_stream_bytes; }

 private:
  struct Impl;
  const Impl& impl() const {
    if (!impl_) throw Error("tokenizer used before it was loaded");
    return *impl_;
  }
  void check_id(std::int32_t id) const {
    if (id < 0 || id >= impl().vocab_size())
      throw Error("token id " + std::to_string(id) + " is out of range [0, " + std::to_string(impl().vocab_size()) + ")");
  }

  struct Impl {
    TokenizerSpec spec;
    std::string name;
    // Keys point into spec.pieces / owned strings, which never move after construction.
    std::unordered_map<std::string_view, std::int32_t> normal;    // sp: normal/user/unused; hf: model vocab
    std::unordered_map<std::string_view, std::int32_t> reserved;  // sp: control/unknown/byte
    std::unordered_map<std::uint64_t, std::pair<std::int32_t, std::int32_t>> merges;  // hf: (a,b) -> (rank, new)
    std::array<std::int32_t, 256> byte_id{};
    std::vector<std::string_view> user_defined;  // sp, longest first
    std::vector<std::string> added_norm;         // hf: normalised content of normalized added tokens
    std::vector<std::string> stream_bytes;
    std::vector<std::uint8_t> stream_strip;
    std::size_t max_stream_bytes = 0;

    std::int32_t vocab_size() const { return std::int32_t(spec.pieces.size()); }

    Impl(TokenizerSpec s, std::string n) : spec(std::move(s)), name(std::move(n)) {
      const std::size_t V = spec.pieces.size();
      if (V == 0 || spec.types.size() != V) throw Error("'" + name + "': empty or inconsistent tokenizer");
      if (spec.scores.size() != V) spec.scores.resize(V, 0.0f);
      byte_id.fill(-1);
      const bool sp = spec.flavour == TokenizerFlavour::sentencepiece;
      for (std::size_t i = 0; i < V; ++i) {
        const std::string& p = spec.pieces[i];
        const PieceType t = spec.types[i];
        const auto id = std::int32_t(i);
        if (sp) {
          const bool is_normal = t == PieceType::normal || t == PieceType::user_defined || t == PieceType::unused;
          auto& map = is_normal ? normal : reserved;
          if (!map.emplace(p, id).second) throw Error("'" + name + "': piece '" + p + "' is defined twice");
          if (t == PieceType::user_defined) {
            if (p.empty()) throw Error("'" + name + "': empty user-defined piece");
            user_defined.push_back(p);
          }
          if (t == PieceType::byte) byte_id[std::size_t(byte_of_piece_name(p))] = id;
        } else {
          if (!spec.in_model_vocab.empty() && spec.in_model_vocab[i]) {
            normal.emplace(p, id);
            const int b = byte_of_piece_name(p);
            if (b >= 0) byte_id[std::size_t(b)] = id;
          }
        }
      }
      std::sort(user_defined.begin(), user_defined.end(), [](auto a, auto b) { return a.size() > b.size(); });
      if (!sp) {
        merges.reserve(spec.merges.size());
        for (std::size_t r = 0; r < spec.merges.size(); ++r) {
          const auto [a, b] = spec.merges[r];
          const std::string joined = spec.pieces[std::size_t(a)] + spec.pieces[std::size_t(b)];
          auto it = normal.find(joined);
          if (it == normal.end()) throw Error("'" + name + "': merge result '" + joined + "' is not in the vocab");
          // the first occurrence of a pair wins, as in the Hugging Face library's map building
          merges.emplace(key(a, b), std::make_pair(std::int32_t(r), it->second));
        }
        added_norm.resize(spec.added_tokens.size());
        for (std::size_t k = 0; k < spec.added_tokens.size(); ++k)
          if (spec.added_tokens[k].normalized) added_norm[k] = hf_normalize(spec.added_tokens[k].content);
      }
      build_stream_tables();
    }

    static std::uint64_t key(std::int32_t a, std::int32_t b) {
      return (std::uint64_t(std::uint32_t(a)) << 32) | std::uint32_t(b);
    }

    // ------------------------------------------------------------------ SentencePiece
    std::string sp_normalize(std::string_view in) const {
      std::string out;
      // heading spaces
      if (spec.remove_extra_whitespaces)
        while (!in.empty() && in.front() == ' ') in.remove_prefix(1);
      if (in.empty()) return out;
      out.reserve(in.size() * 3 / 2 + 8);
      const std::string_view space = spec.escape_whitespaces ? kMetaSpace : std::string_view(" ");
      if (spec.add_dummy_prefix) out.append(space);
      bool prev_space = spec.remove_extra_whitespaces;
      while (!in.empty()) {
        // user-defined symbols pass through untouched
        std::size_t n = match_user_defined(in);
        std::string_view chunk;
        if (n == 0) {
          n = utf8_valid_len(in);
          if (n == 0) {  // malformed byte: U+FFFD, one byte consumed
            chunk = kReplacementChar;
            n = 1;
          } else {
            chunk = in.substr(0, n);
          }
        } else {
          chunk = in.substr(0, n);
        }
        while (prev_space && !chunk.empty() && chunk.front() == ' ') chunk.remove_prefix(1);
        if (!chunk.empty()) {
          for (char c : chunk) {
            if (c == ' ' && spec.escape_whitespaces) out.append(kMetaSpace);
            else out.push_back(c);
          }
          prev_space = chunk.back() == ' ';
        }
        in.remove_prefix(n);
        if (!spec.remove_extra_whitespaces) prev_space = false;
      }
      if (spec.remove_extra_whitespaces)
        while (out.size() >= space.size() && std::string_view(out).substr(out.size() - space.size()) == space)
          out.resize(out.size() - space.size());
      return out;
    }

    std::size_t match_user_defined(std::string_view s) const {
      for (std::string_view u : user_defined)
        if (s.substr(0, u.size()) == u) return u.size();
      return 0;
    }

    std::int32_t sp_piece_to_id(std::string_view p) const {
      if (auto it = reserved.find(p); it != reserved.end()) return it->second;
      if (auto it = normal.find(p); it != normal.end()) return it->second;
      return spec.unk_id;
    }

    void sp_encode(std::string_view text, std::vector<std::int32_t>& out) const {
      const std::string norm = sp_normalize(text);
      if (norm.empty()) return;
      struct Sym {
        std::int32_t prev, next;
        std::uint32_t begin, len;
        bool freeze;
      };
      std::vector<Sym> sym;
      sym.reserve(norm.size());
      for (std::size_t pos = 0; pos < norm.size();) {
        const std::string_view rest = std::string_view(norm).substr(pos);
        std::size_t n = match_user_defined(rest);
        const bool freeze = n != 0;
        if (n == 0) n = std::min(utf8_lead_len(static_cast<unsigned char>(rest[0])), rest.size());
        const auto idx = std::int32_t(sym.size());
        sym.push_back({idx - 1, pos + n < norm.size() ? idx + 1 : -1, std::uint32_t(pos), std::uint32_t(n), freeze});
        pos += n;
      }
      struct Pair {
        float score;
        std::int32_t left, right;
        std::uint32_t size;
      };
      // higher score first; equal scores: leftmost first (SentencePiece's comparator)
      auto worse = [](const Pair& a, const Pair& b) { return a.score < b.score || (a.score == b.score && a.left > b.left); };
      std::vector<Pair> heap_storage;
      heap_storage.reserve(sym.size());
      std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> agenda(worse, std::move(heap_storage));
      std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> rev_merge;
      auto piece_of = [&](const Sym& s) { return std::string_view(norm).substr(s.begin, s.len); };
      auto maybe_add = [&](std::int32_t l, std::int32_t r) {
        if (l < 0 || r < 0 || sym[std::size_t(l)].freeze || sym[std::size_t(r)].freeze) return;
        const std::string_view piece = std::string_view(norm).substr(sym[std::size_t(l)].begin, sym[std::size_t(l)].len + sym[std::size_t(r)].len);
        auto it = normal.find(piece);
        if (it == normal.end()) return;
        agenda.push({spec.scores[std::size_t(it->second)], l, r, std::uint32_t(piece.size())});
        if (spec.types[std::size_t(it->second)] == PieceType::unused)
          rev_merge[piece] = {piece_of(sym[std::size_t(l)]), piece_of(sym[std::size_t(r)])};
      };
      for (std::size_t i = 1; i < sym.size(); ++i) maybe_add(std::int32_t(i - 1), std::int32_t(i));
      while (!agenda.empty()) {
        const Pair top = agenda.top();
        agenda.pop();
        Sym& L = sym[std::size_t(top.left)];
        Sym& R = sym[std::size_t(top.right)];
        if (L.len == 0 || R.len == 0 || L.len + R.len != top.size) continue;  // stale
        L.len += R.len;
        L.next = R.next;
        if (R.next >= 0) sym[std::size_t(R.next)].prev = top.left;
        R.len = 0;
        maybe_add(L.prev, top.left);
        maybe_add(top.left, L.next);
      }
      // Pieces of unused ids are split back into what they were merged from.
      bool prev_unk = false;
      auto emit = [&](std::string_view w, auto&& self, int depth) -> void {
        const std::int32_t id = sp_piece_to_id(w);
        if (depth < 64 && spec.types[std::size_t(id)] == PieceType::unused) {
          if (auto it = rev_merge.find(w); it != rev_merge.end()) {
            self(it->second.first, self, depth + 1);
            self(it->second.second, self, depth + 1);
            return;
          }
        }
        const bool is_unk = id == spec.unk_id;
        if (is_unk && spec.byte_fallback) {
          for (char c : w) {
            const std::int32_t b = byte_id[static_cast<unsigned char>(c)];
            out.push_back(b >= 0 ? b : spec.unk_id);
          }
          prev_unk = false;
          return;
        }
        if (!(is_unk && prev_unk)) out.push_back(id);  // a run of unknown pieces is one <unk>
        prev_unk = is_unk;
      };
      for (std::int32_t i = 0; i >= 0 && i < std::int32_t(sym.size()); i = sym[std::size_t(i)].next)
        emit(piece_of(sym[std::size_t(i)]), emit, 0);
    }

    std::string sp_decode(std::span<const std::int32_t> ids) const {
      std::string text;
      std::string bytes;
      const bool strip_first = spec.add_dummy_prefix || spec.remove_extra_whitespaces;
      auto flush_bytes = [&] {
        append_utf8_replacing(text, bytes);
        bytes.clear();
      };
      bool first = true;  // no piece but control pieces seen yet
      for (std::int32_t id : ids) {
        const PieceType t = spec.types[std::size_t(id)];
        if (t == PieceType::byte) {
          bytes.push_back(char(byte_of_piece_name(spec.pieces[std::size_t(id)])));
          first = false;
          continue;
        }
        flush_bytes();  // any other piece ends a run of bytes
        if (t == PieceType::control) continue;
        const bool at_start = std::exchange(first, false);
        if (t == PieceType::unknown) {
          text += spec.unk_surface;
          continue;
        }
        std::string_view p = spec.pieces[std::size_t(id)];
        if (at_start && strip_first && p.substr(0, kMetaSpace.size()) == kMetaSpace) p.remove_prefix(kMetaSpace.size());
        text += replace_all(p, kMetaSpace, " ");
      }
      flush_bytes();
      return text;
    }

    // ------------------------------------------------------------------ Hugging Face
    std::string hf_normalize(std::string_view in) const {
      std::string s(in);
      for (const auto& st : spec.normalizer) {
        if (st.kind == NormalizerStep::Kind::prepend) {
          if (!s.empty()) s.insert(0, st.a);
        } else {
          s = replace_all(s, st.a, st.b);
        }
      }
      return s;
    }

    static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

    /// Splits `s` at occurrences of the given added tokens (leftmost, then longest). Calls
    /// piece(text, offset) for the text between matches and token(id) for matches.
    template <class Piece, class Token>
    void split_added(std::string_view s, bool normalized_pass, Piece&& piece, Token&& token) const {
      std::size_t start = 0, pos = 0;
      while (pos < s.size()) {
        std::size_t best_len = 0;
        std::size_t best_k = 0;
        for (std::size_t k = 0; k < spec.added_tokens.size(); ++k) {
          const AddedToken& a = spec.added_tokens[k];
          if (a.normalized != normalized_pass) continue;
          const std::string_view c = normalized_pass ? std::string_view(added_norm[k]) : std::string_view(a.content);
          if (c.size() > best_len && s.substr(pos, c.size()) == c) best_len = c.size(), best_k = k;
        }
        if (best_len == 0) {
          ++pos;
          continue;
        }
        const AddedToken& a = spec.added_tokens[best_k];
        std::size_t b = pos, e = pos + best_len;
        if (a.lstrip)
          while (b > start && is_ws(s[b - 1])) --b;
        if (a.rstrip)
          while (e < s.size() && is_ws(s[e])) ++e;
        if (b > start) piece(s.substr(start, b - start), start);
        token(a.id);
        start = pos = e;
      }
      if (start < s.size()) piece(s.substr(start), start);
    }

    void hf_encode(std::string_view text, std::vector<std::int32_t>& out) const {
      split_added(text, false, [&](std::string_view seg, std::size_t offset) {
        const std::string norm = hf_normalize(seg);
        split_added(norm, true, [&](std::string_view sub, std::size_t off2) {
          hf_pre_tokenize(sub, offset == 0 && off2 == 0, out);
        }, [&](std::int32_t id) { out.push_back(id); });
      }, [&](std::int32_t id) { out.push_back(id); });
    }

    void hf_pre_tokenize(std::string_view s, bool first, std::vector<std::int32_t>& out) const {
      const Metaspace& ms = spec.pre_tokenizer;
      if (!ms.present) {
        hf_word(s, out);
        return;
      }
      std::string w = replace_all(s, " ", ms.replacement);
      const bool starts = std::string_view(w).substr(0, ms.replacement.size()) == ms.replacement;
      if (!starts && (ms.prepend == Metaspace::Prepend::always || (ms.prepend == Metaspace::Prepend::first && first)))
        w.insert(0, ms.replacement);
      if (!ms.split) {
        hf_word(w, out);
        return;
      }
      // each replacement character starts a new word (MergedWithNext)
      std::string_view v = w;
      std::size_t start = 0;
      for (std::size_t p = ms.replacement.size() > 0 ? v.find(ms.replacement, 1) : std::string_view::npos;
           p != std::string_view::npos; p = v.find(ms.replacement, p + 1)) {
        hf_word(v.substr(start, p - start), out);
        start = p;
      }
      hf_word(v.substr(start), out);
    }

    void hf_word(std::string_view w, std::vector<std::int32_t>& out) const {
      if (w.empty()) return;
      if (spec.ignore_merges)
        if (auto it = normal.find(w); it != normal.end()) {
          out.push_back(it->second);
          return;
        }
      struct Sym {
        std::int32_t id, prev, next, len;
      };
      std::vector<Sym> sym;
      sym.reserve(w.size());
      auto add = [&](std::int32_t id, std::int32_t len) {
        const auto n = std::int32_t(sym.size());
        sym.push_back({id, n - 1, -1, len});
        if (n > 0) sym[std::size_t(n - 1)].next = n;
      };
      std::int32_t unk_len = -1;  // pending (fused) unknown
      for (std::size_t i = 0; i < w.size();) {
        std::size_t n = utf8_valid_len(w.substr(i));
        if (n == 0) n = 1;
        const std::string_view c = w.substr(i, n);
        i += n;
        if (auto it = normal.find(c); it != normal.end()) {
          if (unk_len >= 0) add(spec.unk_id, unk_len), unk_len = -1;
          add(it->second, std::int32_t(n));
          continue;
        }
        if (spec.byte_fallback) {
          bool all = true;
          for (char b : c) all = all && byte_id[static_cast<unsigned char>(b)] >= 0;
          if (all) {
            for (char b : c) add(byte_id[static_cast<unsigned char>(b)], 1);
            continue;
          }
        }
        if (spec.unk_id >= 0) {
          if (unk_len >= 0 && spec.fuse_unk) {
            unk_len += std::int32_t(n);
          } else {
            if (unk_len >= 0) add(spec.unk_id, unk_len);
            unk_len = std::int32_t(n);
          }
        }
      }
      if (unk_len >= 0) add(spec.unk_id, unk_len);

      struct Merge {
        std::int32_t rank, pos, new_id;
      };
      auto later = [](const Merge& a, const Merge& b) { return a.rank > b.rank || (a.rank == b.rank && a.pos > b.pos); };
      std::vector<Merge> storage;
      storage.reserve(sym.size());
      std::priority_queue<Merge, std::vector<Merge>, decltype(later)> queue(later, std::move(storage));
      auto find = [&](std::int32_t a, std::int32_t b) -> const std::pair<std::int32_t, std::int32_t>* {
        auto it = merges.find(key(a, b));
        return it == merges.end() ? nullptr : &it->second;
      };
      for (std::size_t i = 0; i + 1 < sym.size(); ++i)
        if (auto m = find(sym[i].id, sym[i + 1].id)) queue.push({m->first, std::int32_t(i), m->second});
      while (!queue.empty()) {
        const Merge top = queue.top();
        queue.pop();
        Sym& cur = sym[std::size_t(top.pos)];
        if (cur.len == 0 || cur.next == -1) continue;
        const Sym right = sym[std::size_t(cur.next)];
        const auto m = find(cur.id, right.id);
        if (m == nullptr || m->second != top.new_id) continue;  // stale entry
        sym[std::size_t(cur.next)].len = 0;
        cur.id = top.new_id;
        cur.len += right.len;
        cur.next = right.next;
        if (right.next >= 0) sym[std::size_t(right.next)].prev = top.pos;
        if (cur.prev >= 0)
          if (auto pm = find(sym[std::size_t(cur.prev)].id, cur.id)) queue.push({pm->first, cur.prev, pm->second});
        if (cur.next >= 0)
          if (auto nm = find(cur.id, sym[std::size_t(cur.next)].id)) queue.push({nm->first, top.pos, nm->second});
      }
      for (const Sym& s : sym)
        if (s.len != 0) out.push_back(s.id);
    }

    std::string hf_decode(std::span<const std::int32_t> ids) const {
      std::vector<std::string> tokens;
      tokens.reserve(ids.size());
      for (std::int32_t id : ids) {
        const auto i = std::size_t(id);
        if (spec.types[i] == PieceType::control) continue;  // special added token: skipped
        const bool known = spec.types[i] == PieceType::user_defined || (!spec.in_model_vocab.empty() && spec.in_model_vocab[i]);
        if (!known) continue;  // a hole in the ids: the library skips it
        tokens.push_back(spec.pieces[i]);
      }
      if (!spec.has_decoder) {
        std::string s;
        for (std::size_t k = 0; k < tokens.size(); ++k) s += (k ? " " : "") + tokens[k];
        return s;
      }
      for (const DecoderStep& st : spec.decoder) {
        switch (st.kind) {
          case DecoderStep::Kind::replace:
            for (auto& t : tokens) t = replace_all(t, st.a, st.b);
            break;
          case DecoderStep::Kind::byte_fallback: {
            std::vector<std::string> next;
            std::string run;
            std::size_t run_n = 0;
            auto flush = [&] {
              if (run_n == 0) return;
              if (utf8_is_valid(run)) {
                next.push_back(run);
              } else {
                for (std::size_t k = 0; k < run_n; ++k) next.emplace_back(kReplacementChar);
              }
              run.clear();
              run_n = 0;
            };
            for (auto& t : tokens) {
              const int b = byte_of_piece_name(t);
              if (b >= 0) {
                run.push_back(char(b));
                ++run_n;
              } else {
                flush();
                next.push_back(std::move(t));
              }
            }
            flush();
            tokens = std::move(next);
            break;
          }
          case DecoderStep::Kind::fuse: {
            std::string all;
            for (auto& t : tokens) all += t;
            tokens.assign(1, std::move(all));
            break;
          }
          case DecoderStep::Kind::strip:
            for (auto& t : tokens) t = strip_chars(t, st.a, st.start, st.stop);
            break;
          case DecoderStep::Kind::metaspace:
            for (std::size_t k = 0; k < tokens.size(); ++k)
              tokens[k] = replace_all(tokens[k], st.a, k == 0 && st.prepend ? "" : " ");
            break;
        }
      }
      std::string s;
      for (auto& t : tokens) s += t;
      return s;
    }

    /// Removes up to `start` leading and `stop` trailing copies of character `c` (the Strip decoder).
    static std::string strip_chars(const std::string& t, std::string_view c, int start, int stop) {
      // split into characters (invalid bytes count as one character each)
      std::vector<std::string_view> chars;
      std::string_view v = t;
      while (!v.empty()) {
        std::size_t n = utf8_valid_len(v);
        if (n == 0) n = 1;
        chars.push_back(v.substr(0, n));
        v.remove_prefix(n);
      }
      std::size_t b = 0, e = chars.size();
      for (int i = 0; i < start && b < e && chars[b] == c; ++i) ++b;
      for (int i = 0; i < stop && e > b && chars[e - 1] == c; ++i) --e;
      std::string out;
      for (std::size_t k = b; k < e; ++k) out += chars[k];
      return out;
    }

    // ------------------------------------------------------------------ streaming tables
    void build_stream_tables() {
      const std::size_t V = spec.pieces.size();
      stream_bytes.resize(V);
      stream_strip.assign(V, 0);
      const bool sp = spec.flavour == TokenizerFlavour::sentencepiece;
      bool hf_strip = false, hf_bytes = false;
      std::vector<std::pair<std::string, std::string>> hf_replace;
      for (const auto& st : spec.decoder) {
        if (st.kind == DecoderStep::Kind::replace) hf_replace.emplace_back(st.a, st.b);
        if (st.kind == DecoderStep::Kind::metaspace) hf_replace.emplace_back(st.a, " "), hf_strip = hf_strip || st.prepend;
        if (st.kind == DecoderStep::Kind::strip && st.a == " " && st.start > 0) hf_strip = true;
        if (st.kind == DecoderStep::Kind::byte_fallback) hf_bytes = true;
      }
      for (std::size_t i = 0; i < V; ++i) {
        const PieceType t = spec.types[i];
        const std::string& p = spec.pieces[i];
        std::string b;
        if (t == PieceType::control) {
          b.clear();
        } else if (sp) {
          if (t == PieceType::byte) b.assign(1, char(byte_of_piece_name(p)));
          else if (t == PieceType::unknown) b = spec.unk_surface;
          else {
            b = replace_all(p, kMetaSpace, " ");
            stream_strip[i] = (spec.add_dummy_prefix || spec.remove_extra_whitespaces) && !b.empty() && b[0] == ' ';
          }
        } else {
          if (hf_bytes && byte_of_piece_name(p) >= 0) {
            b.assign(1, char(byte_of_piece_name(p)));
          } else {
            b = p;
            for (const auto& [from, to] : hf_replace) b = replace_all(b, from, to);
          }
          stream_strip[i] = hf_strip && !b.empty() && b[0] == ' ';
        }
        max_stream_bytes = std::max(max_stream_bytes, b.size());
        stream_bytes[i] = std::move(b);
      }
    }
  };

  std::shared_ptr<const Impl> impl_;
};

/// \brief Turns ids into text one at a time, as they are generated: holds back the bytes of an
/// incomplete UTF-8 character, drops the dummy-prefix space at the start, and allocates nothing
/// after construction.
class StreamDecoder {
 public:
  StreamDecoder() = default;
  explicit StreamDecoder(const Tokenizer& tok) : tok_(tok) {
    pending_.reserve(tok.max_token_bytes() + 8);
    out_.reserve(3 * (tok.max_token_bytes() + 8));
  }
  /// Back to the start of a text (`at_start` = false: the ids continue a text, e.g. a prompt,
  /// so the first space is kept).
  void reset(bool at_start = true) {
    pending_.clear();
    at_start_ = at_start;
  }
  /// Text completed by `id` (valid UTF-8; empty while a character is incomplete). The view is
  /// valid until the next call.
  std::string_view push(std::int32_t id) {
    out_.clear();
    std::string_view b = tok_.token_bytes(id);
    if (b.empty()) return out_;
    if (at_start_ && tok_.strips_leading_space(id)) b.remove_prefix(1);
    at_start_ = false;
    pending_.append(b);
    std::string_view v = pending_;
    while (!v.empty()) {
      const std::size_t n = utf8_valid_len(v);
      if (n > 0) {
        out_.append(v.substr(0, n));
        v.remove_prefix(n);
      } else if (could_complete(v)) {
        break;
      } else {
        out_.append(kReplacementChar);
        v.remove_prefix(1);
      }
    }
    pending_.erase(0, pending_.size() - v.size());
    return out_;
  }
  /// Bytes held back (an unfinished character) and whether the text has started: what
  /// restore() needs to continue exactly.
  std::string_view held_bytes() const { return pending_; }
  bool at_start() const { return at_start_; }
  /// Continues from what held_bytes() / at_start() returned (at most 3 bytes).
  void restore(std::string_view held, bool at_start) {
    check(held.size() <= 3, "StreamDecoder::restore: more than 3 held-back bytes");
    pending_.assign(held);
    at_start_ = at_start;
  }
  /// Whatever is still held back (an unfinished character), as U+FFFD.
  std::string_view flush() {
    out_.clear();
    for (std::size_t i = 0; i < pending_.size(); ++i) out_.append(kReplacementChar);
    pending_.clear();
    return out_;
  }

 private:
  /// True when `v` is a proper prefix of some valid UTF-8 character.
  static bool could_complete(std::string_view v) {
    const auto c = static_cast<unsigned char>(v[0]);
    const std::size_t need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (need == 0 || v.size() >= need) return false;
    for (std::size_t i = 1; i < v.size(); ++i)
      if ((static_cast<unsigned char>(v[i]) & 0xC0) != 0x80) return false;
    if (v.size() >= 2) {
      const auto d = static_cast<unsigned char>(v[1]);
      if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d >= 0xA0) || (c == 0xF0 && d < 0x90) || (c == 0xF4 && d >= 0x90))
        return false;
    }
    return true;
  }

  Tokenizer tok_;
  std::string pending_, out_;
  bool at_start_ = true;
};

}  // namespace text
MMFREE_NAMESPACE_END
