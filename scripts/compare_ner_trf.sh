#!/usr/bin/env bash
# crf_ner (configs/ner_trf.cfg) vs spaCy's built-in ner (configs/compare/ner_trf_spacy.cfg),
# both listening to the same transformer, trained one after the other with the same
# budget (steps, batches, optimiser, schedule, seed); then test scores and words/s
# (`spacy benchmark speed`, 30 batches of 64 documents: its minimum number of batches).
#
#   scripts/compare_ner_trf.sh MODEL_NAME_OR_DIR [STEPS]
#
# Environment: TRAIN, DEV, TEST (.spacy files; CoNLL-2003 English by default), TAG
# (names the outputs), GPU (-1 = CPU), PYTHON. Writes training/$TAG-{ner_trf,ner_trf_spacy},
# training/logs/$TAG-*.log and metrics/$TAG-*.json.
set -euo pipefail
MODEL=${1:?usage: scripts/compare_ner_trf.sh MODEL_NAME_OR_DIR [STEPS]}
STEPS=${2:-200}
TRAIN=${TRAIN:-corpus/conll/train/eng.spacy}
DEV=${DEV:-corpus/conll/testa/eng.spacy}
TEST=${TEST:-corpus/conll/testb/eng.spacy}
TAG=${TAG:-conll-minilm}
GPU=${GPU:--1}
PY=${PYTHON:-.venv/bin/python}
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1}
mkdir -p training/logs metrics

SAME_BUDGET=(
  --paths.train "$TRAIN" --paths.dev "$DEV" --paths.transformer_name "$MODEL"
  --training.max_steps "$STEPS" --training.eval_frequency "$((STEPS / 2))"
  --training.accumulate_gradient 1 --training.batcher.size 1000
  --training.optimizer.learn_rate.warmup_steps "$((STEPS / 10))"
  --training.optimizer.learn_rate.initial_rate 0.0001
  --system.seed 0 --gpu-id "$GPU"
)
RUNS=(ner_trf:configs/ner_trf.cfg ner_trf_spacy:configs/compare/ner_trf_spacy.cfg)

for run in "${RUNS[@]}"; do
  name=${run%%:*} config=${run#*:}
  start=$(date +%s)
  "$PY" -m spacy train "$config" --output "training/$TAG-$name" "${SAME_BUDGET[@]}" \
    > "training/logs/$TAG-$name.log" 2>&1
  echo "{\"config\": \"$config\", \"max_steps\": $STEPS, \"train_wall_s\": $(( $(date +%s) - start ))}" \
    > "metrics/$TAG-$name-train.json"
done
for run in "${RUNS[@]}"; do
  name=${run%%:*}
  "$PY" -m spacy benchmark accuracy "training/$TAG-$name/model-best" "$TEST" \
    --output "metrics/$TAG-$name-test.json" --gpu-id "$GPU"
done
for run in "${RUNS[@]}"; do
  name=${run%%:*}
  "$PY" scripts/save_output.py "metrics/$TAG-$name-speed.txt" "$PY" -m spacy benchmark speed \
    "training/$TAG-$name/model-best" "$TEST" --batch-size 64 --batches 30 --gpu-id "$GPU"
done
"$PY" scripts/summarize_comparison.py "$TAG" ner_trf ner_trf_spacy > "metrics/$TAG-ner_trf-comparison.json"
cat "metrics/$TAG-ner_trf-comparison.json"
