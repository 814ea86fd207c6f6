package op

// Tensor is a tensor owned by a Backend: a host slice on the CPU, a storage
// buffer on the GPU. Shape is the logical shape (for example [C, H, W]).
type Tensor interface {
	Shape() []int
	Len() int
}

// Backend runs ops on tensors it owns. engine/cpu and engine/gpu implement it
// with launchers named after the op stems; engine/model runs every network on
// it. Optional tensors (a bias when !Bias) are passed as nil. Every method
// returns an error naming the op for a bad shape, a nil or foreign tensor, or a
// device failure, and never panics.
//
// Input-gradient methods take the output gradient dy (same shape as the
// forward's output) plus whatever the forward input or output they need, and
// return dL/dx for the op's input x.
type Backend interface {
	Name() string
	Upload(data []float32, shape ...int) (Tensor, error)
	Download(t Tensor) ([]float32, error)
	// Free releases t; using it afterwards is an error. Free(nil) is a no-op.
	Free(t Tensor)

	Conv2D(x, w, b Tensor, p Conv2D) (Tensor, error)
	Conv2DGradInput(dy, w Tensor, p Conv2D) (Tensor, error)
	DWConv(x, w, b Tensor, p DWConv) (Tensor, error)
	DWConvGradInput(dy, w Tensor, p DWConv) (Tensor, error)
	LayerNorm(x, gamma, beta Tensor, p LayerNorm) (Tensor, error)
	LayerNormGradInput(x, gamma, dy Tensor, p LayerNorm) (Tensor, error)
	BatchNorm(x, mean, variance, gamma, beta Tensor, p BatchNorm) (Tensor, error)
	BatchNormGradInput(dy, variance, gamma Tensor, p BatchNorm) (Tensor, error)
	Linear(x, w, b Tensor, p Linear) (Tensor, error)
	LinearGradInput(dy, w Tensor, p Linear) (Tensor, error)
	GELU(x Tensor, p Elementwise) (Tensor, error)
	GELUGradInput(x, dy Tensor, p Elementwise) (Tensor, error)
	ReLU(x Tensor, p Elementwise) (Tensor, error)
	ReLUGradInput(x, dy Tensor, p Elementwise) (Tensor, error)
	Add(a, b Tensor, p Elementwise) (Tensor, error)
	// AddGradInput returns dL/da (= dy; dL/db is the same tensor).
	AddGradInput(dy Tensor, p Elementwise) (Tensor, error)
	ScaleResidual(x, r, gamma Tensor, p ScaleResidual) (Tensor, error)
	// ScaleResidualGradInput returns dL/dr = γ[c]·dy (dL/dx is dy itself).
	ScaleResidualGradInput(dy, gamma Tensor, p ScaleResidual) (Tensor, error)
	AvgPool(x Tensor, p AvgPool) (Tensor, error)
	AvgPoolGradInput(dy Tensor, p AvgPool) (Tensor, error)
	Softmax(x Tensor, p Softmax) (Tensor, error)
	// SoftmaxGradInput takes the forward output y: dx = y ⊙ (dy − Σ y·dy).
	SoftmaxGradInput(y, dy Tensor, p Softmax) (Tensor, error)
}
