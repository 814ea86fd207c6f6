"""Shared layers of the PyTorch reference (SLAK.md §1.2, §5).

LayerNorm is the ConvNeXt/SLaK class: channels_last normalises the last axis
(as F.layer_norm does); channels_first normalises axis 1 of an NCHW tensor:

    u = mean_c x[:, c],  s = mean_c (x[:, c] - u)^2   (biased variance)
    y[:, c] = weight[c] * (x[:, c] - u) / sqrt(s + eps) + bias[c]

Its state_dict keys are `weight` and `bias`, as in the official models.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    def __init__(self, normalized_shape, eps=1e-6, data_format="channels_last"):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(normalized_shape))
        self.bias = nn.Parameter(torch.zeros(normalized_shape))
        self.eps = eps
        if data_format not in ("channels_last", "channels_first"):
            raise NotImplementedError(data_format)
        self.data_format = data_format
        self.normalized_shape = (normalized_shape,)

    def forward(self, x):
        if self.data_format == "channels_last":
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class DropPath(nn.Module):
    """Stochastic depth; the identity in eval mode, which is all the goldens use."""

    def __init__(self, p=0.0):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class StagesHeadMixin:
    """The forward of ConvNeXt's macro design, shared by ConvNeXt and SLaK (SLAK.md §1.2):
    downsample_layers[i] then stages[i] for i = 0..3, global average pool, `norm`, `head`."""

    def forward_stages(self, x):
        """The four stage outputs; the last is the map the ERF differentiates."""
        outs = []
        for i in range(4):
            x = self.downsample_layers[i](x)
            x = self.stages[i](x)
            outs.append(x)
        return outs

    def forward_features(self, x):
        x = self.forward_stages(x)[-1]
        return self.norm(x.mean([-2, -1]))  # global average pooling, (N, C, H, W) -> (N, C)

    def forward(self, x):
        return self.head(self.forward_features(x))
