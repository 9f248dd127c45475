"""Data sources: image files and folders, the bundled photos, and the synthetic
ground-truth set. Importing this package loads neither TensorFlow nor any image."""

from .images import ImageDecodeError, ImageSet, ImageSkippedWarning, load_folder, load_image
from .photos import PHOTO_NAMES, load_photos
from .synthetic import (SHAPES, SyntheticSet, load_synthetic_cnn, make_synthetic, permuted_labels,
                        small_cnn, train_synthetic_cnn)

__all__ = ["ImageDecodeError", "ImageSet", "ImageSkippedWarning", "PHOTO_NAMES", "SHAPES",
           "SyntheticSet", "load_folder", "load_image", "load_photos", "load_synthetic_cnn",
           "make_synthetic", "permuted_labels", "small_cnn", "train_synthetic_cnn"]
