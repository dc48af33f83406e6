"""A tiny insightface-compatible model pack, built with torch and exported to ONNX.

The real packs cannot be downloaded here (and are non-commercial), so the
tests build a pack with the same input/output contract and load it through
insightface's own FaceAnalysis / model_zoo routing:

- ``det_tiny.onnx``: an SCRFD-style detector, input 1 x 3 x H x W (dynamic),
  nine outputs in SCRFD order (scores, box distances, keypoint distances for
  strides 8, 16, 32; two anchors per place), each (N, 1|4|10). It is rigged:
  it "finds" exactly one face, at the centre of its input, with the box
  `RIG_BOX` and the five ArcFace template landmarks, scaled from 112 x 112 to
  the input size. On a 112 x 112 ArcFace-aligned photo (insightface's
  Tom_Hanks_54745.png) its landmarks are therefore the template itself.
- ``rec_tiny.onnx``: an "ArcFace" recognizer, input N x 3 x 112 x 112, output
  N x 512: a fixed random projection of the image (same pixels, same vector).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)
RIG_BOX = (20.0, 25.0, 92.0, 110.0)  # in 112 x 112 units of the detector input
STRIDES = (8, 16, 32)


def build_pack(folder: Path) -> Path:
    """Export the two models into `folder` (created) and return it."""
    import torch
    from torch import nn

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    class TinyDetector(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("template", torch.from_numpy(TEMPLATE / 112.0))
            self.register_buffer("box", torch.tensor(RIG_BOX) / 112.0)

        def forward(self, image):
            scale_x = image.shape[3] * torch.ones(1)
            scale_y = image.shape[2] * torch.ones(1)
            scores, boxes, points = [], [], []
            for stride in STRIDES:
                grid = torch.nn.functional.avg_pool2d(image[:, :1], stride, stride)
                ones = torch.ones_like(grid)[0, 0]  # (h, w)
                cx = (torch.cumsum(ones, dim=1) - 1) * stride
                cy = (torch.cumsum(ones, dim=0) - 1) * stride
                cx = cx.reshape(-1, 1).repeat(1, 2).reshape(-1)  # two anchors per place
                cy = cy.reshape(-1, 1).repeat(1, 2).reshape(-1)
                near = (torch.abs(cx - scale_x / 2) <= stride / 2) & \
                       (torch.abs(cy - scale_y / 2) <= stride / 2)
                weight = 0.89 if stride == 32 else 0.0  # only the coarsest level fires
                scores.append((near.float() * weight + 0.01).reshape(-1, 1))
                x0, y0 = self.box[0] * scale_x, self.box[1] * scale_y
                x1, y1 = self.box[2] * scale_x, self.box[3] * scale_y
                boxes.append(torch.stack([cx - x0, cy - y0, x1 - cx, y1 - cy], dim=1) / stride)
                kps = []
                for k in range(5):
                    kps.append((self.template[k, 0] * scale_x - cx) / stride)
                    kps.append((self.template[k, 1] * scale_y - cy) / stride)
                points.append(torch.stack(kps, dim=1))
            return (*scores, *boxes, *points)

    class TinyRecognizer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            generator = torch.Generator().manual_seed(1234)
            self.pool = nn.AvgPool2d(4)
            self.project = nn.Linear(3 * 28 * 28, 512, bias=False)
            with torch.no_grad():
                self.project.weight.copy_(torch.randn(512, 3 * 28 * 28, generator=generator))

        def forward(self, image):
            return self.project(torch.flatten(self.pool(image), 1))

    with warnings.catch_warnings():  # the legacy exporter warns; onnxscript is not installed
        warnings.simplefilter("ignore")
        _export(torch, TinyDetector(), TinyRecognizer(), folder)
    return folder


def _export(torch, detector, recognizer, folder: Path) -> None:
    names = [f"score_{s}" for s in STRIDES] + [f"bbox_{s}" for s in STRIDES] + \
        [f"kps_{s}" for s in STRIDES]
    torch.onnx.export(
        detector.eval(), torch.zeros(1, 3, 640, 640), str(folder / "det_tiny.onnx"),
        input_names=["input.1"], output_names=names, opset_version=17, dynamo=False,
        dynamic_axes={"input.1": {2: "height", 3: "width"}, **{n: {0: "anchors_" + n.split("_")[1]} for n in names}})
    torch.onnx.export(
        recognizer.eval(), torch.zeros(1, 3, 112, 112), str(folder / "rec_tiny.onnx"),
        input_names=["input.1"], output_names=["embedding"], opset_version=17, dynamo=False,
        dynamic_axes={"input.1": {0: "None"}, "embedding": {0: "None"}})


def expected_box(image_side: float) -> tuple[float, float, float, float]:
    """Where the rigged detector puts the face in a square image of this side."""
    return tuple(v * image_side / 112.0 for v in RIG_BOX)
