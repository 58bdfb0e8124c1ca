#!/usr/bin/env python3
"""weft's whole-model benchmark models (bench/bench_models.cpp) written again in PyTorch.

Each model has the layers, layer order, shapes, parameter names and parameter count of its weft
twin in models/*.h, so that bench/pytorch/step_bench.py times the same work that weft's
bench_models times. `build(name)` returns a ModelSpec: the model, the input shape of one example,
the batch size, the loss, and a factory for the optimizer(s) the benchmark uses.

    name               weft source                          input (one example)  batch  loss
    fashion_cnn        models/fashion_cnn.h                 1 x 28 x 28          512    CE
    fashion_resnet     models/fashion_resnet.h              1 x 28 x 28          128    CE
    shoes_simple       models/simple_cnn.h ("simple", 64px) 3 x 64 x 64           64    CE
    dcgan64            models/dcgan.h, dcgan_training.h     3 x 64 x 64 (real)   128    GAN
    pairs_stacked      models/pair_cnn.h                    2 photos 3x224x224    42    CE
    pairs_channels     models/pair_cnn.h                    2 photos 3x224x224    42    CE
    pairs_siamese      models/pair_cnn.h                    2 photos 3x224x224    42    CE
    clothing_resnet50  models/resnet.h (torchvision's)      3 x 224 x 224         32    CE
    apparel_cnn        models/apparel_cnn.h                 3 x 96 x 96           64    BCE
    fashion_vgg        models/fashion_vgg.h (make run's)    1 x 28 x 28          128    CE
    fashion_vgg_speedrun  models/fashion_vgg.h (the speedrun's, frozen whitening stem)
                                                            1 x 28 x 28          512    CE

Run it to print every model's parameter count beside the count weft's headers give:

    /usr/bin/python3 bench/pytorch/seed_models.py

torchvision is used for ResNet-50 when it can be imported; otherwise (Debian's python3-torch
comes without it) the hand-written ResNet below, with torchvision's parameter names, is used.
Initialisation follows weft's where it is cheap to do so; it does not affect the timings.
"""
import dataclasses
import inspect
import sys
from typing import Callable, Tuple

import torch
from torch import nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# models/fashion_cnn.h: the seed-004 Fashion-MNIST CNN.
# ---------------------------------------------------------------------------------------------


class FashionCnn(nn.Module):
    """Conv2d(1, F, 3) -> ReLU -> MaxPool 2 -> Flatten -> Dropout -> Linear(F*13*13, hidden)
    -> ReLU -> Linear(hidden, classes). Names: features.0.*, classifier.2.*, classifier.4.*"""

    def __init__(self, filters=64, dropout=0.3, hidden=32, classes=10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, filters, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                        nn.Linear(filters * 13 * 13, hidden), nn.ReLU(),
                                        nn.Linear(hidden, classes))

    def forward(self, images):
        return self.classifier(self.features(images))


# ---------------------------------------------------------------------------------------------
# models/fashion_vgg.h: make run's network and the speedrun's (also fashion_recipe.py's).
# ---------------------------------------------------------------------------------------------


class FashionVgg(nn.Module):
    """weft's models/fashion_vgg.h: [whiten] then per stage conv -> pool -> bn -> relu
    (+ more conv -> bn -> relu), global max, fc."""

    def __init__(self, widths, convs, whiten, classes=10):
        super().__init__()
        channels = 1
        self.whiten = nn.Conv2d(1, 8, 2) if whiten else None
        if whiten:
            self.whiten.weight.requires_grad_(False)
            self.whiten.bias.requires_grad_(False)
            channels = 8
        layers = []
        for width, count in zip(widths, convs):
            for i in range(count):
                layers.append(nn.Conv2d(channels, width, 3, padding=1, bias=False))
                if i == 0:
                    layers.append(nn.MaxPool2d(2))
                layers += [nn.BatchNorm2d(width), nn.ReLU()]
                channels = width
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, classes)

    def init_whitening(self, images, eps=5e-4):
        patches = images.unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 4)
        patches = patches.double()
        mean = patches.mean(0)
        cov = torch.cov(patches.T, correction=0)
        values, vectors = torch.linalg.eigh(cov)
        w = (vectors / torch.sqrt(values.clamp(min=0) + eps)).T  # row e: eigenvector e scaled
        weight = torch.cat([w, -w]).reshape(8, 1, 2, 2).float()
        bias = -(torch.cat([w, -w]) @ mean).float()
        self.whiten.weight.copy_(weight)
        self.whiten.bias.copy_(bias)

    def forward(self, x):
        if self.whiten is not None:
            x = F.relu(self.whiten(x))
        x = self.features(x)
        return self.fc(torch.amax(x, dim=(2, 3)))


# ---------------------------------------------------------------------------------------------
# models/resnet.h: torchvision's BasicBlock, Bottleneck and ResNet (v1.5), same names.
# ---------------------------------------------------------------------------------------------


def _conv(in_channels, out_channels, kernel, stride=1, padding=0):
    """A bias-free convolution initialised as torchvision's ResNet does."""
    layer = nn.Conv2d(in_channels, out_channels, kernel, stride, padding, bias=False)
    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    return layer


def _shortcut(in_planes, out_planes, stride):
    """torchvision's downsample: conv 1x1 with the block's stride, then BN; None = identity."""
    if stride == 1 and in_planes == out_planes:
        return None
    return nn.Sequential(_conv(in_planes, out_planes, 1, stride), nn.BatchNorm2d(out_planes))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = _conv(in_planes, planes, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv(planes, planes, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(in_planes, planes, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return F.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = _conv(in_planes, planes, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv(planes, planes, 3, stride, 1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv(planes, planes * 4, 1)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = _shortcut(in_planes, planes * 4, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return F.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet with weft's small_input option (conv1 3x3/1 and no max-pool)."""

    def __init__(self, block, blocks, in_channels=3, num_classes=1000, small_input=False):
        super().__init__()
        self.small_input = small_input
        self.conv1 = (_conv(in_channels, 64, 3, 1, 1) if small_input
                      else _conv(in_channels, 64, 7, 2, 3))
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_planes = 64
        for i, count in enumerate(blocks):
            planes = 64 << i
            layer = []
            for j in range(count):
                layer.append(block(in_planes, planes, 2 if (i > 0 and j == 0) else 1))
                in_planes = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, images):
        x = F.relu(self.bn1(self.conv1(images)))
        if not self.small_input:
            x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet50(num_classes, in_channels=3):
    """ResNet-50 at ImageNet-sized inputs: torchvision's own when importable, else ours."""
    try:
        import torchvision  # noqa: F401  (absent from Debian's python3-torch)
    except ImportError:
        return ResNet(Bottleneck, [3, 4, 6, 3], in_channels, num_classes)
    model = torchvision.models.resnet50(num_classes=num_classes)
    if in_channels != 3:
        model.conv1 = _conv(in_channels, 64, 7, 2, 3)
    return model


# ---------------------------------------------------------------------------------------------
# models/fashion_resnet.h: the "strong" Fashion-MNIST residual net (a narrow ResNet-14).
# ---------------------------------------------------------------------------------------------


class FashionResNet(nn.Module):
    """conv1 3x3 (1 -> 32) -> bn1 -> ReLU -> 3 layers of 2 BasicBlocks (32, 64, 128 planes;
    stride 2 in the first block of layers 2 and 3) -> global average pool -> Dropout -> fc."""

    def __init__(self, in_channels=1, classes=10, widths=(32, 64, 128), blocks=(2, 2, 2),
                 dropout=0.2):
        super().__init__()
        self.conv1 = _conv(in_channels, widths[0], 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(widths[0])
        in_planes = widths[0]
        for i, (planes, count) in enumerate(zip(widths, blocks)):
            layer = []
            for j in range(count):
                layer.append(BasicBlock(in_planes, planes, 2 if (i > 0 and j == 0) else 1))
                in_planes = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_planes, classes)

    def forward(self, images):
        x = F.relu(self.bn1(self.conv1(images)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))


# ---------------------------------------------------------------------------------------------
# models/simple_cnn.h: seed 002's simple CNN.
# ---------------------------------------------------------------------------------------------


class SimpleCnn(nn.Module):
    """Conv(in, 32, 3) -> ReLU -> MaxPool 2 -> Conv(32, 64, 3) -> ReLU -> MaxPool 2 -> Flatten
    -> Linear(64*h*w, 128) -> ReLU -> Linear(128, classes); h = ((side - 2) / 2 - 2) / 2."""

    def __init__(self, in_channels=1, side=28, filters1=32, filters2=64, hidden=128, classes=3):
        super().__init__()
        h = ((side - 2) // 2 - 2) // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, filters1, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(filters1, filters2, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(filters2 * h * h, hidden),
                                        nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, images):
        return self.classifier(self.features(images))


# ---------------------------------------------------------------------------------------------
# models/dcgan.h: the DCGAN generator and discriminator (PyTorch DCGAN example's names).
# ---------------------------------------------------------------------------------------------


def _dcgan_init(layers):
    for layer in layers:
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


class DcganGenerator(nn.Module):
    """noise [N, z] -> ConvT 4x4/1 -> (ngf * 2^(L-1)) x 4 x 4 -> BN -> ReLU, L-1 times ConvT 4x4/2
    (channels halve) -> BN -> ReLU, ConvT 4x4/2 -> image channels -> Tanh. No biases."""

    def __init__(self, image_size=64, channels=3, z_dim=100, features=64):
        super().__init__()
        stride2 = (image_size // 4).bit_length() - 1  # image_size = 4 * 2^L
        self.z_dim = z_dim
        width = features << (stride2 - 1)
        layers = [nn.ConvTranspose2d(z_dim, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width),
                  nn.ReLU()]
        for _ in range(1, stride2):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU()]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        _dcgan_init(self.main)

    def forward(self, noise):
        return self.main(noise.view(noise.shape[0], self.z_dim, 1, 1))


class DcganDiscriminator(nn.Module):
    """Conv 4x4/2 -> ndf -> LeakyReLU 0.2, L-1 times Conv 4x4/2 (channels double) -> BN ->
    LeakyReLU 0.2, Conv 4x4/1 (4x4 -> 1x1) -> one logit [N, 1]. No biases."""

    def __init__(self, image_size=64, channels=3, features=64):
        super().__init__()
        stride2 = (image_size // 4).bit_length() - 1
        width = features
        layers = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        for _ in range(1, stride2):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2)]
            width *= 2
        layers.append(nn.Conv2d(width, 1, 4, 1, 0, bias=False))
        self.main = nn.Sequential(*layers)
        _dcgan_init(self.main)

    def forward(self, images):
        return self.main(images).view(images.shape[0], 1)


class DcganPair(nn.Module):
    """models/dcgan_training.h's DcganPair: generator.* and discriminator.* in one module."""

    def __init__(self, image_size=64, channels=3, z_dim=100, features=64):
        super().__init__()
        self.z_dim = z_dim
        self.generator = DcganGenerator(image_size, channels, z_dim, features)
        self.discriminator = DcganDiscriminator(image_size, channels, features)


# ---------------------------------------------------------------------------------------------
# models/pair_cnn.h: seed 001's shoe-pair models.
# ---------------------------------------------------------------------------------------------


class ConvTrunk(nn.Module):
    """Four blocks conv k x k "same" -> [BN] -> ReLU -> MaxPool 2 with n, 2n, 4n, 8n channels,
    then Flatten -> fc1 -> [BN1d] -> ReLU. Names conv1..conv4, bn1..bn4, fc1, bn_fc1."""

    def __init__(self, in_channels, height, width, base_channels=4, kernel=5, hidden=100,
                 batch_norm=True):
        super().__init__()
        self.batch_norm = batch_norm
        channels = in_channels
        for i in range(4):
            out = base_channels << i
            setattr(self, f"conv{i + 1}", nn.Conv2d(channels, out, kernel, 1, kernel // 2))
            if batch_norm:
                setattr(self, f"bn{i + 1}", nn.BatchNorm2d(out))
            channels = out
        self.fc1 = nn.Linear(channels * (height // 16) * (width // 16), hidden)
        if batch_norm:
            self.bn_fc1 = nn.BatchNorm1d(hidden)

    def forward(self, x):
        for i in range(1, 5):
            x = getattr(self, f"conv{i}")(x)
            if self.batch_norm:
                x = getattr(self, f"bn{i}")(x)
            x = F.max_pool2d(F.relu(x), 2)
        x = self.fc1(torch.flatten(x, 1))
        if self.batch_norm:
            x = self.bn_fc1(x)
        return F.relu(x)


class PairCnn(ConvTrunk):
    """The stacked model (left photo above right: 3 x 2H x W, with BN) or the channel model
    (the two photos as 6 x H x W, no BN), then fc2 (hidden -> 2). forward(left, right)."""

    def __init__(self, stacked, photo_channels=3, height=224, width=224, hidden=100):
        super().__init__(photo_channels * (1 if stacked else 2), height * (2 if stacked else 1),
                         width, hidden=hidden, batch_norm=stacked)
        self.stacked = stacked
        self.fc2 = nn.Linear(hidden, 2)

    def forward(self, left, right):
        combined = torch.cat([left, right], dim=2 if self.stacked else 1)
        return self.fc2(super().forward(combined))


class SiameseNet(nn.Module):
    """One shared tower per photo, then head(concat(|a - b|, a * b)): Linear(2 hidden, 64) ->
    ReLU -> Linear(64, 2). Names tower.conv1.weight, ..., head.0.*, head.2.*"""

    def __init__(self, photo_channels=3, height=224, width=224, hidden=100, head_hidden=64):
        super().__init__()
        self.tower = ConvTrunk(photo_channels, height, width, hidden=hidden)
        self.head = nn.Sequential(nn.Linear(2 * hidden, head_hidden), nn.ReLU(),
                                  nn.Linear(head_hidden, 2))

    def forward(self, left, right):
        a, b = self.tower(left), self.tower(right)
        return self.head(torch.cat([torch.abs(a - b), a * b], dim=1))


# ---------------------------------------------------------------------------------------------
# models/apparel_cnn.h: seed 003's multi-label tagger (PyImageSearch's SmallerVGGNet).
# ---------------------------------------------------------------------------------------------


class KerasSameConv2d(nn.Conv2d):
    """Stride-1 conv with Keras "same" padding, computed as weft does: pad k/2 on every side and,
    for an even kernel, drop the first output row and column."""

    def __init__(self, in_channels, out_channels, kernel):
        super().__init__(in_channels, out_channels, kernel, 1, kernel // 2)
        self.crop = 1 if kernel % 2 == 0 else 0
        nn.init.kaiming_normal_(self.weight, nonlinearity="relu")  # he_normal, not truncated
        nn.init.zeros_(self.bias)

    def forward(self, x):
        y = super().forward(x)
        return y[:, :, self.crop:, self.crop:] if self.crop else y


def _keras_bn2d(channels):
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class ApparelCnn(nn.Module):
    """features.0-20 and classifier.0-5 exactly as the layout in models/apparel_cnn.h."""

    def __init__(self, in_channels=3, image_size=96, labels=7):
        super().__init__()
        side = image_size // 3 // 2 // 2
        self.features = nn.Sequential(
            KerasSameConv2d(in_channels, 32, 3), nn.ReLU(), _keras_bn2d(32),
            nn.MaxPool2d(3), nn.Dropout(0.25),
            KerasSameConv2d(32, 64, 3), nn.ReLU(), _keras_bn2d(64),
            KerasSameConv2d(64, 64, 3), nn.ReLU(), _keras_bn2d(64),
            nn.MaxPool2d(2), nn.Dropout(0.25),
            KerasSameConv2d(64, 128, 3), nn.ReLU(), _keras_bn2d(128),
            KerasSameConv2d(128, 128, 2), nn.ReLU(), _keras_bn2d(128),
            nn.MaxPool2d(2), nn.Dropout(0.25))
        dense = nn.Linear(128 * side * side, 1024)
        out = nn.Linear(1024, labels)
        for layer in (dense, out):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
        self.classifier = nn.Sequential(nn.Flatten(), dense, nn.ReLU(),
                                        nn.BatchNorm1d(1024, eps=1e-3, momentum=0.01),
                                        nn.Dropout(0.5), out)

    def forward(self, images):
        return self.classifier(self.features(images))


# ---------------------------------------------------------------------------------------------
# The benchmark table: what bench/bench_models.cpp runs for each model.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ModelSpec:
    """One benchmark model.

    model:          the nn.Module (for dcgan64 a DcganPair holding generator and discriminator)
    input_shape:    one example's input, without the batch axis; for the pair models one photo
                    (each example is two photos, passed as model(left, right)); for dcgan64 one
                    real image (the generator's input is noise [N, z_dim])
    batch:          examples per step (pairs for the pair models, real images for dcgan64)
    loss:           "cross_entropy" (int targets in [0, outputs)), "bce_with_logits" (0/1 float
                    targets [N, outputs]) or "gan" (dcgan_training.h's D step + G step)
    make_optimizer: model -> optimizer; for dcgan64 model -> (generator's, discriminator's).
                    Extra keyword arguments (e.g. capturable=True) go to every torch optimizer.
    outputs:        logits per example
    photos:         input tensors per example: 2 for the pair models, else 1
    weft_parameters: the trainable count weft's header gives, to check against
    """
    name: str
    model: nn.Module
    input_shape: Tuple[int, ...]
    batch: int
    loss: str
    make_optimizer: Callable
    outputs: int
    photos: int
    weft_parameters: int


def _accepted(optimizer_class, extra):
    """The keyword arguments in `extra` that this PyTorch's `optimizer_class` takes (SGD, for
    one, has no `capturable` before PyTorch 2.x and needs none: it keeps no step counter)."""
    accepted = inspect.signature(optimizer_class).parameters
    return {key: value for key, value in extra.items() if key in accepted}


def _adam(lr=1e-3, weight_decay=0.0, betas=(0.9, 0.999)):
    return lambda model, **extra: torch.optim.Adam(
        model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay,
        **_accepted(torch.optim.Adam, extra))


def _sgd_nesterov(model, **extra):
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                           weight_decay=5e-4, **_accepted(torch.optim.SGD, extra))


def recipe_param_groups(model, weight_decay):
    """weft-fashion-mnist's parameter groups: weight decay on the weight matrices and kernels
    only, frozen parameters (the whitening stem) left out."""
    trained = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in trained if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in trained if p.ndim <= 1], "weight_decay": 0.0}]


def _recipe_sgd(lr):
    """weft-fashion-mnist's SGD: Nesterov momentum 0.9, weight decay 5e-4 on weights only."""
    return lambda model, **extra: torch.optim.SGD(
        recipe_param_groups(model, 5e-4), lr=lr, momentum=0.9, nesterov=True,
        **_accepted(torch.optim.SGD, extra))


def _gan_adams(pair, **extra):
    """Radford et al.'s Adam (lr 2e-4, beta1 0.5) for each network: (generator's, D's)."""
    make = _adam(lr=2e-4, betas=(0.5, 0.999))
    return make(pair.generator, **extra), make(pair.discriminator, **extra)


MODEL_NAMES = ["fashion_cnn", "fashion_resnet", "shoes_simple", "dcgan64", "pairs_stacked",
               "pairs_channels", "pairs_siamese", "clothing_resnet50", "apparel_cnn",
               "fashion_vgg", "fashion_vgg_speedrun"]


def build(name):
    """The ModelSpec for one of MODEL_NAMES (a ValueError naming them for any other name)."""
    if name == "fashion_cnn":
        return ModelSpec(name, FashionCnn(64, 0.3, 32, 10), (1, 28, 28), 512, "cross_entropy",
                         _adam(), 10, 1, 64 * 10 + 64 * 13 * 13 * 32 + 32 + 32 * 10 + 10)
    if name == "fashion_resnet":
        return ModelSpec(name, FashionResNet(), (1, 28, 28), 128, "cross_entropy",
                         _sgd_nesterov, 10, 1, 696_042)
    if name == "shoes_simple":
        return ModelSpec(name, SimpleCnn(3, 64, classes=4), (3, 64, 64), 64, "cross_entropy",
                         _adam(), 4, 1, 896 + 18_496 + 64 * 14 * 14 * 128 + 128 + 128 * 4 + 4)
    if name == "dcgan64":
        return ModelSpec(name, DcganPair(64, 3, 100, 64), (3, 64, 64), 128, "gan", _gan_adams,
                         1, 1, 3_576_704 + 2_765_568)
    if name == "pairs_stacked":
        return ModelSpec(name, PairCnn(stacked=True), (3, 224, 224), 42, "cross_entropy",
                         _adam(weight_decay=1e-4), 2, 2, 1_272_182)
    if name == "pairs_channels":
        return ModelSpec(name, PairCnn(stacked=False), (3, 224, 224), 42, "cross_entropy",
                         _adam(weight_decay=1e-4), 2, 2, 644_962)
    if name == "pairs_siamese":
        return ModelSpec(name, SiameseNet(), (3, 224, 224), 42, "cross_entropy",
                         _adam(weight_decay=1e-4), 2, 2, 657_774)
    if name == "clothing_resnet50":
        # torchvision's 25,557,032 with 1000 classes, less fc 2048*1000+1000, plus 2048*3+3.
        return ModelSpec(name, resnet50(num_classes=3), (3, 224, 224), 32, "cross_entropy",
                         _adam(), 3, 1, 25_557_032 - 2_049_000 + 6_147)
    if name == "apparel_cnn":
        return ModelSpec(name, ApparelCnn(3, 96, 7), (3, 96, 96), 64, "bce_with_logits",
                         _adam(), 7, 1, 8_595_527)
    if name == "fashion_vgg":
        return ModelSpec(name, FashionVgg((32, 64, 128), (1, 1, 1), False), (1, 28, 28), 128,
                         "cross_entropy", _recipe_sgd(0.1), 10, 1, 94_186)
    if name == "fashion_vgg_speedrun":
        return ModelSpec(name, FashionVgg((64, 128, 256), (1, 2, 2), True), (1, 28, 28), 512,
                         "cross_entropy", _recipe_sgd(0.2), 10, 1, 1_114_762)
    raise ValueError(f"no model {name!r}; the models are {', '.join(MODEL_NAMES)}")


def trainable_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def main():
    mismatches = 0
    print(f"{'model':<20}{'PyTorch':>14}{'weft header':>14}")
    for name in MODEL_NAMES:
        spec = build(name)
        count = trainable_parameters(spec.model)
        note = "" if count == spec.weft_parameters else "   MISMATCH"
        mismatches += bool(note)
        print(f"{name:<20}{count:>14,}{spec.weft_parameters:>14,}{note}")
        if name == "dcgan64":
            print(f"{'  generator':<20}{trainable_parameters(spec.model.generator):>14,}"
                  f"{3_576_704:>14,}")
            print(f"{'  discriminator':<20}{trainable_parameters(spec.model.discriminator):>14,}"
                  f"{2_765_568:>14,}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
