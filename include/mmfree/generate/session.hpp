// SPDX-License-Identifier: MIT
// Session<Pol>: text generation for embedding (games, tools). Owns the recurrent state, the
// workspace and each sequence's sampler; prefill a prompt, then decode one token at a time or
// "up to N tokens / up to T microseconds" per call. Several independent sequences run as one batch.
// Nothing is allocated per token.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "../model/model.hpp"
#include "../text/tokenizer.hpp"
#include "sampler.hpp"

MMFREE_NAMESPACE_BEGIN

/// Why a sequence stopped.
enum class FinishReason : std::uint8_t {
  none,        ///< still generating (or nothing prefilled yet)
  eos,         ///< sampled the end-of-sequence token
  stop_string, ///< the generated text reached one of the stop strings
  max_tokens   ///< generated SequenceOptions::max_tokens tokens
};

/// Per-sequence generation settings.
struct SequenceOptions {
  SamplingParams sampling;
  index_t max_tokens = -1;           ///< tokens to generate before stopping; < 0: no limit
  bool stop_at_eos = true;           ///< stop when the tokenizer's / config's EOS is sampled
  std::vector<std::string> stop = {};  ///< stop when the text contains one of these (needs a tokenizer)
};

/// Session sizes.
struct SessionOptions {
  index_t batch = 1;       ///< independent sequences decoded together
  index_t max_chunk = 64;  ///< prompt tokens processed at once
};

/// \brief A generation session over a Model (which must outlive it).
///
/// \code
///   mmfree::Session<Pol> s(model, {.batch = 1}, &tokenizer);
///   s.configure(0, {.sampling = {.temperature = 0.7f, .seed = 42}, .max_tokens = 64});
///   s.prefill(0, "In the beginning");
///   // each frame: at most 2 ms of work, text streamed to the callback
///   s.generate(1000, std::chrono::microseconds(2000),
///              [](mmfree::index_t seq, std::int32_t id, std::string_view text) { show(text); });
/// \endcode
/// The callback gets every sampled token (EOS included) and the text it completes; text that may
/// start a stop string is held back until it is known not to.
template <PolicyBundle Pol>
class Session {
 public:
  /// `ctx` is the backend's run-time context (e.g. backend::Simd's threads and kernel path).
  Session(const Model<Pol>& model, SessionOptions opt = {}, const text::Tokenizer* tok = nullptr,
          typename Model<Pol>::context_type ctx = {})
      : model_(&model),
        opt_(opt),
        ws_(model.make_workspace({.max_batch = opt.batch, .max_chunk = opt.max_chunk, .all_logits = false},
                                 std::move(ctx))),
        state_(model.make_state(opt.batch)),
        one_(model.make_state(1)) {
    check(opt.batch > 0 && opt.max_chunk > 0, "Session: batch and max_chunk must be positive");
    const index_t V = model.config().vocab_size;
    if (tok != nullptr) {
      tok_ = *tok;
      if (tok_.vocab_size() > V)
        throw Error("Session: the tokenizer has " + std::to_string(tok_.vocab_size()) + " ids but the model only " +
                    std::to_string(V));
    }
    eos_ = tok_.loaded() && tok_.eos_id() >= 0 ? tok_.eos_id() : model.config().eos_token_id;
    logits_.assign(static_cast<std::size_t>(opt.batch * V), 0.0f);
    ids_.assign(static_cast<std::size_t>(opt.batch), 0);
    floats_.assign(static_cast<std::size_t>(state_.floats_per_sequence()), 0.0f);
    seqs_.resize(static_cast<std::size_t>(opt.batch));
    for (index_t b = 0; b < opt.batch; ++b) configure(b, SequenceOptions{});
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  index_t batch() const { return opt_.batch; }
  const Model<Pol>& model() const { return *model_; }

  /// Sets sequence b's sampling, limits and stop strings, and resets it (zero state).
  void configure(index_t b, SequenceOptions o) {
    Seq& s = seq(b);
    o.sampling.validate();
    if (!o.stop.empty() && !tok_.loaded()) throw Error("Session: stop strings need a tokenizer");
    for (const auto& st : o.stop) check(!st.empty(), "Session: empty stop string");
    s.opt = std::move(o);
    s.sampler = Sampler(model_->config().vocab_size, s.opt.sampling);
    std::size_t longest = 0;
    for (const auto& st : s.opt.stop) longest = std::max(longest, st.size());
    const std::size_t chunk = tok_.loaded() ? 3 * (tok_.max_token_bytes() + 8) : 0;
    s.held.clear();
    s.held.reserve(longest + chunk + 16);
    s.emit.clear();
    s.emit.reserve(longest + chunk + 16);
    if (tok_.loaded()) s.decoder = text::StreamDecoder(tok_);
    s.snapshot.assign(std::size_t(state_.floats_per_sequence()), 0.0f);
    reset(b);
  }

  /// Sequence b back to an empty context (zero state, fresh sampler, counters cleared).
  void reset(index_t b) {
    Seq& s = seq(b);
    state_.reset_sequence(b);
    s.sampler.reset();
    s.pending = -1;
    s.generated = 0;
    s.finish = FinishReason::none;
    s.held.clear();
    if (tok_.loaded()) s.decoder.reset();
  }

  /// \brief Appends token ids to sequence b's context (a prompt, or a reply typed by a user)
  /// and makes it ready to generate. The last id is kept pending: it is consumed by the next step.
  void prefill(index_t b, std::span<const std::int32_t> ids) {
    Seq& s = seq(b);
    if (ids.empty()) return;
    const index_t V = model_->config().vocab_size;
    for (std::size_t k = 0; k < ids.size(); ++k)
      if (ids[k] < 0 || ids[k] >= V)
        throw Error("Session::prefill: token id " + std::to_string(ids[k]) + " at position " + std::to_string(k) +
                    " is out of range [0, " + std::to_string(V) + ")");
    std::vector<std::int32_t> run;  // pending token + all new ones but the last
    run.reserve(ids.size());
    if (s.pending >= 0) run.push_back(s.pending);
    for (std::size_t k = 0; k + 1 < ids.size(); ++k) run.push_back(ids[k]);
    if (!run.empty()) {
      state_.save_sequence(b, floats_);
      one_.load_sequence(0, floats_);
      model_->prefill(ws_, one_, run, 1, std::span<float>(logits_.data(), std::size_t(V)), Logits::last);
      one_.save_sequence(0, floats_);
      state_.load_sequence(b, floats_);
    }
    for (std::int32_t id : ids) s.sampler.accept(id);
    s.pending = ids.back();
    s.finish = FinishReason::none;
    s.generated = 0;
    if (tok_.loaded()) s.decoder.reset(false);  // generated text continues the context
  }

  /// Encodes `text` with the session's tokenizer (BOS first if `add_bos` and the context of b is
  /// empty) and prefills it.
  void prefill(index_t b, std::string_view text, bool add_bos = true) {
    if (!tok_.loaded()) throw Error("Session::prefill(text) needs a tokenizer");
    const Seq& s = seq(b);
    prefill(b, tok_.encode(text, add_bos && s.pending < 0 && tok_.bos_id() >= 0));
  }

  /// True when sequence b has a pending token and has not finished.
  bool active(index_t b) const { return seq(b).pending >= 0 && seq(b).finish == FinishReason::none; }
  /// True when any sequence is active.
  bool any_active() const {
    for (index_t b = 0; b < opt_.batch; ++b)
      if (active(b)) return true;
    return false;
  }
  FinishReason finish_reason(index_t b) const { return seq(b).finish; }
  /// Tokens generated since the last prefill.
  index_t generated(index_t b) const { return seq(b).generated; }
  /// Raises (or lowers) the token limit of b; a sequence stopped by max_tokens can continue.
  void set_max_tokens(index_t b, index_t n) {
    Seq& s = seq(b);
    s.opt.max_tokens = n;
    if (s.finish == FinishReason::max_tokens && (n < 0 || s.generated < n)) s.finish = FinishReason::none;
  }

  /// \brief One decoding step for every active sequence (batched). Calls
  /// on_token(seq, id, text) for each; returns the number of tokens produced.
  template <class F>
  index_t step(F&& on_token) {
    const index_t B = opt_.batch, V = model_->config().vocab_size;
    index_t live = 0;
    for (index_t b = 0; b < B; ++b) {
      Seq& s = seqs_[std::size_t(b)];
      const bool act = active(b);
      ids_[std::size_t(b)] = s.pending >= 0 ? s.pending : 0;
      if (!act) state_.save_sequence(b, s.snapshot);  // idle rows run too; keep their state
      live += act;
    }
    if (live == 0) return 0;
    model_->step(ws_, state_, ids_, logits_);
    index_t produced = 0;
    for (index_t b = 0; b < B; ++b) {
      Seq& s = seqs_[std::size_t(b)];
      if (!active(b)) {
        state_.load_sequence(b, s.snapshot);
        continue;
      }
      const std::int32_t id = s.sampler.sample(std::span<const float>(logits_.data() + b * V, std::size_t(V)));
      ++produced;
      ++s.generated;
      s.sampler.accept(id);
      s.pending = id;
      s.emit.clear();
      if (s.opt.stop_at_eos && id == eos_) {
        s.finish = FinishReason::eos;
        flush_text(s);
        on_token(b, id, std::string_view(s.emit));
        continue;
      }
      if (tok_.loaded() && id < tok_.vocab_size()) {
        s.held.append(s.decoder.push(id));
        release_text(s);
      }
      if (s.finish == FinishReason::none && s.opt.max_tokens >= 0 && s.generated >= s.opt.max_tokens) {
        s.finish = FinishReason::max_tokens;
        flush_text(s);
      }
      on_token(b, id, std::string_view(s.emit));
    }
    return produced;
  }

  /// \brief Steps until `max_steps` steps ran, `budget` elapsed (checked after each step: one
  /// step may overrun it), or no sequence is active. Returns the number of steps.
  template <class F>
  index_t generate(index_t max_steps, std::chrono::microseconds budget, F&& on_token) {
    const auto start = std::chrono::steady_clock::now();
    const bool timed = budget != std::chrono::microseconds::max();  // max() overflows as nanoseconds
    index_t steps = 0;
    while (steps < max_steps && any_active()) {
      step(on_token);
      ++steps;
      if (timed && std::chrono::steady_clock::now() - start >= budget) break;
    }
    return steps;
  }
  /// Steps until `max_steps` steps ran or no sequence is active.
  template <class F>
  index_t generate(index_t max_steps, F&& on_token) {
    return generate(max_steps, std::chrono::microseconds::max(), on_token);
  }

  /// \brief Sequence b as bytes: recurrent state (layers x H floats), pending token, counters,
  /// sampler (generator + recent tokens) and held-back text. restore() continues exactly.
  std::vector<std::uint8_t> save(index_t b) const {
    const Seq& s = seq(b);
    std::vector<std::uint8_t> out;
    auto put = [&](const void* p, std::size_t n) {
      const auto* c = static_cast<const std::uint8_t*>(p);
      out.insert(out.end(), c, c + n);
    };
    const std::uint32_t hdr[4] = {kMagic, kVersion, std::uint32_t(state_.layers()), std::uint32_t(state_.hidden())};
    put(hdr, sizeof(hdr));
    const std::int64_t nums[3] = {s.pending, s.generated, std::int64_t(s.finish)};
    put(nums, sizeof(nums));
    std::vector<std::uint8_t> smp(s.sampler.state_bytes());
    s.sampler.save_state(smp.data());
    const std::uint64_t smp_n = smp.size(), held_n = s.held.size();
    put(&smp_n, 8);
    put(smp.data(), smp.size());
    put(&held_n, 8);
    put(s.held.data(), s.held.size());
    // the stream decoder's unfinished UTF-8 character and start flag
    const std::string_view dec = tok_.loaded() ? s.decoder.held_bytes() : std::string_view();
    const std::uint8_t dec_hdr[2] = {std::uint8_t(dec.size()), std::uint8_t(tok_.loaded() && s.decoder.at_start())};
    put(dec_hdr, 2);
    put(dec.data(), dec.size());
    std::vector<float> f(std::size_t(state_.floats_per_sequence()));
    state_.save_sequence(b, f);
    put(f.data(), f.size() * sizeof(float));
    return out;
  }

  /// Restores what save() wrote into sequence b (of a session with the same model shape and
  /// repeat_last_n). Throws mmfree::Error when the bytes do not fit.
  void restore(index_t b, std::span<const std::uint8_t> bytes) {
    Seq& s = seq(b);
    std::size_t pos = 0;
    auto get = [&](void* p, std::size_t n) {
      if (bytes.size() - pos < n) throw Error("Session::restore: saved sequence is truncated");
      std::memcpy(p, bytes.data() + pos, n);
      pos += n;
    };
    std::uint32_t hdr[4];
    get(hdr, sizeof(hdr));
    if (hdr[0] != kMagic || hdr[1] != kVersion) throw Error("Session::restore: not a saved mmfree sequence (or another version)");
    if (hdr[2] != std::uint32_t(state_.layers()) || hdr[3] != std::uint32_t(state_.hidden()))
      throw Error("Session::restore: saved sequence is for a model with " + std::to_string(hdr[2]) + " layers x " +
                  std::to_string(hdr[3]) + " hidden, this one has " + std::to_string(state_.layers()) + " x " +
                  std::to_string(state_.hidden()));
    std::int64_t nums[3];
    get(nums, sizeof(nums));
    if (nums[0] < -1 || nums[0] >= model_->config().vocab_size || nums[2] < 0 || nums[2] > 3)
      throw Error("Session::restore: saved sequence holds invalid values");
    std::uint64_t smp_n = 0;
    get(&smp_n, 8);
    if (smp_n != s.sampler.state_bytes()) throw Error("Session::restore: saved sampler state does not match repeat_last_n");
    std::vector<std::uint8_t> smp(smp_n);
    get(smp.data(), smp.size());
    std::uint64_t held_n = 0;
    get(&held_n, 8);
    if (held_n > s.held.capacity()) throw Error("Session::restore: saved held-back text is longer than the stop strings allow");
    std::string held(std::size_t(held_n), '\0');
    get(held.data(), held.size());
    std::uint8_t dec_hdr[2];
    get(dec_hdr, 2);
    if (dec_hdr[0] > 3) throw Error("Session::restore: saved sequence holds invalid values");
    char dec[3];
    get(dec, dec_hdr[0]);
    std::vector<float> f(std::size_t(state_.floats_per_sequence()));
    get(f.data(), f.size() * sizeof(float));
    if (pos != bytes.size()) throw Error("Session::restore: trailing bytes after the saved sequence");
    s.sampler.load_state(smp.data());
    state_.load_sequence(b, f);
    s.pending = std::int32_t(nums[0]);
    s.generated = nums[1];
    s.finish = FinishReason(nums[2]);
    s.held.assign(held);
    if (tok_.loaded()) s.decoder.restore(std::string_view(dec, dec_hdr[0]), dec_hdr[1] != 0);
  }

 private:
  static constexpr std::uint32_t kMagic = 0x5153464Du;  // "MFSQ"
  static constexpr std::uint32_t kVersion = 1;

  struct Seq {
    SequenceOptions opt;
    Sampler sampler;
    text::StreamDecoder decoder;
    std::int32_t pending = -1;
    index_t generated = 0;
    FinishReason finish = FinishReason::none;
    std::string held;  ///< decoded text not yet released (could start a stop string)
    std::string emit;  ///< text released by the current step
    std::vector<float> snapshot;
  };

  Seq& seq(index_t b) {
    if (b < 0 || b >= opt_.batch)
      throw Error("Session: sequence " + std::to_string(b) + " out of range [0, " + std::to_string(opt_.batch) + ")");
    return seqs_[std::size_t(b)];
  }
  const Seq& seq(index_t b) const { return const_cast<Session*>(this)->seq(b); }

  /// Moves text that cannot be part of a stop string from held to emit; finishes on a stop string.
  void release_text(Seq& s) {
    std::string_view h = s.held;
    std::size_t cut = std::string_view::npos;
    for (const auto& st : s.opt.stop) cut = std::min(cut, h.find(st));
    if (cut != std::string_view::npos) {
      s.emit.append(h.substr(0, cut));
      s.held.clear();
      s.finish = FinishReason::stop_string;
      return;
    }
    // keep the longest tail that is a proper prefix of a stop string
    std::size_t keep = 0;
    for (const auto& st : s.opt.stop)
      for (std::size_t n = std::min(st.size() - 1, h.size()); n > keep; --n)
        if (h.substr(h.size() - n) == std::string_view(st).substr(0, n)) {
          keep = n;
          break;
        }
    s.emit.append(h.substr(0, h.size() - keep));
    s.held.erase(0, h.size() - keep);
  }
  void flush_text(Seq& s) {
    s.emit.append(s.held);
    s.held.clear();
    if (tok_.loaded()) s.emit.append(s.decoder.flush());
  }

  const Model<Pol>* model_;
  SessionOptions opt_;
  Workspace<Pol> ws_;
  State<Pol> state_, one_;
  text::Tokenizer tok_;
  std::int32_t eos_ = -1;
  std::vector<float> logits_, floats_;
  std::vector<std::int32_t> ids_;
  std::vector<Seq> seqs_;
};

MMFREE_NAMESPACE_END
