"""umedata: data and training toolkit for reasoning-driven generative multimodal embeddings.

Importing the package imports nothing heavy: `import umedata.format` must work where only torch and transformers
are installed (a GPU training image).
"""

__version__ = "0.1.0"
