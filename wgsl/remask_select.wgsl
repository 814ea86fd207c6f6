// remask_select.wgsl: picks the digit of one radix-select pass: with k = state[1] (the 0-based rank
//   of the wanted magnitude among the entries still in play) and h = hist[base …] (base = 256·pass),
//     d = min{ d : k < h[0] + … + h[d] },  state[0] |= d << shift,  state[1] = k − (h[0] + … + h[d−1])
//   After the 4 passes (shift 24, 16, 8, 0) state[0] = bits of t, the (drop−1)-th smallest |w|, and
//   state[1] + 1 = drop − #{ |w| < t } = how many entries with |w| = t are dropped (lowest index first).
// Reference: engine/erf/kernel.go (kthBits: the same walk over a histogram).
// Layout: hist [4·256] u32, state [4] u32.
// Dispatch: 1×1×1 workgroup of 1 thread (256 bins, a serial walk is the simple exact form).
struct Params { shift: u32, base: u32 }

@group(0) @binding(0) var<storage, read> hist: array<u32>;
@group(0) @binding(1) var<storage, read_write> state: array<u32>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(1, 1, 1)
fn main() {
  var k = state[1];
  var d = 0u;
  loop {
    let h = hist[P.base + d];
    if (k < h || d == 255u) { break; }
    k -= h;
    d += 1u;
  }
  state[0] = state[0] | (d << P.shift);
  state[1] = k;
}
