"""Compact trainer for reasoning-driven generative multimodal embeddings (UME-R1 recipe).

Imports only torch, transformers, peft, pyarrow, fsspec, PIL (pillow), numpy, tokenizers, tqdm and
`umedata.format` (and tensorboard through torch.utils.tensorboard; tests/test_training_seam.py holds the exact
list), so it runs unchanged in a GPU image that has none of the data side installed. Its only input is a dataset
version directory (docs/interfaces.md).

    tiny.py       a tiny random-weight Qwen2-VL / Qwen2.5-VL + tokenizer + processor files, for tests and the demo
    model.py      load a Qwen2-VL-family folder, add the two embedding tokens, pool both embeddings
    video.py      frames -> one video input (pixel_values_videos, video_grid_thw) without torchvision
    data.py       read a version directory, render sides, collate (padded or packed), deterministic batch order
    losses.py     symmetric InfoNCE over ranks, per-side CE
    dist.py       process-group set-up and the few collectives the trainer needs
    checkpoint.py save / resume everything a step needs; export a loadable model folder
    setup.py      what both trainers set up around their loops: trainable model, DDP / FSDP2, optimiser, resume
    run_log.py    a trainer's run.json, metrics.jsonl, TensorBoard events and progress bar
    ids.py        content ids: the one checkpoint_id (rollout keys, embedding cache, GRPO's record)
    sft.py        the SFT stage (python -m training.sft)
    generation.py sampling backends (transformers, vLLM) with per-(side, sample) seeded streams
    rollout.py    K rollouts per distinct side of a version (python -m training.rollout)
    reward.py     r = r_format + rank x gap over a scoring pool
    score_rollouts.py  offline rewards of a rollout run in seeded pools (python -m training.score_rollouts)
    rl_losses.py  group advantages and the clipped GRPO surrogate with the k3 KL
    grpo.py       the GRPO stage (python -m training.grpo)
    embed_cache.py side embeddings cached per (checkpoint, settings, mode)
    evaluate.py   retrieval evaluation of both embeddings (python -m training.evaluate)
"""
