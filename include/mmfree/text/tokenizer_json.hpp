// SPDX-License-Identifier: MIT
// Reads a Hugging Face `tokenizer.json` holding a SentencePiece-style BPE model (byte fallback,
// U+2581 spaces): the "legacy" form (Prepend + Replace normalizer) and the "modern" form
// (Metaspace pre-tokenizer). Pieces of the pipeline this engine does not implement are refused by
// name rather than silently ignored.
#pragma once

#include <algorithm>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "tokenizer_spec.hpp"
#include "utf8.hpp"

MMFREE_NAMESPACE_BEGIN
namespace text {

/// \brief Parses the text of a tokenizer.json; `file` names it in error messages.
inline TokenizerSpec parse_tokenizer_json(std::string_view text, const std::string& file) {
  using json = nlohmann::json;
  auto fail = [&](const std::string& what) { return Error("'" + file + "': " + what); };
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw fail("malformed JSON");
  if (!j.is_object()) throw fail("not a JSON object");
  auto str = [&](const json& o, const char* key, const std::string& where) -> std::string {
    auto it = o.find(key);
    if (it == o.end() || !it->is_string()) throw fail(where + ": missing or non-string '" + key + "'");
    return it->get<std::string>();
  };
  auto flag = [&](const json& o, const char* key, bool def) -> bool {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return def;
    if (!it->is_boolean()) throw fail(std::string("'") + key + "' must be true or false");
    return it->get<bool>();
  };
  // Replace patterns: {"String": "x"} only (regex patterns are refused).
  auto pattern = [&](const json& o, const std::string& where) -> std::string {
    auto it = o.find("pattern");
    if (it == o.end() || !it->is_object() || !it->contains("String") || !(*it)["String"].is_string())
      throw fail(where + ": only {\"String\": ...} patterns are supported");
    std::string p = (*it)["String"].get<std::string>();
    if (p.empty()) throw fail(where + ": empty pattern");
    return p;
  };

  TokenizerSpec s;
  s.flavour = TokenizerFlavour::huggingface;

  // ---- model
  auto mit = j.find("model");
  if (mit == j.end() || !mit->is_object()) throw fail("missing 'model' object");
  const json& m = *mit;
  if (m.contains("type") && str(m, "type", "model") != "BPE")
    throw fail("model type '" + str(m, "type", "model") + "' is not supported (only BPE)");
  auto nonnull = [&](const char* k) { return m.contains(k) && !m[k].is_null(); };
  if (nonnull("dropout") && !(m["dropout"].is_number() && m["dropout"].get<double>() == 0.0))
    throw fail("BPE dropout is not supported");
  if (nonnull("continuing_subword_prefix") || nonnull("end_of_word_suffix"))
    throw fail("continuing_subword_prefix / end_of_word_suffix are not supported");
  s.byte_fallback = flag(m, "byte_fallback", false);
  s.fuse_unk = flag(m, "fuse_unk", false);
  s.ignore_merges = flag(m, "ignore_merges", false);
  auto vit = m.find("vocab");
  if (vit == m.end() || !vit->is_object() || vit->empty()) throw fail("missing or empty 'model.vocab' object");
  std::unordered_map<std::string, std::int32_t> vocab;
  vocab.reserve(vit->size());
  std::int32_t max_id = -1;
  constexpr std::int64_t max_vocab = std::int64_t(1) << 24;
  for (auto it = vit->begin(); it != vit->end(); ++it) {
    if (!it.value().is_number_integer()) throw fail("vocab entry '" + it.key() + "' is not an integer id");
    const std::int64_t id = it.value().get<std::int64_t>();
    if (id < 0 || id >= max_vocab) throw fail("vocab id " + std::to_string(id) + " of '" + it.key() + "' out of range");
    vocab[it.key()] = std::int32_t(id);
    max_id = std::max(max_id, std::int32_t(id));
  }

  // ---- added tokens
  if (auto at = j.find("added_tokens"); at != j.end() && !at->is_null()) {
    if (!at->is_array()) throw fail("'added_tokens' is not an array");
    for (const auto& t : *at) {
      if (!t.is_object()) throw fail("an added token is not an object");
      AddedToken a;
      a.content = str(t, "content", "added token");
      auto idit = t.find("id");
      if (idit == t.end() || !idit->is_number_integer()) throw fail("added token '" + a.content + "' has no integer id");
      const std::int64_t id = idit->get<std::int64_t>();
      if (id < 0 || id >= max_vocab) throw fail("added token id " + std::to_string(id) + " out of range");
      a.id = std::int32_t(id);
      a.special = flag(t, "special", false);
      a.normalized = flag(t, "normalized", !a.special);
      a.lstrip = flag(t, "lstrip", false);
      a.rstrip = flag(t, "rstrip", false);
      if (flag(t, "single_word", false)) throw fail("added token '" + a.content + "': single_word is not supported");
      if (a.content.empty()) throw fail("added token " + std::to_string(id) + " has empty content");
      max_id = std::max(max_id, a.id);
      s.added_tokens.push_back(std::move(a));
    }
  }

  const std::size_t V = std::size_t(max_id) + 1;
  s.pieces.assign(V, std::string());
  s.types.assign(V, PieceType::unused);
  s.scores.assign(V, 0.0f);
  s.in_model_vocab.assign(V, 0);
  std::vector<bool> seen(V, false);
  for (const auto& [piece, id] : vocab) {
    if (seen[std::size_t(id)]) throw fail("vocab id " + std::to_string(id) + " is used twice");
    seen[std::size_t(id)] = true;
    s.pieces[std::size_t(id)] = piece;
    s.types[std::size_t(id)] = byte_of_piece_name(piece) >= 0 ? PieceType::byte : PieceType::normal;
    s.in_model_vocab[std::size_t(id)] = 1;
  }
  for (const auto& a : s.added_tokens) {
    const auto i = std::size_t(a.id);
    if (seen[i] && s.pieces[i] != a.content)
      throw fail("added token '" + a.content + "' has id " + std::to_string(a.id) + " of vocab piece '" + s.pieces[i] + "'");
    seen[i] = true;
    s.pieces[i] = a.content;
    s.types[i] = a.special ? PieceType::control : PieceType::user_defined;
  }

  auto vid = [&](const std::string& p) -> std::int32_t {
    auto it = vocab.find(p);
    return it == vocab.end() ? -1 : it->second;
  };
  if (nonnull("unk_token")) {
    if (!m["unk_token"].is_string()) throw fail("'model.unk_token' is not a string");
    s.unk_id = vid(m["unk_token"].get<std::string>());
    if (s.unk_id < 0) throw fail("unk_token '" + m["unk_token"].get<std::string>() + "' is not in the vocab");
    if (s.types[std::size_t(s.unk_id)] != PieceType::control) s.types[std::size_t(s.unk_id)] = PieceType::unknown;
  }

  // merges: ["a b", ...] (older files) or [["a", "b"], ...]
  if (auto mg = m.find("merges"); mg != m.end() && !mg->is_null()) {
    if (!mg->is_array()) throw fail("'model.merges' is not an array");
    s.merges.reserve(mg->size());
    for (const auto& e : *mg) {
      std::string a, b;
      if (e.is_string()) {
        const std::string t = e.get<std::string>();
        const std::size_t sp = t.find(' ');
        if (sp == std::string::npos || t.find(' ', sp + 1) != std::string::npos)
          throw fail("merge '" + t + "' is not two pieces separated by one space");
        a = t.substr(0, sp);
        b = t.substr(sp + 1);
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        a = e[0].get<std::string>();
        b = e[1].get<std::string>();
      } else {
        throw fail("merge entry " + std::to_string(s.merges.size()) + " is neither \"a b\" nor [\"a\", \"b\"]");
      }
      const std::int32_t ia = vid(a), ib = vid(b), ic = vid(a + b);
      if (ia < 0 || ib < 0 || ic < 0)
        throw fail("merge '" + a + " " + b + "' uses a piece missing from the vocab");
      s.merges.emplace_back(ia, ib);
    }
  }

  // ---- normalizer: Prepend / Replace (alone or in a Sequence)
  auto add_norm = [&](const json& n, int depth, auto&& self) -> void {
    if (n.is_null()) return;
    if (depth > 8) throw fail("normalizer Sequences nested too deeply");
    if (!n.is_object()) throw fail("normalizer is not an object");
    const std::string type = str(n, "type", "normalizer");
    if (type == "Sequence") {
      auto it = n.find("normalizers");
      if (it == n.end() || !it->is_array()) throw fail("normalizer Sequence without 'normalizers'");
      for (const auto& x : *it) self(x, depth + 1, self);
    } else if (type == "Prepend") {
      s.normalizer.push_back({NormalizerStep::Kind::prepend, str(n, "prepend", "Prepend normalizer"), {}});
    } else if (type == "Replace") {
      s.normalizer.push_back({NormalizerStep::Kind::replace, pattern(n, "Replace normalizer"), str(n, "content", "Replace normalizer")});
    } else {
      throw fail("normalizer '" + type + "' is not supported (Prepend, Replace, Sequence)");
    }
  };
  if (auto n = j.find("normalizer"); n != j.end()) add_norm(*n, 0, add_norm);

  // ---- pre-tokenizer: Metaspace (alone or as the only member of a Sequence)
  auto set_pre = [&](const json& p, int depth, auto&& self) -> void {
    if (p.is_null()) return;
    if (depth > 8) throw fail("pre_tokenizer Sequences nested too deeply");
    if (!p.is_object()) throw fail("pre_tokenizer is not an object");
    const std::string type = str(p, "type", "pre_tokenizer");
    if (type == "Sequence") {
      auto it = p.find("pretokenizers");
      if (it == p.end() || !it->is_array()) throw fail("pre_tokenizer Sequence without 'pretokenizers'");
      for (const auto& x : *it) self(x, depth + 1, self);
    } else if (type == "Metaspace") {
      if (s.pre_tokenizer.present) throw fail("more than one Metaspace pre-tokenizer");
      Metaspace& ms = s.pre_tokenizer;
      ms.present = true;
      ms.replacement = str(p, "replacement", "Metaspace");
      if (ms.replacement.empty() || utf8_valid_len(ms.replacement) != ms.replacement.size())
        throw fail("Metaspace replacement must be one character");
      ms.split = flag(p, "split", true);
      if (p.contains("prepend_scheme") && !p["prepend_scheme"].is_null()) {
        const std::string sch = str(p, "prepend_scheme", "Metaspace");
        if (sch == "always") ms.prepend = Metaspace::Prepend::always;
        else if (sch == "first") ms.prepend = Metaspace::Prepend::first;
        else if (sch == "never") ms.prepend = Metaspace::Prepend::never;
        else throw fail("Metaspace prepend_scheme '" + sch + "' is unknown");
      } else {
        ms.prepend = flag(p, "add_prefix_space", true) ? Metaspace::Prepend::always : Metaspace::Prepend::never;
      }
    } else {
      throw fail("pre_tokenizer '" + type + "' is not supported (Metaspace)");
    }
  };
  if (auto p = j.find("pre_tokenizer"); p != j.end()) set_pre(*p, 0, set_pre);

  // ---- post_processor: BOS/EOS ids come from the vocab; anything but a template is refused
  if (auto pp = j.find("post_processor"); pp != j.end() && !pp->is_null()) {
    if (!pp->is_object()) throw fail("post_processor is not an object");
    const std::string type = str(*pp, "type", "post_processor");
    if (type != "TemplateProcessing" && type != "Sequence" && type != "ByteLevel")
      throw fail("post_processor '" + type + "' is not supported");
  }

  // ---- decoder
  auto add_dec = [&](const json& d, int depth, auto&& self) -> void {
    if (d.is_null()) return;
    if (depth > 8) throw fail("decoder Sequences nested too deeply");
    if (!d.is_object()) throw fail("decoder is not an object");
    s.has_decoder = true;
    const std::string type = str(d, "type", "decoder");
    DecoderStep st;
    if (type == "Sequence") {
      auto it = d.find("decoders");
      if (it == d.end() || !it->is_array()) throw fail("decoder Sequence without 'decoders'");
      for (const auto& x : *it) self(x, depth + 1, self);
      return;
    } else if (type == "Replace") {
      st.kind = DecoderStep::Kind::replace;
      st.a = pattern(d, "Replace decoder");
      st.b = str(d, "content", "Replace decoder");
    } else if (type == "ByteFallback") {
      st.kind = DecoderStep::Kind::byte_fallback;
    } else if (type == "Fuse") {
      st.kind = DecoderStep::Kind::fuse;
    } else if (type == "Strip") {
      st.kind = DecoderStep::Kind::strip;
      st.a = str(d, "content", "Strip decoder");
      if (utf8_valid_len(st.a) != st.a.size() || st.a.empty()) throw fail("Strip decoder content must be one character");
      auto num = [&](const char* k) {
        auto it = d.find(k);
        if (it == d.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() > 1000000)
          throw fail(std::string("Strip decoder: bad '") + k + "'");
        return int(it->get<std::uint64_t>());
      };
      st.start = num("start");
      st.stop = num("stop");
    } else if (type == "Metaspace") {
      st.kind = DecoderStep::Kind::metaspace;
      st.a = str(d, "replacement", "Metaspace decoder");
      if (utf8_valid_len(st.a) != st.a.size() || st.a.empty()) throw fail("Metaspace decoder replacement must be one character");
      if (d.contains("prepend_scheme") && d["prepend_scheme"].is_string())
        st.prepend = d["prepend_scheme"].get<std::string>() != "never";
      else
        st.prepend = flag(d, "add_prefix_space", true);
    } else {
      throw fail("decoder '" + type + "' is not supported (Replace, ByteFallback, Fuse, Strip, Metaspace)");
    }
    s.decoder.push_back(std::move(st));
  };
  if (auto d = j.find("decoder"); d != j.end()) add_dec(*d, 0, add_dec);

  // BOS / EOS: the usual SentencePiece names.
  s.bos_id = vid("<s>");
  s.eos_id = vid("</s>");
  for (const auto& a : s.added_tokens) {
    if (a.content == "<s>") s.bos_id = a.id;
    if (a.content == "</s>") s.eos_id = a.id;
  }
  return s;
}

}  // namespace text
MMFREE_NAMESPACE_END
