"""RepLKNet (DingXiaoH/RepLKNet-pytorch replknet.py, create_RepLKNet31B structure)
from SLAK.md §5.2, official key names: stem.{0..3}, stages.s.blocks.{2j: RepLKBlock,
2j+1: ConvFFN}, transitions.s.{0,1}, norm (BN), head. Every conv is bias-free and
sits in an nn.Sequential with children `conv`, `bn` (and `nonlinear` = ReLU).

RepLKBlock: out = x + pw2(ReLU(lkb_origin(h) + small_conv(h))), h = pw1(prelkb_bn(x))  (pw1 has ReLU)
ConvFFN:    out = x + pw2(GELU(pw1(preffn_bn(x))))
Note: state_dict order is not forward order (prelkb_bn is registered last).
"""
import torch
import torch.nn as nn

from layers import DropPath


def conv_bn(in_channels, out_channels, kernel_size, stride, padding, groups, dilation=1):
    result = nn.Sequential()
    result.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                                        dilation, groups, bias=False))
    result.add_module("bn", nn.BatchNorm2d(out_channels))
    return result


def conv_bn_relu(in_channels, out_channels, kernel_size, stride, padding, groups, dilation=1):
    result = conv_bn(in_channels, out_channels, kernel_size, stride, padding, groups, dilation)
    result.add_module("nonlinear", nn.ReLU())
    return result


class ReparamLargeKernelConv(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, groups, small_kernel,
                 small_kernel_merged=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.small_kernel = small_kernel
        if small_kernel_merged:
            raise NotImplementedError("lkb_reparam (merged) form is not part of the reference")
        self.lkb_origin = conv_bn(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups)
        if small_kernel is not None:
            assert small_kernel <= kernel_size
            self.small_conv = conv_bn(in_channels, out_channels, small_kernel, stride,
                                      small_kernel // 2, groups)

    def forward(self, inputs):
        out = self.lkb_origin(inputs)
        if hasattr(self, "small_conv"):
            out = out + self.small_conv(inputs)
        return out


class ConvFFN(nn.Module):
    def __init__(self, in_channels, internal_channels, out_channels, drop_path):
        super().__init__()
        self.drop_path = DropPath(drop_path)
        self.preffn_bn = nn.BatchNorm2d(in_channels)
        self.pw1 = conv_bn(in_channels, internal_channels, 1, 1, 0, groups=1)
        self.pw2 = conv_bn(internal_channels, out_channels, 1, 1, 0, groups=1)
        self.nonlinear = nn.GELU()

    def forward(self, x):
        out = self.preffn_bn(x)
        out = self.pw1(out)
        out = self.nonlinear(out)
        out = self.pw2(out)
        return x + self.drop_path(out)


class RepLKBlock(nn.Module):
    def __init__(self, in_channels, dw_channels, block_lk_size, small_kernel, drop_path,
                 small_kernel_merged=False):
        super().__init__()
        self.pw1 = conv_bn_relu(in_channels, dw_channels, 1, 1, 0, groups=1)
        self.pw2 = conv_bn(dw_channels, in_channels, 1, 1, 0, groups=1)
        self.large_kernel = ReparamLargeKernelConv(dw_channels, dw_channels, block_lk_size, 1,
                                                   dw_channels, small_kernel, small_kernel_merged)
        self.lk_nonlinear = nn.ReLU()
        self.prelkb_bn = nn.BatchNorm2d(in_channels)
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        out = self.prelkb_bn(x)
        out = self.pw1(out)
        out = self.large_kernel(out)
        out = self.lk_nonlinear(out)
        out = self.pw2(out)
        return x + self.drop_path(out)


class RepLKNetStage(nn.Module):
    def __init__(self, channels, num_blocks, stage_lk_size, drop_path, small_kernel, dw_ratio=1,
                 ffn_ratio=4, small_kernel_merged=False, norm_intermediate_features=False):
        super().__init__()
        blks = []
        for i in range(num_blocks):
            dp = drop_path[i] if isinstance(drop_path, list) else drop_path
            blks.append(RepLKBlock(channels, int(channels * dw_ratio), stage_lk_size, small_kernel, dp,
                                   small_kernel_merged))
            blks.append(ConvFFN(channels, int(channels * ffn_ratio), channels, dp))
        self.blocks = nn.ModuleList(blks)
        self.norm = nn.BatchNorm2d(channels) if norm_intermediate_features else nn.Identity()

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


class RepLKNet(nn.Module):
    def __init__(self, large_kernel_sizes, layers, channels, drop_path_rate, small_kernel, dw_ratio=1,
                 ffn_ratio=4, in_channels=3, num_classes=1000, small_kernel_merged=False):
        super().__init__()
        base_width = channels[0]
        self.num_stages = len(layers)
        self.stem = nn.ModuleList([
            conv_bn_relu(in_channels, base_width, 3, 2, 1, groups=1),
            conv_bn_relu(base_width, base_width, 3, 1, 1, groups=base_width),
            conv_bn_relu(base_width, base_width, 1, 1, 0, groups=1),
            conv_bn_relu(base_width, base_width, 3, 2, 1, groups=base_width)])
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, sum(layers))]
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for s in range(self.num_stages):
            self.stages.append(RepLKNetStage(channels[s], layers[s], large_kernel_sizes[s],
                                             dpr[sum(layers[:s]):sum(layers[:s + 1])], small_kernel,
                                             dw_ratio, ffn_ratio, small_kernel_merged))
            if s < self.num_stages - 1:
                self.transitions.append(nn.Sequential(
                    conv_bn_relu(channels[s], channels[s + 1], 1, 1, 0, groups=1),
                    conv_bn_relu(channels[s + 1], channels[s + 1], 3, 2, 1, groups=channels[s + 1])))
        self.norm = nn.BatchNorm2d(channels[-1])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels[-1], num_classes)

    def forward_stages(self, x):
        """Stage outputs before the next transition; the last is forward_features (ERF map, no norm)."""
        for stem_layer in self.stem:
            x = stem_layer(x)
        outs = []
        for s in range(self.num_stages):
            x = self.stages[s](x)
            outs.append(x)
            if s < self.num_stages - 1:
                x = self.transitions[s](x)
        return outs

    def forward_features(self, x):
        return self.forward_stages(x)[-1]

    def forward(self, x):
        x = self.forward_features(x)
        x = self.norm(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.head(x)


def create_RepLKNet31B(drop_path_rate=0.3, num_classes=1000):
    return RepLKNet([31, 29, 27, 13], [2, 2, 18, 2], [128, 256, 512, 1024], drop_path_rate, 5,
                    dw_ratio=1, ffn_ratio=4, num_classes=num_classes)


def replknet_tiny_config():
    return dict(large_kernel_sizes=[13, 11, 9, 7], layers=[1, 1, 2, 1], channels=[8, 12, 16, 24],
                small_kernel=5, dw_ratio=1, ffn_ratio=4, num_classes=10)
