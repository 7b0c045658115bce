"""Case 3 of ../shared/parity, model part only: the first window of the test.py protocol (the rest of the protocol,
compositing and blending, belongs to the engine). Guards that the generator contract fits the pipeline."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from e2fgvi_core.models import build_generator
from tests.models.conftest import record_error


def test_first_window_prediction(parity_dir, fill_weights, attention_impl):
    case = np.load(parity_dir / "e2fgvi_hq_pipeline.npz")
    frames, masks = case["frames_uint8"], case["masks_uint8"]
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    dilated = np.stack([cv2.dilate((m > 0).astype(np.uint8), kernel, iterations=4) for m in masks])
    assert np.array_equal(dilated, case["masks_dilated_uint8"])

    neighbor_ids = [i for i in case["window_neighbor_ids"][0] if i >= 0]
    ref_ids = [i for i in case["window_ref_ids"][0] if i >= 0]
    ids = neighbor_ids + ref_ids
    imgs = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255) * 2 - 1
    holes = torch.from_numpy(dilated).float()[:, None]
    masked = (imgs[ids] * (1 - holes[ids]))[None]

    model = build_generator("e2fgvi_hq", attention_impl=attention_impl)
    fill_weights(model, int(case["weights_seed"]))
    with torch.inference_mode():
        pred, _ = model(masked, len(neighbor_ids))
    pred = pred[: len(neighbor_ids)]
    max_err, _ = record_error(
        f"3 e2fgvi_hq pipeline ({attention_impl})", "window0_pred", pred, case["window0_pred"], 1e-4
    )
    assert max_err <= 1e-4
