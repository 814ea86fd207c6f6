// remask_apply.wgsl: writes the re-masked weights: with t = state[0] (bits of the threshold) and
//   m = state[1] + 1 (ties to drop),
//     dst[i] = 0      if bits(|w[i]|) < t, or bits(|w[i]|) = t and rank(i) < m,
//     dst[i] = w[i]   otherwise,
//   rank(i) = #{ j < i : bits(|w[j]|) = t } = pre[block] + ties before i inside the block. Exactly
//   round(s·N) entries are dropped, the ties lowest index first. Values are copied as bits.
// Reference: engine/erf/kernel.go (MaskByMagnitude).
// Layout: w [N] u32 bits (the original), state [4] u32, pre [⌈N/256⌉] u32, dst [N] u32 bits.
// Dispatch: workgroup 256×1×1, one group per block of 256 entries b = wid.x + wid.y·num_workgroups.x,
//   one thread per entry; the block's tie flags sit in workgroup memory (1 KiB) and a tie counts
//   the flags below it (≤ 255 reads, only for entries equal to t).
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> pre: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;
@group(0) @binding(4) var<uniform> P: Params;

var<workgroup> tie: array<u32, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let blk = wid.x + wid.y * nwg.x;
  let i = blk * 256u + lid;
  let t = state[0];
  var raw = 0u;
  var bits = 0xffffffffu;
  if (i < P.n) {
    raw = w[i];
    bits = raw & 0x7fffffffu;
  }
  tie[lid] = select(0u, 1u, bits == t);
  workgroupBarrier();
  if (i >= P.n) { return; }
  var drop = bits < t;
  if (bits == t) {
    var r = pre[blk];
    for (var j = 0u; j < lid; j++) {
      r += tie[j];
    }
    drop = r < state[1] + 1u;
  }
  dst[i] = select(raw, 0u, drop);
}
