"""Evaluation: video-completion scores (PSNR, SSIM, E_warp, hole detail, Frechet distance) and the I3D network behind VFID.

``completion`` is numpy + OpenCV only; ``i3d`` imports torch and is imported only when VFID is asked for.
"""

from e2fgvi_core.metrics.completion import (
    EWARP_FLOW_METHOD,
    PAPER_SSIM_WINDOW,
    WarpField,
    detail_energy,
    frechet_distance,
    ground_truth_warps,
    hole_detail,
    paper_psnr_ssim,
    psnr,
    ssim,
    ssim_map,
    to_u8,
    warping_error,
)

__all__ = [
    "EWARP_FLOW_METHOD",
    "PAPER_SSIM_WINDOW",
    "WarpField",
    "detail_energy",
    "frechet_distance",
    "ground_truth_warps",
    "hole_detail",
    "paper_psnr_ssim",
    "psnr",
    "ssim",
    "ssim_map",
    "to_u8",
    "warping_error",
]
