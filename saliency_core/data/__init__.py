"""Data sources: image files and folders, the bundled photos, the synthetic
ground-truth set, video files and the bundled video. Importing this package loads
neither TensorFlow, PyAV nor any image."""

from .bundled_video import BUNDLED_FPS, VideoClip, bundled_video_path, make_bundled_video
from .images import ImageDecodeError, ImageSet, ImageSkippedWarning, load_folder, load_image
from .photos import PHOTO_NAMES, load_photos
from .synthetic import (SHAPES, SyntheticSet, load_synthetic_cnn, make_synthetic, permuted_labels,
                        small_cnn, train_synthetic_cnn)
from .video import FrameChunk, VideoDecodeError, VideoFrames, iter_video, read_video, write_video

__all__ = ["BUNDLED_FPS", "FrameChunk", "ImageDecodeError", "ImageSet", "ImageSkippedWarning",
           "PHOTO_NAMES", "SHAPES", "SyntheticSet", "VideoClip", "VideoDecodeError", "VideoFrames",
           "bundled_video_path", "iter_video", "load_folder", "load_image", "load_photos",
           "load_synthetic_cnn", "make_bundled_video", "make_synthetic", "permuted_labels",
           "read_video", "small_cnn", "train_synthetic_cnn", "write_video"]
