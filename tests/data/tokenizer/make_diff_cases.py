#!/usr/bin/env python3
"""Writes diff_cases.json: random strings and id sequences with the ids / text that SentencePiece
(python3-sentencepiece) and the Hugging Face `tokenizers` library give for the golden tokenizer
files. Not run by CI; the output is committed. Needs: apt python3-sentencepiece python3-protobuf,
and `npm install tokenizers` (the Rust library's Node binding) in NODE_DIR.
usage: make_diff_cases.py GOLDEN_TOKENIZER_DIR NODE_DIR > diff_cases.json"""
import json, random, subprocess, sys, os
import sentencepiece as spm

golden, node_dir = sys.argv[1], sys.argv[2]
rng = random.Random(20261123)
frags = ["the", "The", "and", " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", "<s>", "</s>", "<unk>", "<s", "s>",
         "\u2581", "\u2581\u2581", "é", "ü", "中文", "🙂", "🚀", "مرحبا", "мир", "\u00a0", "\u200b", "0", "123",
         "3.14", ",", ".", "!", "?", "'", '"', "LORD", "God", "said", "unto", "thee", "thou", "shalt", "-", "_",
         "(", ")", "ﬁ", "Å", "Ω", "\u0301", "a", "b", "x", "zz", "supercalifragilistic", "ß", "İ", "ǅ"]

def rand_text():
    n = rng.randint(0, 12)
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.75:
            parts.append(rng.choice(frags))
        elif r < 0.9:
            parts.append(chr(rng.randint(0x20, 0x7e)))
        else:
            cp = rng.choice([rng.randint(0xa0, 0x2fff), rng.randint(0x4e00, 0x9fff), rng.randint(0x1f300, 0x1faff)])
            parts.append(chr(cp))
    return "".join(parts)

texts = [rand_text() for _ in range(400)]
id_seqs = []
for _ in range(150):
    n = rng.randint(0, 10)
    seq = []
    for _ in range(n):
        r = rng.random()
        if r < 0.3:
            seq.append(rng.randint(3, 258))      # byte pieces
        elif r < 0.4:
            seq.append(rng.randint(0, 2))        # unk / bos / eos
        else:
            seq.append(rng.randint(259, 2999))
    id_seqs.append(seq)

sp = spm.SentencePieceProcessor(model_file=os.path.join(golden, "tokenizer.model"))
out = {"texts": [], "ids": []}
for t in texts:
    out["texts"].append({"text": t, "sp_ids": sp.encode(t)})
for s in id_seqs:
    out["ids"].append({"ids": s, "sp_decoded": sp.decode(s)})

js = r"""
const {Tokenizer} = require('tokenizers');
const fs = require('fs');
const inp = JSON.parse(fs.readFileSync(0));
(async () => {
  const res = {};
  for (const fl of ['json_legacy', 'json_modern']) {
    const tok = Tokenizer.fromFile(inp.golden + '/' + fl + '/tokenizer.json');
    const enc = [], dec = [];
    for (const t of inp.texts) enc.push((await tok.encode(t, null, {addSpecialTokens: false})).getIds());
    for (const s of inp.ids) dec.push(await tok.decode(s, true));
    res[fl] = {enc, dec};
  }
  process.stdout.write(JSON.stringify(res));
})();
"""
r = subprocess.run(["node", "-e", js], input=json.dumps({"golden": golden, "texts": texts, "ids": id_seqs}),
                   capture_output=True, text=True, cwd=node_dir, check=True)
hf = json.loads(r.stdout)
for fl in ["json_legacy", "json_modern"]:
    for i, e in enumerate(hf[fl]["enc"]):
        out["texts"][i][fl + "_ids"] = e
    for i, d in enumerate(hf[fl]["dec"]):
        out["ids"][i][fl + "_decoded"] = d
json.dump(out, sys.stdout, ensure_ascii=False, indent=0)
