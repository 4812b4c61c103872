"""Interactive widgets (ipywidgets): latent-space sliders for DCGAN, "translate your own photo" for CycleGAN.

Each widget is built by a function that returns it; the drawing is done by pure functions
(:func:`render_latent`, :func:`translate_photo`) that scripts and tests call directly.
"""

from __future__ import annotations

import html
import io
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from animelib.data.faces import center_crop, crop_face
from animelib.data.folders import DECODE_ERRORS, image_formats, to_rgb
from animelib.errors import AnimelibError, DataError
from animelib.models.dcgan import generate, noise, slerp
from animelib.utils import to_tensor_images, to_uint8_images


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes, enlarged ``scale`` times with nearest neighbour."""
    im = Image.fromarray(image)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def latent_directions(nz: int = 100, k: int = 5, mode: str = "pca", samples: int = 4096, seed: int = 0,
                      coordinates: list[int] | None = None) -> torch.Tensor:
    """(k, nz) unit directions: the first principal directions of many sampled z, or chosen coordinates."""
    if mode == "coordinates":
        coords = coordinates or list(range(k))
        return torch.eye(nz)[coords]
    if mode != "pca":
        raise ValueError(f"mode={mode!r} is not 'pca' or 'coordinates'")
    z = torch.randn(samples, nz, generator=torch.Generator().manual_seed(seed))
    _, _, v = torch.pca_lowrank(z, q=k, center=True)
    return v.T.contiguous()  # (k, nz)


def latent_vector(seed: int, offsets: list[float], directions: torch.Tensor, seed_b: int | None = None,
                  t: float = 0.0) -> torch.Tensor:
    """z(seed) moved along ``directions`` by ``offsets``, then slerped towards z(seed_b) by ``t``."""
    nz = directions.shape[1]
    z = noise(1, nz, seed)[0] + (torch.tensor(offsets, dtype=torch.float32)[:, None] * directions).sum(0)
    if seed_b is not None and t > 0:
        z = slerp(z[None], noise(1, nz, seed_b), t)[0]
    return z[None]  # (1, nz)


def render_latent(G, seed: int, offsets: list[float], directions: torch.Tensor, seed_b: int | None = None,
                  t: float = 0.0, scale: int = 4) -> bytes:
    """The generator's image for these slider values, as PNG bytes (pure: same values, same bytes)."""
    return png_bytes(generate(G, latent_vector(seed, offsets, directions, seed_b, t))[0], scale)


@dataclass
class LatentExplorer:
    """Sliders over a DCGAN generator's latent space; ``renders`` counts real redraws."""

    G: Any
    directions: torch.Tensor
    scale: int = 4
    source: str = ""  # the run the generator comes from, for the status line
    renders: int = 0
    widget: Any = None
    controls: dict[str, Any] = field(default_factory=dict)
    _last: tuple | None = None

    def values(self) -> tuple:
        c = self.controls
        return (c["seed"].value, tuple(s.value for s in c["directions"]), c["seed_b"].value, c["t"].value)

    def update(self, *_: Any) -> None:
        values = self.values()
        if values == self._last:  # same values: nothing to redraw
            return
        seed, offsets, seed_b, t = values
        self.controls["image"].value = render_latent(self.G, seed, list(offsets), self.directions, seed_b, t,
                                                     self.scale)
        self.controls["status"].value = status_line(seed, offsets, seed_b, t, self.source)
        self._last = values
        self.renders += 1


def status_line(seed: int, offsets, seed_b: int, t: float, source: str = "") -> str:
    """What the image shows, as one line of HTML: seed, moves along the directions, interpolation, the run."""
    moved = ", ".join(f"PC {i + 1} {v:+.1f}" for i, v in enumerate(offsets) if v)
    parts = [f"seed {seed}" + (f" moved by {moved}" if moved else "")]
    if t > 0:
        parts.append(f"{t:.0%} of the way to seed {seed_b}")
    if source:
        parts.append(f"generator of {html.escape(source)}")
    return "<small>" + " &middot; ".join(parts) + "</small>"


# Full labels need a description column wider than ipywidgets' default (about 80 px, which cuts them).
_LABEL_STYLE = {"description_width": "10em"}


def latent_explorer(G, k: int = 5, mode: str = "pca", seed: int = 0, seed_b: int = 1, scale: int = 4,
                    source: str = "") -> Any:
    """A widget: a seed, ``k`` sliders along latent directions, and a slider from this seed to another.

    ``source`` names the run the generator comes from (shown under the image). Returns an ``ipywidgets.HBox``
    whose ``.explorer`` is the :class:`LatentExplorer` behind it.
    """
    import ipywidgets as W  # imported with the widget: a heavy import that scripts using render_latent skip

    ex = LatentExplorer(G, latent_directions(G.nz, k, mode), scale, source)
    label, meaning = ("PC", "principal direction") if mode == "pca" else ("z", "noise coordinate")
    c = ex.controls
    wide = W.Layout(width="30em")
    c["seed"] = W.IntText(value=seed, description="seed", style=_LABEL_STYLE, layout=wide,
                          tooltip="which noise vector z to start from (any integer)")
    c["directions"] = [W.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.1, description=f"{label} {i + 1}",
                                     style=_LABEL_STYLE, layout=wide, continuous_update=True,
                                     tooltip=f"move z along its {meaning} number {i + 1} (in standard deviations)")
                       for i in range(k)]
    c["seed_b"] = W.IntText(value=seed_b, description="towards seed", style=_LABEL_STYLE, layout=wide,
                            tooltip="a second noise vector to interpolate towards")
    c["t"] = W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="interpolate", style=_LABEL_STYLE,
                           layout=wide, tooltip="0: the first seed (moved by the sliders), 1: the second seed; "
                           "spherical interpolation in between")
    c["image"] = W.Image(format="png", width=64 * scale, height=64 * scale)
    c["status"] = W.HTML()
    for w in [c["seed"], *c["directions"], c["seed_b"], c["t"]]:
        w.observe(ex.update, names="value")
    ex.update()
    box = W.HBox([W.VBox([c["image"], c["status"]]), W.VBox([c["seed"], *c["directions"], c["seed_b"], c["t"]])])
    box.explorer = ex
    ex.widget = box
    return box


# --- translate your own photo --------------------------------------------------------------------------
# Upload limits, checked before anything is decoded, whatever PIL.Image.MAX_IMAGE_PIXELS is set to elsewhere.
# A phone photo is a few MB and at most about 50 megapixels; the face crop needs a few hundred pixels across.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # 20 MB: larger files are refused unread beyond the limit
MAX_UPLOAD_PIXELS = 50_000_000  # width x height from the header; about 150 MB once decoded to RGB


def read_image(data: bytes | str | os.PathLike) -> np.ndarray:
    """Bytes or a path to (H, W, 3) uint8 RGB; anything unusable is a :class:`DataError` with a reason.

    Refused: empty files, files over ``MAX_UPLOAD_BYTES``, content no image format recognises (whatever the
    name says), images over ``MAX_UPLOAD_PIXELS`` (decompression bombs), truncated or corrupt images.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
    else:
        try:
            with open(data, "rb") as f:
                data = f.read(MAX_UPLOAD_BYTES + 1)  # never more than the limit (+1 byte, to tell it was over)
        except OSError as e:
            raise DataError(f"cannot read {data}: {e.strerror or e}") from None
    if not data:
        raise DataError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError(f"the file is too large (over {MAX_UPLOAD_BYTES // 2**20} MB, the upload limit)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=image_formats()) as im:
                if im.width * im.height > MAX_UPLOAD_PIXELS:
                    raise DataError(f"the image is too large ({im.width}x{im.height} pixels; at most "
                                    f"{MAX_UPLOAD_PIXELS / 1e6:.0f} megapixels)")
                im.load()  # decode everything now, so that truncation shows here
                return to_rgb(im)  # EXIF orientation, 16-bit, palette and transparency handled as for folders
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError("the image is too large (refused by PIL as a possible decompression bomb; at most "
                        f"{MAX_UPLOAD_PIXELS / 1e6:.0f} megapixels)") from None
    except UnidentifiedImageError:
        raise DataError("not a readable image: no image format recognises its content") from None
    except (*DECODE_ERRORS, MemoryError) as e:
        raise DataError(f"not a readable image: truncated or corrupt ({type(e).__name__}: {str(e)[:120]})") from None


def translate_photo(data: bytes | str | os.PathLike, G_A2B, G_B2A, size: int, crop: bool = True) -> dict[str, Any]:
    """Crop the face of a photo, translate it to anime and back.

    Returns ``{"input", "translation", "reconstruction"}`` as (size, size, 3) uint8, plus ``face_found``.
    """
    image = read_image(data)  # (H, W, 3) uint8, or a DataError saying why not
    found = False
    if crop:
        try:
            image, found = crop_face(image, "photo")
        except cv2.error:  # a detector choking on an odd image: keep the centre crop
            image = center_crop(image)
    else:
        image = center_crop(image)
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    dev = next(G_A2B.parameters()).device
    with torch.no_grad():
        x = to_tensor_images(image[None], dev)
        fake = G_A2B(x)
        rec = G_B2A(fake)
    return {"input": image, "translation": to_uint8_images(fake)[0], "reconstruction": to_uint8_images(rec)[0],
            "face_found": found}


def photo_translator(G_A2B, G_B2A, size: int, scale: int = 3) -> Any:
    """A widget: upload a photo, see its face, the anime translation and the reconstruction.

    Returns an ``ipywidgets.VBox``; ``.handle(name, data)`` runs one upload (used by tests too).
    """
    import ipywidgets as W  # imported with the widget: a heavy import that scripts using translate_photo skip

    upload = W.FileUpload(accept="image/*", multiple=False, description="photo")
    message = W.HTML(f"Upload a photo with a face (any common image format, up to {MAX_UPLOAD_BYTES // 2**20} MB).")
    images = [W.Image(format="png", width=size * scale, height=size * scale) for _ in range(3)]
    labels = [W.HTML(f"<b>{t}</b>") for t in ("input (face crop)", "G_A2B: anime", "G_B2A(G_A2B): back")]
    row = W.HBox([W.VBox([lab, im]) for lab, im in zip(labels, images, strict=True)])

    def handle(name: str, data: bytes) -> bool:
        # The file's name is shown (escaped: it is HTML) and never used as a path; nothing is written to disk.
        shown = html.escape(str(name))
        try:
            out = translate_photo(data, G_A2B, G_B2A, size)
        except AnimelibError as e:  # unusable image, no face detector: a message, not a traceback
            message.value = f"<span style='color:#b00'>Could not use {shown}: {html.escape(str(e))}</span>"
            return False
        for im, key in zip(images, ("input", "translation", "reconstruction"), strict=True):
            im.value = png_bytes(out[key], scale)
        found = "face found" if out["face_found"] else "no face found: centre crop"
        message.value = f"{shown}: {found}."
        return True

    def on_upload(change) -> None:
        for item in change["new"]:
            handle(item["name"], bytes(item["content"]))

    upload.observe(on_upload, names="value")
    box = W.VBox([upload, message, row])
    box.handle, box.message, box.images = handle, message, images
    return box
