"""Measured evaluation, one harness for the three models.

- :mod:`~animelib.metrics.paired`: L1/PSNR/SSIM against the synthetic ground truth, and landmark error;
- :mod:`~animelib.metrics.quality`: the offline quality measures (C2ST, diversity, spectral distance, each with
  its real-vs-real floor), colourfulness, and the memorisation check (distance to the nearest training image);
- :mod:`~animelib.metrics.inception`: FID/KID (torchmetrics) with the standard Inception where its weights can be
  had, n/a where not;
- :mod:`~animelib.metrics.translation`: :func:`evaluate_translation`, all translation measures for one model on
  the same held-out inputs.

The public names of each are importable from here.
"""

from animelib.metrics.inception import (
    DOWNLOAD_TIMEOUT_S,
    INCEPTION_PATTERNS,
    INCEPTION_URL,
    NA,
    fid_kid,
    inception_available,
)
from animelib.metrics.paired import (
    landmark_error,
    paired_metrics,
    per_image_landmark_error,
    per_image_paired,
    roll_degrees,
)
from animelib.metrics.quality import (
    QUALITY_SIZE,
    c2st_accuracy,
    colourfulness,
    diversity_ratio,
    face_found,
    format_with_floor,
    mean_pairwise_distance,
    nearest_neighbour_distance,
    nearest_neighbours,
    quality_floors,
    quality_measures,
    radial_power_spectra,
    radial_power_spectrum,
    spectral_distance,
    spectrum_distance,
)
from animelib.metrics.translation import evaluate_translation

__all__ = [
    "DOWNLOAD_TIMEOUT_S", "INCEPTION_PATTERNS", "INCEPTION_URL", "NA", "QUALITY_SIZE", "c2st_accuracy",
    "colourfulness", "diversity_ratio", "evaluate_translation", "face_found", "fid_kid", "format_with_floor",
    "inception_available", "landmark_error", "mean_pairwise_distance", "nearest_neighbour_distance",
    "nearest_neighbours", "paired_metrics", "per_image_landmark_error", "per_image_paired", "quality_floors",
    "quality_measures", "radial_power_spectra", "radial_power_spectrum", "roll_degrees", "spectral_distance",
    "spectrum_distance",
]
