"""Networks: the SSL4MIS 2D U-Net and the multi-scale gaze perception (MGP) heads."""

from hgdtgl.models.unet import UNet, build_model

__all__ = ["UNet", "build_model"]
