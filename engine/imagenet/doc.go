// Package imagenet holds the ImageNet-1K class names in the order of the
// official checkpoints' classifier heads (torchvision ImageFolder order, i.e.
// sorted WordNet IDs).
package imagenet

// TopK returns the indices of the k largest values of p, largest first; ties
// keep the lower index first.
func TopK(p []float32, k int) []int {
	if k > len(p) {
		k = len(p)
	}
	if k <= 0 {
		return nil
	}
	idx := make([]int, 0, k)
	for i, v := range p {
		pos := len(idx)
		for pos > 0 && v > p[idx[pos-1]] {
			pos--
		}
		if pos >= k {
			continue
		}
		if len(idx) < k {
			idx = append(idx, 0)
		}
		copy(idx[pos+1:], idx[pos:len(idx)-1])
		idx[pos] = i
	}
	return idx
}
