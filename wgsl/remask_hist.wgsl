// remask_hist.wgsl: one pass of the radix select that finds the drop-th smallest |w| (the
//   magnitude-pruning threshold t): over the entries whose magnitude bits agree with the digits
//   already chosen, hist[base + d] (base = 256·pass) += 1 with d = (bits(|w[i]|) >> shift) & 255, i.e.
//     hist[pass][d] = #{ i : bits(|w[i]|) & mask = state[0], ((bits(|w[i]|) >> shift) & 255) = d }
//   bits(|x|) = bitcast<u32>(x) & 0x7fffffff orders like |x| for every non-NaN x.
// Reference: engine/erf/kernel.go (MaskByMagnitude, kthBits: the same select with 2×16-bit digits).
// Layout: w [N] (f32 read as u32 bits), state [4] u32 (0: digits chosen so far, 1: rank left),
//   hist [4·256] u32 (one 256-bin region per pass, zeroed by the launcher).
// Dispatch: workgroup 256×1×1; group g = wid.x + wid.y·num_workgroups.x owns the 4096 entries
//   [4096g, 4096g + 4096), thread l the 16 entries 4096g + 256j + l (j = 0…15, coalesced); the
//   launcher splits ⌈N/4096⌉ groups over x and y. Each group counts into a workgroup histogram and
//   adds its non-zero bins to hist with one atomicAdd each (≤ 256 global atomics per 4096 entries;
//   16 entries per thread because lavapipe pays per workgroup and per barrier: 5.0 → 3.3 ms per
//   re-mask of a 499×47×5 tensor there, one entry per thread before).
struct Params { n: u32, shift: u32, mask: u32, base: u32 }

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> P: Params;

var<workgroup> lh: array<atomic<u32>, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  atomicStore(&lh[lid], 0u);
  workgroupBarrier();
  let first = (wid.x + wid.y * nwg.x) * 4096u + lid;
  let prefix = state[0];
  for (var j = 0u; j < 16u; j++) {
    let i = first + 256u * j;
    if (i < P.n) {
      let bits = w[i] & 0x7fffffffu;
      if ((bits & P.mask) == prefix) {
        atomicAdd(&lh[(bits >> P.shift) & 255u], 1u);
      }
    }
  }
  workgroupBarrier();
  let c = atomicLoad(&lh[lid]);
  if (c != 0u) {
    atomicAdd(&hist[P.base + lid], c);
  }
}
