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
    sft.py        the SFT stage (python -m training.sft)
    evaluate.py   retrieval evaluation of both embeddings (python -m training.evaluate)
"""
