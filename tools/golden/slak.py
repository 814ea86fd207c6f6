"""SLaK (Liu et al., ICLR 2023) written from /work/shared/SLAK.md §1 with the
official module and key names of VITA-Group/SLaK models/SLaK.py.

Differences from the official file, none of which changes a key or a result:
- the depthwise convolutions are plain nn.Conv2d with the per-axis "same"
  padding that the official DepthWiseConv2dImplicitGEMM derives from the filter
  shape: (K//2, N//2) for LoRA1 [C,1,K,N], (N//2, K//2) for LoRA2 [C,1,N,K],
  (N//2, N//2) for small_conv (SLAK.md §1.4, SLaK#15);
- BatchNorm2d instead of SyncBatchNorm (identical keys and eval formula).

Block (SLAK.md §1.3):
    y = LoRA1(x) + LoRA2(x) + small_conv(x)      each conv (bias False) + BN
    y = pwconv2(GELU(pwconv1(LN(y))))            channels_last, exact-erf GELU
    out = x + gamma * y
"""
import torch
import torch.nn as nn

from layers import DropPath, LayerNorm, StagesHeadMixin


def conv_bn(in_channels, out_channels, kernel_size, stride, padding, groups, dilation=1, bn=True):
    """nn.Sequential with children `conv` (bias-free) and `bn`, as the official conv_bn."""
    result = nn.Sequential()
    result.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                                        dilation, groups, bias=False))
    if bn:
        result.add_module("bn", nn.BatchNorm2d(out_channels))
    return result


class ReparamLargeKernelConv(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, groups, small_kernel,
                 small_kernel_merged=False, Decom=None, bn=True):
        super().__init__()
        self.kernel_size = kernel_size
        self.small_kernel = small_kernel
        self.Decom = Decom
        if small_kernel_merged:
            raise NotImplementedError("lkb_reparam (merged) form is not part of the reference")
        if self.Decom:
            self.LoRA1 = conv_bn(in_channels, out_channels, (kernel_size, small_kernel), stride,
                                 (kernel_size // 2, small_kernel // 2), groups, bn=bn)
            self.LoRA2 = conv_bn(in_channels, out_channels, (small_kernel, kernel_size), stride,
                                 (small_kernel // 2, kernel_size // 2), groups, bn=bn)
        else:
            self.lkb_origin = conv_bn(in_channels, out_channels, kernel_size, stride,
                                      kernel_size // 2, groups, bn=bn)
        if small_kernel is not None and small_kernel < kernel_size:
            self.small_conv = conv_bn(in_channels, out_channels, small_kernel, stride,
                                      small_kernel // 2, groups, bn=bn)

    def forward(self, inputs):
        if self.Decom:
            out = self.LoRA1(inputs) + self.LoRA2(inputs)
        else:
            out = self.lkb_origin(inputs)
        if hasattr(self, "small_conv"):
            out = out + self.small_conv(inputs)
        return out


class Block(nn.Module):
    def __init__(self, dim, drop_path=0.0, layer_scale_init_value=1e-6, kernel_size=(7, 7),
                 Decom=None, bn=True):
        super().__init__()
        self.large_kernel = ReparamLargeKernelConv(dim, dim, kernel_size[0], 1, dim, kernel_size[1],
                                                   small_kernel_merged=False, Decom=Decom, bn=bn)
        self.norm = LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = (nn.Parameter(layer_scale_init_value * torch.ones(dim))
                      if layer_scale_init_value > 0 else None)
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        inp = x
        x = self.large_kernel(x)
        x = x.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        x = self.norm(x)
        x = self.pwconv1(x)
        x = self.act(x)
        x = self.pwconv2(x)
        if self.gamma is not None:
            x = self.gamma * x
        x = x.permute(0, 3, 1, 2)
        return inp + self.drop_path(x)


class SLaK(StagesHeadMixin, nn.Module):
    def __init__(self, in_chans=3, num_classes=1000, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768),
                 drop_path_rate=0.0, layer_scale_init_value=1e-6, head_init_scale=1.0,
                 kernel_size=(51, 49, 47, 13, 5), width_factor=1.0, Decom=None, bn=True):
        super().__init__()
        dims = [int(x * width_factor) for x in dims]
        self.dims = dims
        self.kernel_size = list(kernel_size)
        self.downsample_layers = nn.ModuleList()
        self.downsample_layers.append(nn.Sequential(
            nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4),
            LayerNorm(dims[0], eps=1e-6, data_format="channels_first")))
        for i in range(3):
            self.downsample_layers.append(nn.Sequential(
                LayerNorm(dims[i], eps=1e-6, data_format="channels_first"),
                nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2)))
        self.stages = nn.ModuleList()
        dp_rates = [x.item() for x in torch.linspace(0, drop_path_rate, sum(depths))]
        cur = 0
        for i in range(4):
            self.stages.append(nn.Sequential(*[
                Block(dims[i], dp_rates[cur + j], layer_scale_init_value,
                      (kernel_size[i], kernel_size[-1]), Decom=Decom, bn=bn)
                for j in range(depths[i])]))
            cur += depths[i]
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)


def slak_tiny_config():
    """The tiny test configuration shared with engine/model (prompt: TINY TEST CONFIGURATIONS)."""
    return dict(depths=[1, 1, 2, 1], dims=[6, 10, 14, 20], width_factor=1.3,
                kernel_size=[13, 11, 9, 7, 5], num_classes=10, Decom=True)
