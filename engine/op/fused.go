package op

// Fused ops, composed of the ops above, that a Backend may offer to save
// passes over memory. engine/model uses them for inference when the backend
// implements Fused (a type assertion) and the plain ops otherwise, and always
// the plain ops when it needs intermediates for a backward pass. engine/cpu
// implements them by composition, which is their reference.
type Fused interface {
	// LNLinearGELU is pw1 of a ConvNeXt/SLaK block:
	//	y = GELU(W · LayerNorm(x; γ, β) + b)       x [In, HW], W [Out, In], y [Out, HW]
	LNLinearGELU(x, gamma, beta, w, b Tensor, ln LayerNorm, lin Linear) (Tensor, error)
	// LinearScaleResidual is pw2 plus layer scale and residual:
	//	y[c,p] = x[c,p] + γ[c] · (Σ_i W[c,i] h[i,p] + b[c])   h [In, HW], W [Out, In], x [Out, HW]
	LinearScaleResidual(h, w, b, gamma, x Tensor, lin Linear) (Tensor, error)
	// DWConvSum is the sum of depthwise branches over the same input with the
	// same output shape, plus one (already summed) per-channel bias:
	//	y = Σ_k DWConv(x; ws[k], ps[k]) + bias      (SLaK's K×N + N×K + N×N, RepLKNet's K×K + 5×5)
	// Each ps[k] has Bias = false; bias may be nil.
	DWConvSum(x Tensor, ws []Tensor, bias Tensor, ps []DWConv) (Tensor, error)
}
