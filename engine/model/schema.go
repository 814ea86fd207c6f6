package model

import "fmt"

// Kind says what a state_dict entry is.
type Kind int

const (
	// Parameter is a learned float tensor (counted in the dense parameter count).
	Parameter Kind = iota
	// Buffer is a BatchNorm running_mean or running_var (float, not a parameter).
	Buffer
	// Counter is BatchNorm's num_batches_tracked (int64 scalar, shape []).
	Counter
)

// Entry is one key of a state_dict with its shape.
type Entry struct {
	Key   string
	Shape []int
	Kind  Kind
}

func (e Entry) numel() int {
	n := 1
	for _, d := range e.Shape {
		n *= d
	}
	return n
}

// schema builds an ordered key list; the order is PyTorch's registration
// order (a module's own parameters, then its buffers, then its children).
type schema struct {
	prefix  string
	entries []Entry
}

func (s *schema) add(kind Kind, key string, shape ...int) {
	s.entries = append(s.entries, Entry{Key: s.prefix + key, Shape: shape, Kind: kind})
}
func (s *schema) param(key string, shape ...int) { s.add(Parameter, key, shape...) }

// bn adds BatchNorm2d(c)'s five entries under key.
func (s *schema) bn(key string, c int) {
	s.param(key+".weight", c)
	s.param(key+".bias", c)
	s.add(Buffer, key+".running_mean", c)
	s.add(Buffer, key+".running_var", c)
	s.add(Counter, key+".num_batches_tracked")
}

// convBN adds conv_bn (a Sequential of a bias-free conv and a BatchNorm2d).
func (s *schema) convBN(key string, cout, cin, kh, kw int) {
	s.param(key+".conv.weight", cout, cin, kh, kw)
	s.bn(key+".bn", cout)
}

// Schema returns the official checkpoint state_dict of v (`ckpt['model']`),
// in order, with shapes: SLAK.md §2.2 (SLaK, Decom=True, bn=True, layer scale
// on), §5.1 (ConvNeXt), §5.2 (RepLKNet). BatchNorm buffers and
// num_batches_tracked are included.
func Schema(v Variant) []Entry {
	s := &schema{}
	switch v.Family {
	case SLaK, ConvNeXt:
		d := v.Dims
		s.param("downsample_layers.0.0.weight", d[0], 3, 4, 4)
		s.param("downsample_layers.0.0.bias", d[0])
		s.param("downsample_layers.0.1.weight", d[0])
		s.param("downsample_layers.0.1.bias", d[0])
		for i := 1; i < 4; i++ {
			p := fmt.Sprintf("downsample_layers.%d.", i)
			s.param(p+"0.weight", d[i-1])
			s.param(p+"0.bias", d[i-1])
			s.param(p+"1.weight", d[i], d[i-1], 2, 2)
			s.param(p+"1.bias", d[i])
		}
		for st := 0; st < 4; st++ {
			c, k, h := d[st], v.Kernels[st], v.FFNRatio*d[st]
			for j := 0; j < v.Depths[st]; j++ {
				s.prefix = fmt.Sprintf("stages.%d.%d.", st, j)
				s.param("gamma", c)
				if v.Family == SLaK {
					s.convBN("large_kernel.LoRA1", c, 1, k, v.N)
					s.convBN("large_kernel.LoRA2", c, 1, v.N, k)
					if v.N < k {
						s.convBN("large_kernel.small_conv", c, 1, v.N, v.N)
					}
				} else {
					s.param("dwconv.weight", c, 1, k, k)
					s.param("dwconv.bias", c)
				}
				s.param("norm.weight", c)
				s.param("norm.bias", c)
				s.param("pwconv1.weight", h, c)
				s.param("pwconv1.bias", h)
				s.param("pwconv2.weight", c, h)
				s.param("pwconv2.bias", c)
			}
		}
		s.prefix = ""
		s.param("norm.weight", d[3])
		s.param("norm.bias", d[3])
		s.param("head.weight", v.Classes, d[3])
		s.param("head.bias", v.Classes)
	case RepLKNet:
		d := v.Dims
		s.convBN("stem.0", d[0], 3, 3, 3)
		s.convBN("stem.1", d[0], 1, 3, 3)
		s.convBN("stem.2", d[0], d[0], 1, 1)
		s.convBN("stem.3", d[0], 1, 3, 3)
		for st := 0; st < 4; st++ {
			c, k, h := d[st], v.Kernels[st], v.FFNRatio*d[st]
			for j := 0; j < v.Depths[st]; j++ {
				// RepLKBlock: registration order pw1, pw2, large_kernel, prelkb_bn (§8).
				s.prefix = fmt.Sprintf("stages.%d.blocks.%d.", st, 2*j)
				s.convBN("pw1", c, c, 1, 1)
				s.convBN("pw2", c, c, 1, 1)
				s.convBN("large_kernel.lkb_origin", c, 1, k, k)
				s.convBN("large_kernel.small_conv", c, 1, v.N, v.N)
				s.bn("prelkb_bn", c)
				// ConvFFN: preffn_bn, pw1, pw2.
				s.prefix = fmt.Sprintf("stages.%d.blocks.%d.", st, 2*j+1)
				s.bn("preffn_bn", c)
				s.convBN("pw1", h, c, 1, 1)
				s.convBN("pw2", c, h, 1, 1)
			}
			s.prefix = ""
		}
		for st := 0; st < 3; st++ {
			s.convBN(fmt.Sprintf("transitions.%d.0", st), d[st+1], d[st], 1, 1)
			s.convBN(fmt.Sprintf("transitions.%d.1", st), d[st+1], 1, 3, 3)
		}
		s.bn("norm", d[3])
		s.param("head.weight", v.Classes, d[3])
		s.param("head.bias", v.Classes)
	}
	return s.entries
}

// ParamCount is the dense number of float parameters of the official model
// (Parameter entries only: no BN running statistics, no num_batches_tracked),
// the number `sum(p.numel() for p in model.parameters())` prints (SLaK#12).
func ParamCount(v Variant) int {
	n := 0
	for _, e := range Schema(v) {
		if e.Kind == Parameter {
			n += e.numel()
		}
	}
	return n
}

// DeployKeys returns the converted ("deploy") weights of v that Load expects,
// in order, with shapes. This is the one place the deploy layout is defined;
// weights files produced by Convert hold exactly these keys.
//
// SLaK: every official parameter except the LK branches' BatchNorms, which
// are folded into their convs, so each branch is
//
//	stages.s.j.large_kernel.{LoRA1,LoRA2,small_conv}.weight [C,1,KH,KW] and .bias [C]
//
// (the three branches stay decomposed; their biases are kept apart).
// ConvNeXt: identical to the official state_dict.
// RepLKNet: every conv-BN pair X.conv/X.bn becomes X.weight [Cout,Cin/g,KH,KW]
// and X.bias [Cout]; the standalone BNs (prelkb_bn, preffn_bn, the final norm)
// stay eval BatchNorms with weight, bias, running_mean, running_var.
// num_batches_tracked never appears.
func DeployKeys(v Variant) []Entry {
	var out []Entry
	official := Schema(v)
	for i := 0; i < len(official); i++ {
		e := official[i]
		if e.Kind == Counter {
			continue
		}
		if base, ok := convOf(e.Key); ok && v.Family != ConvNeXt {
			// A conv followed by its BN: conv.weight then bn.{weight,...}.
			out = append(out,
				Entry{Key: base + ".weight", Shape: e.Shape, Kind: Parameter},
				Entry{Key: base + ".bias", Shape: []int{e.Shape[0]}, Kind: Parameter})
			i += 5 // skip bn.weight, bn.bias, running_mean, running_var, num_batches_tracked
			continue
		}
		out = append(out, e)
	}
	return out
}

// convOf reports whether key is the conv of a conv_bn pair ("X.conv.weight")
// and returns X.
func convOf(key string) (string, bool) {
	const suf = ".conv.weight"
	if len(key) > len(suf) && key[len(key)-len(suf):] == suf {
		return key[:len(key)-len(suf)], true
	}
	return "", false
}
