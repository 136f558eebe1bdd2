#!/usr/bin/env bash
# #14's GPU figures in one prepared run, on a machine lent through this workplace's device tool
# (an H200 with 16 cores, Python 3.12 with PyTorch, no network). First, here:
#
#     bash bench/gpu_wheels.sh        # the packages that machine lacks, into .whl/ (~55 MB)
#
# then run(command="bash bench/gpu_run.sh", carry=[".whl"], timeout_s=540). It generates
# MINUTES (2) of 1080p H.264 there (a few minutes of Python rendering) and runs bench_index with
# MODEL (ViT-L-14, random weights, bf16) on CUDA: the encoder alone before and after, the
# pipeline with its busy time per stage, and the decoding side alone (what one file cannot be
# indexed faster than); then FILES (8) files of MINUTES in all, indexed one at a time and with
# PROCESSES (cores / 4) decoding at once (FILES=0 leaves this out). DECODE_PARTS=1 also splits
# the one file's decoding side into FFmpeg, cut detection and thumbnails (two more decoding
# runs). The output also lands in $OUT/bench_index_gpu.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp}/bench_index_gpu.txt
if [ -d .whl ]; then
    python3 -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv 2>&1
    echo "cores: $(nproc); python: $(python3 --version)"
    python3 -c "import torch, av; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'av', av.__version__)"
} 2>&1 | tee "$out"
python3 -m bench.bench_index --model "${MODEL:-ViT-L-14}" --device "${DEVICE:-cuda}" \
    --height "${HEIGHT:-1080}" --minutes "${MINUTES:-2}" --kinds ordinary --skip-naive \
    --ceiling-batches "${CEILING_BATCHES:-8}" ${DECODE_PARTS:+--decode-parts} 2>&1 | tee -a "$out"
if [ "${FILES:-8}" -gt 0 ]; then
    python3 -m bench.bench_index --model "${MODEL:-ViT-L-14}" --device "${DEVICE:-cuda}" \
        --height "${HEIGHT:-1080}" --minutes "${MINUTES:-2}" --files "${FILES:-8}" \
        --processes "${PROCESSES:-$(( $(nproc) / 4 > 1 ? $(nproc) / 4 : 2 ))}" 2>&1 | tee -a "$out"
fi
