"""animelib: anime avatars with GANs (DCGAN, CycleGAN, CartoonGAN), every figure of the report from code.

The package is kept import-light: submodules (``animelib.data``, ``animelib.models.dcgan``, ...) are
imported where they are used, so ``import animelib`` does not pull in torch, OpenCV or Jupyter.
"""

__version__ = "0.1.0"
