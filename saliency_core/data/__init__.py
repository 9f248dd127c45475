"""Data sources: image files and folders, the bundled photos, and the synthetic
ground-truth set, loaded whole (``load_*``) or streamed in batches (``*_stream``).
Importing this package loads neither TensorFlow nor any image."""

from ..seeds import image_seed
from .array_stream import array_stream
from .file_streams import folder_stream, list_file_stream
from .images import ImageDecodeError, ImageSet, ImageSkippedWarning, load_folder, load_image
from .photos import PHOTO_NAMES, load_photos, photos_stream
from .stream import Batch, ImageStream
from .synthetic import (SHAPES, SyntheticSet, load_synthetic_cnn, make_synthetic, permuted_labels,
                        small_cnn, train_synthetic_cnn)
from .synthetic_stream import synthetic_label, synthetic_stream

__all__ = ["Batch", "ImageDecodeError", "ImageSet", "ImageSkippedWarning", "ImageStream",
           "PHOTO_NAMES", "SHAPES", "SyntheticSet", "array_stream", "folder_stream", "image_seed",
           "list_file_stream", "load_folder", "load_image", "load_photos", "load_synthetic_cnn",
           "make_synthetic", "permuted_labels", "photos_stream", "small_cnn", "synthetic_label",
           "synthetic_stream", "train_synthetic_cnn"]
