"""ResNet-50 in plain PyTorch, state-dict compatible with `torchvision.models.resnet50`.

torchvision is not a dependency: this module has the same layer names and shapes (`conv1`, `bn1`,
`layer1.0.conv1`, ..., `layer4.2.bn3`, `layer1.0.downsample.0/1`, `fc`), so a state dict saved from
torchvision (`torch.save(resnet50(weights=...).state_dict(), path)`, e.g. the ImageNet V1/V2 weights)
loads with `strict=True`. Weights come only from a local file; nothing is downloaded.

`ResNet50Extractor` (an `ImageVectorizer`, `lib/vectors.py`) turns a batch of uint8 RGB images into 2048-d
global-average-pooled features: resize to 224x224 (the whole logo, no crop), ImageNet mean/std normalisation,
eval mode.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dataprep_assets.lib.rgb import load_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """torchvision's ResNet-50 (v1.5: stride on the 3x3 convolution), same parameter names."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, stride=2)
        self.layer3 = self._make_layer(256, 6, stride=2)
        self.layer4 = self._make_layer(512, 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images -> (B, 2048) pooled features (everything but `fc`)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def save_random_weights(path: str | Path, seed: int = 0) -> Path:
    """Seeded random ResNet-50 weights in torchvision's state-dict layout (for tests and the offline demo:
    the pipeline runs end to end, the features carry no ImageNet knowledge). Written once, atomically."""
    path = Path(path)
    if path.is_file():
        return path
    from dataprep_assets.lib.storage import atomic_path

    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        state = ResNet50().state_dict()
    finally:
        torch.random.set_rng_state(generator_state)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_resnet50(weights_path: str | Path) -> ResNet50:
    """Build ResNet-50 and load a local torchvision-format state dict (strict); eval mode."""
    path = Path(weights_path)
    if not str(weights_path) or not path.is_file():
        raise FileNotFoundError(
            f"ResNet-50 weights file {str(weights_path)!r} not found: save torchvision's ImageNet state dict to a "
            "local file "
            "(`torch.save(torchvision.models.resnet50(weights='IMAGENET1K_V2').state_dict(), 'resnet50.pth')`) and set "
            "weights_path"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = ResNet50()
    model.load_state_dict(state, strict=True)
    return model.eval()


class ResNet50Extractor:
    name = "resnet50"
    parallel_decode = False
    version = "1"
    dim = 2048
    input_size = 224
    feature_names = [f"resnet50_pool_{i}" for i in range(2048)]

    def __init__(self, weights_path: str | Path, *, threads: int = 0, device: str = "cpu"):
        if threads > 0:
            torch.set_num_threads(threads)
        self.weights_path = str(weights_path)
        self.device = torch.device(device)
        self.model = load_resnet50(weights_path).to(self.device)
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        self._weights_sha = _weights_digest(self.model)

    def fingerprint(self) -> str:
        return json.dumps(
            {"name": self.name, "version": self.version, "input_size": self.input_size, "weights": self._weights_sha}
        )

    def load(self, path: str | os.PathLike) -> np.ndarray:
        return load_rgb(path, self.input_size)

    @torch.inference_mode()
    def encode(self, images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """A batch of `load`ed images (a list or a stacked (B, S, S, 3) uint8 array) -> (B, dim) float32."""
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        x = (x - self._mean) / self._std
        return self.model.features(x).float().cpu().numpy()


def _weights_digest(model: nn.Module) -> str:
    """A short hash of the loaded parameters, so a cache never mixes features from different weights."""
    import hashlib

    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
