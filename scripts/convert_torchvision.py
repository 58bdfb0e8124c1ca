#!/usr/bin/env python3
"""Save torchvision's ImageNet ResNet weights as safetensors files that weft loads as they are.

weft's models/resnet.h has torchvision's architecture and parameter names, so the state_dict is
written unchanged: conv1.weight, bn1.{weight,bias,running_mean,running_var,num_batches_tracked},
layer1.0.conv1.weight, ..., fc.weight, fc.bias (float32, OIHW; num_batches_tracked int64).

For users with torchvision and a network connection; weft itself never downloads anything, and
this script was not run on the machine weft was built on (no network there), so the weft-clothing
stand-in transfers from a backbone pretrained by weft instead (--pretrain-standin).

    pip install torch torchvision safetensors
    python3 scripts/convert_torchvision.py --model resnet50 --out resnet50-imagenet.safetensors
    build/weft-clothing --data /data/clothes --channels 3 --size 224 --model resnet50 \\
        --backbone resnet50-imagenet.safetensors --normalize imagenet --freeze-epochs 3

--backbone loads everything but fc (the 1000 ImageNet classes) into a model with a new head;
--weights would load the whole file into a 1000-class model. Images must be RGB (--channels 3)
and larger than 64 pixels (--size), so that weft builds torchvision's own 7x7 stem, whose conv1
the ImageNet weights fit.
"""
import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["resnet18", "resnet50"], default="resnet50")
    parser.add_argument("--out", help="output file (default: <model>-imagenet.safetensors)")
    args = parser.parse_args()

    try:
        import torchvision
        from safetensors.torch import save_file
    except ImportError as error:
        print(f"convert_torchvision.py: error: {error}; install torch, torchvision and "
              "safetensors", file=sys.stderr)
        return 1

    weights = {"resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
               "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V1}[args.model]
    model = getattr(torchvision.models, args.model)(weights=weights)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    out = args.out or f"{args.model}-imagenet.safetensors"
    save_file(state, out, metadata={"model": "ResNet", "source": f"torchvision {weights}"})
    print(f"wrote {out}: {len(state)} tensors ({weights})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
