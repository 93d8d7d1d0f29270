"""hgdtgl: semi-supervised segmentation with a mean teacher and human gaze as a second teacher."""

__version__ = "0.1.0"
