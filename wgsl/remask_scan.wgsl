// remask_scan.wgsl: exclusive prefix sum of the per-block tie counts:
//   pre[b] = eq[0] + … + eq[b−1]  (the number of entries with |w| = t before block b).
// Reference: engine/erf/kernel.go (MaskByMagnitude's index-order tie loop).
// Layout: eq [B] u32, pre [B] u32, B = ⌈N/4096⌉ (241 for RepLKNet-31B's 1024×31×31).
// Dispatch: 1×1×1 workgroup of 1 thread (a serial scan of a few thousand counts).
struct Params { blocks: u32 }

@group(0) @binding(0) var<storage, read> eq: array<u32>;
@group(0) @binding(1) var<storage, read_write> pre: array<u32>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(1, 1, 1)
fn main() {
  var s = 0u;
  for (var b = 0u; b < P.blocks; b++) {
    pre[b] = s;
    s += eq[b];
  }
}
