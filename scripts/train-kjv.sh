#!/usr/bin/env bash
# Recipe of mmfree's built-in model: the King James Bible (Debian's bible-kjv, public domain),
# a SentencePiece BPE tokenizer trained on it, and a small MatMul-free LM trained by `mmfree train`.
#
#   scripts/train-kjv.sh            # resumable: run it again after an interruption
#
# Writes out/kjv/ (text, checkpoint/, loss.csv, summary.json, train.log) and models/kjv/
# (tokenizer.model, model.mmfree). Settings can be overridden from the environment, e.g.
# STEPS=3000 THREADS=4 scripts/train-kjv.sh. About 1.5 hours on 2 busy cores at the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-out/kjv}
MODELS=${MODELS:-models/kjv}
BUILD=${BUILD:-build-kjv}
MARCH=${MARCH:-native}          # the training binary is built for this CPU: Eigen's GEMMs need AVX2/AVX-512
THREADS=${THREADS:-2}
VOCAB=${VOCAB:-4000}
HIDDEN=${HIDDEN:-256}
LAYERS=${LAYERS:-4}
STEPS=${STEPS:-2200}
BATCH=${BATCH:-16}
SEQ=${SEQ:-128}
LR=${LR:-3e-3}
WARMUP=${WARMUP:-200}
SEED=${SEED:-1}

mkdir -p "$OUT" "$MODELS"

# 1. The text: one verse per line, without book/chapter headings and verse numbers.
if [ ! -s "$OUT/kjv.txt" ]; then
  command -v bible >/dev/null || { echo "needs Debian's bible-kjv (apt-get install bible-kjv)"; exit 1; }
  bible -l100000 Gen1:1-Rev22:21 | grep -E '^ +[0-9]+ ' | sed -E 's/^ +[0-9]+ //' > "$OUT/kjv.txt"
fi
echo "text: $(wc -l < "$OUT/kjv.txt") verses, $(wc -w < "$OUT/kjv.txt") words"

# 2. The tokenizer: BPE with byte fallback, the options of the Llama/Mistral family
#    (identity normalisation, digits split, <unk>=0 <s>=1 </s>=2).
if [ ! -s "$MODELS/tokenizer.model" ]; then
  command -v spm_train >/dev/null || { echo "needs Debian's sentencepiece (apt-get install sentencepiece)"; exit 1; }
  spm_train --input="$OUT/kjv.txt" --model_prefix="$OUT/tokenizer" --model_type=bpe --vocab_size="$VOCAB" \
            --byte_fallback=true --character_coverage=1.0 --num_threads=1 --unk_id=0 --bos_id=1 --eos_id=2 \
            --pad_id=-1 --normalization_rule_name=identity --remove_extra_whitespaces=false --split_digits=true \
            --allow_whitespace_only_pieces=true --minloglevel=2
  cp "$OUT/tokenizer.model" "$MODELS/tokenizer.model"
fi

# 3. The tool, built for this machine.
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMMFREE_MARCH="$MARCH" \
      -DMMFREE_BUILD_TESTS=OFF -DMMFREE_BUILD_BENCHMARKS=OFF > /dev/null
cmake --build "$BUILD" --target mmfree_cli -j"$THREADS"

# 4. Training: the paper's recipe (AdamW, warm-up, cosine, learning rate halved midway),
#    every verse a document starting with <s>, 2% of the verses held out (interleaved blocks).
"$BUILD/bin/mmfree" train --data "$OUT/kjv.txt" --tokenizer "$MODELS/tokenizer.model" -o "$OUT" --resume \
    --hidden "$HIDDEN" --layers "$LAYERS" --steps "$STEPS" --batch "$BATCH" --seq-len "$SEQ" \
    --lr "$LR" --warmup "$WARMUP" --min-lr-ratio 0.1 --halve-at 0.5 --weight-decay 0.1 --clip 1.0 \
    --valid-fraction 0.02 --eval-every 200 --save-every 100 --seed "$SEED" --threads "$THREADS"

# 5. The packed model file that `mmfree generate` uses by default.
if "$BUILD/bin/mmfree" convert --help >/dev/null 2>&1; then
  # 2-bit codes and bf16 embeddings: about 3 MB (the f32 embeddings would double it)
  "$BUILD/bin/mmfree" convert -m "$OUT/checkpoint" -o "$MODELS/model.mmfree" --packing i2 --embeddings bf16
  ls -l "$MODELS"
else
  echo "this mmfree has no 'convert' yet: the trained checkpoint is $OUT/checkpoint"
fi
