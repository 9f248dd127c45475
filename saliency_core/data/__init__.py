"""Data sources: image files and folders, the bundled photos, the synthetic
ground-truth set, video files and the bundled video, loaded whole (``load_*``) or
streamed in batches (``*_stream``). Importing this package loads neither TensorFlow,
PyAV nor any image."""

from ..seeds import image_seed
from .array_stream import array_stream
from .bundled_video import BUNDLED_FPS, VideoClip, bundled_video_path, make_bundled_video
from .file_streams import folder_stream, list_file_stream
from .images import ImageDecodeError, ImageSet, ImageSkippedWarning, load_folder, load_image
from .photos import PHOTO_NAMES, load_photos, photos_stream
from .stream import Batch, ImageStream
from .synthetic import SHAPES, SyntheticSet, make_synthetic, permuted_labels
from .synthetic_cnn import load_synthetic_cnn, small_cnn, train_synthetic_cnn
from .synthetic_stream import synthetic_label, synthetic_stream
from .video import FrameChunk, VideoDecodeError, VideoFrames, iter_video, read_video, write_video

__all__ = [
    "BUNDLED_FPS",
    "Batch",
    "FrameChunk",
    "ImageDecodeError",
    "ImageSet",
    "ImageSkippedWarning",
    "ImageStream",
    "PHOTO_NAMES",
    "SHAPES",
    "SyntheticSet",
    "VideoClip",
    "VideoDecodeError",
    "VideoFrames",
    "array_stream",
    "bundled_video_path",
    "folder_stream",
    "image_seed",
    "iter_video",
    "list_file_stream",
    "load_folder",
    "load_image",
    "load_photos",
    "load_synthetic_cnn",
    "make_bundled_video",
    "make_synthetic",
    "permuted_labels",
    "photos_stream",
    "read_video",
    "small_cnn",
    "synthetic_label",
    "synthetic_stream",
    "train_synthetic_cnn",
    "write_video",
]
