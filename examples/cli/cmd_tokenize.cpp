// SPDX-License-Identifier: MIT
// mmfree tokenize / detokenize: text <-> ids with a tokenizer.model or tokenizer.json.
#include <cstdio>
#include <fstream>

#include <unistd.h>

#include "common.hpp"

namespace mmfree_cli {

namespace {

/// "1,2,3", "1 2 3" or "[1, 2, 3]" -> ids (empty input: no ids).
std::vector<std::int32_t> parse_id_list(const std::string& s) {
  std::vector<std::int32_t> ids;
  std::string tok;
  auto flush = [&] {
    if (tok.empty()) return;
    ids.push_back(parse_token_id(tok));
    tok.clear();
  };
  for (char c : s) {
    if (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '[' || c == ']') flush();
    else tok.push_back(c);
  }
  flush();
  return ids;
}

}  // namespace

void register_tokenize(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text as a JSON array on one line");
    struct Opts {
      std::string tokenizer, text, file;
      bool bos = false;
    };
    auto o = std::make_shared<Opts>();
    cmd->add_option("-t,--tokenizer", o->tokenizer, "tokenizer.model, tokenizer.json or a directory holding one")->required();
    auto* text = cmd->add_option("--text", o->text, "The text");
    auto* file = cmd->add_option("-f,--file", o->file, "Read the text from a file instead");
    text->excludes(file);
    cmd->add_flag("--bos", o->bos, "Put BOS first");
    cmd->callback([o, text, file] {
      if (text->count() == 0 && file->count() == 0) throw mmfree::Error("tokenize: give --text or --file");
      const auto tok = mmfree::text::Tokenizer::load(o->tokenizer);
      const std::string s = file->count() ? mmfree::io::read_text_file(o->file) : o->text;
      const auto ids = tok.encode(s, o->bos);
      std::string out = "[";
      for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
      out += "]\n";
      std::fwrite(out.data(), 1, out.size(), stdout);
    });
  }
  {
    auto* cmd = app.add_subcommand("detokenize", "Print the text of token ids");
    struct Opts {
      std::string tokenizer, ids;
    };
    auto o = std::make_shared<Opts>();
    cmd->add_option("-t,--tokenizer", o->tokenizer, "tokenizer.model, tokenizer.json or a directory holding one")->required();
    cmd->add_option("--ids", o->ids, "Token ids: \"1,2,3\" (or a JSON array)")->required();
    cmd->callback([o] {
      const auto tok = mmfree::text::Tokenizer::load(o->tokenizer);
      const std::string s = tok.decode(parse_id_list(o->ids));
      std::fwrite(s.data(), 1, s.size(), stdout);
      // the text exactly as decoded; a newline only for a person at a terminal
      if (::isatty(1)) std::fputc('\n', stdout);
    });
  }
}

}  // namespace mmfree_cli
